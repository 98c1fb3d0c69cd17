"""The read-only router, method by method: SLiMS models to `library`, never written or migrated."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from books.models import Loan, Member
from config.libraries import Library
from config.library import (
    LIBRARY_ALIAS,
    LibraryIsReadOnly,
    LibraryRouter,
    library_fingerprint,
)
from metrics_cache.snapshots.models import SnapshotRecord
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


def test_relations_are_judged_on_both_objects_in_either_order():
    assert router.allow_relation(Loan(), Visit()) is True
    assert router.allow_relation(Member(), Member()) is True
    assert router.allow_relation(Member(), User()) is False
    assert router.allow_relation(User(), SnapshotRecord()) is None


DATABASE = {"ENGINE": "django.db.backends.mysql", "HOST": "db.kampus", "PORT": 3306,
            "NAME": "slims", "USER": "dashboard", "PASSWORD": "x"}  # fmt: skip


# Only library_fingerprint reads the copy; the open connections keep their own settings.
only_read = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


def fingerprint(settings, **changes):
    settings.DATABASES = {**settings.DATABASES, LIBRARY_ALIAS: {**DATABASE, **changes}}
    return library_fingerprint()


@only_read
def test_the_library_fingerprint_names_the_engine_host_and_database(settings):
    first = fingerprint(settings)
    assert len(first) == 8 and int(first, 16) >= 0, "eight hex digits, in every Redis key"
    assert fingerprint(settings) == first, "the same database, the same fingerprint"
    others = {
        fingerprint(settings, ENGINE="django.db.backends.sqlite3"),
        fingerprint(settings, HOST="db2.kampus"),
        fingerprint(settings, HOST=""),
        fingerprint(settings, NAME="slims_cabang"),
        fingerprint(settings, NAME="slims", HOST="db.kampus2"),
    }
    assert first not in others and len(others) == 5


@only_read
def test_the_port_and_the_credentials_do_not_change_the_fingerprint(settings):
    # A proxy in front of MariaDB, or a new password, is still the same library.
    first = fingerprint(settings)
    assert fingerprint(settings, PORT=6033) == first
    assert fingerprint(settings, USER="other", PASSWORD="y") == first


@only_read
def test_the_file_s_other_libraries_on_servers_differing_by_port_are_apart(settings):
    """Two MariaDB servers on one host, each with a database `slims`: the deployment's
    library keeps the fingerprint it had alone, each other library's names its slug too."""
    home_library = settings.LIBRARIES[0]
    others = [
        Library(
            slug,
            slug,
            {},
            "Asia/Jakarta",
            "direct",
            alias=f"library-{slug}",
            service_alias=f"service-{slug}",
        )
        for slug in ("cabang-1", "cabang-2")
    ]
    alone = fingerprint(settings)
    settings.DATABASES = {
        **settings.DATABASES,
        "library-cabang-1": {**DATABASE, "PORT": 3307},
        "library-cabang-2": {**DATABASE, "PORT": 3308},
    }
    settings.LIBRARIES = [home_library, *others]
    prints = [library_fingerprint(library) for library in (home_library, *others)]
    assert prints[0] == alone and len(set(prints)) == 3
    assert [library_fingerprint(library) for library in others] == prints[1:], "stable"


@only_read
def test_a_missing_host_is_the_same_as_an_empty_one(settings):
    without_host = {key: value for key, value in DATABASE.items() if key != "HOST"}
    settings.DATABASES = {**settings.DATABASES, LIBRARY_ALIAS: without_host}
    assert (
        library_fingerprint() == fingerprint(settings, HOST="") == fingerprint(settings, HOST=None)
    )
