"""The read-only router, method by method: SLiMS models to `library`, never written or migrated."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from books.models import Loan, Member
from config.library import LIBRARY_ALIAS, LibraryIsReadOnly, LibraryRouter
from metrics_cache.models import SnapshotRecord
from visitors.models import Visit

router = LibraryRouter()


def test_reads_of_slims_models_go_to_the_library_and_others_are_left_to_django():
    assert router.db_for_read(Visit) == "library"
    assert router.db_for_read(Loan) == "library"
    assert router.db_for_read(SnapshotRecord) is None
    assert router.db_for_read(User) is None


@pytest.mark.parametrize("model", [Visit, Loan, Member])
def test_writes_of_slims_models_raise_naming_the_table(model):
    with pytest.raises(LibraryIsReadOnly, match=model._meta.db_table):
        router.db_for_write(model)


def test_writes_of_the_services_own_models_are_left_to_django():
    assert router.db_for_write(SnapshotRecord) is None
    assert router.db_for_write(User) is None


def test_relations_only_within_one_side():
    assert router.allow_relation(Visit(), Loan()) is True
    assert router.allow_relation(Visit(), SnapshotRecord()) is False
    assert router.allow_relation(SnapshotRecord(), Member()) is False
    assert router.allow_relation(SnapshotRecord(), User()) is None


def test_nothing_is_ever_migrated_on_the_library_database():
    assert router.allow_migrate(LIBRARY_ALIAS, "metrics_cache") is False
    assert router.allow_migrate(LIBRARY_ALIAS, "visitors", model_name="visit") is False
    assert router.allow_migrate(LIBRARY_ALIAS, "auth", model_name="user", model=User) is False


def test_slims_models_are_never_migrated_anywhere_and_the_rest_is_left_to_django():
    assert router.allow_migrate("default", "visitors", model_name="visit", model=Visit) is False
    assert router.allow_migrate("default", "metrics_cache", model=SnapshotRecord) is None
    assert router.allow_migrate("default", "auth") is None
