"""SLiMS's catalogue and circulation tables: biblio, item, member and loan."""

from django.db import models

from config.library import LibraryModel
from metrics_cache.rollups.models import DayRollup, TallyRollup


class Biblio(LibraryModel):
    """One title."""

    biblio_id = models.AutoField(primary_key=True)
    title = models.TextField()
    isbn_issn = models.CharField(max_length=32, null=True, blank=True)
    publish_year = models.CharField(max_length=20, null=True, blank=True)
    image = models.CharField(max_length=100, null=True, blank=True)

    class Meta:
        managed = False
        db_table = "biblio"

    def __str__(self) -> str:
        return self.title


class Item(LibraryModel):
    """One physical copy of a title; item_code is its barcode."""

    item_id = models.AutoField(primary_key=True)
    # SLiMS keeps no foreign keys: an item may point at a deleted title.
    biblio = models.ForeignKey(
        Biblio,
        null=True,
        db_column="biblio_id",
        db_constraint=False,
        on_delete=models.DO_NOTHING,
        related_name="items",
    )
    item_code = models.CharField(max_length=20, null=True, unique=True)
    input_date = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "item"

    def __str__(self) -> str:
        return self.item_code or f"item {self.item_id}"


class Member(LibraryModel):
    """One library member; member_id is text (often a student number), not an integer."""

    member_id = models.CharField(max_length=20, primary_key=True)
    member_name = models.CharField(max_length=100)
    inst_name = models.CharField(max_length=100, null=True, blank=True)
    member_type_id = models.IntegerField(null=True)
    expire_date = models.DateField()

    class Meta:
        managed = False
        db_table = "member"

    def __str__(self) -> str:
        return self.member_name


class Loan(LibraryModel):
    """One loan of an item, dated by loan_date (a DATE; SLiMS ships no index on it)."""

    loan_id = models.AutoField(primary_key=True)
    item = models.ForeignKey(
        Item,
        null=True,
        to_field="item_code",
        db_column="item_code",
        db_constraint=False,
        on_delete=models.DO_NOTHING,
        related_name="loans",
    )
    member = models.ForeignKey(
        Member,
        null=True,
        db_column="member_id",
        db_constraint=False,
        on_delete=models.DO_NOTHING,
        related_name="loans",
    )
    loan_date = models.DateField()
    due_date = models.DateField()
    is_lent = models.IntegerField(default=0)
    is_return = models.IntegerField(default=0)
    return_date = models.DateField(null=True)
    input_date = models.DateTimeField(null=True)
    last_update = models.DateTimeField(null=True)

    class Meta:
        managed = False
        db_table = "loan"

    def __str__(self) -> str:
        return f"loan {self.loan_id}"


# --- Rollups: the service's own tables (managed, in `default`), folded from loan ----------
class LoanDay(DayRollup):
    """Loans per loan_date."""

    class Meta:
        constraints = [models.UniqueConstraint(fields=["generation", "day"], name="loan_day_once")]


class LoanTally(TallyRollup):
    """Loans of one title (key "t:" + biblio_id, the copy's title when the loan was folded) or
    by one borrower (key "b:" + the member id's collation key) in one bucket: a year, all time
    (titles), or a day of the current month or later. A copy moved to another title, or
    deleted, is caught up by the weekly verification."""

    # The member id as written on the latest loan in the bucket (borrowers).
    last_loan_id = models.BigIntegerField(null=True)
    code = models.CharField(max_length=20, null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "grain", "bucket", "key"], name="loan_tally_once"
            )
        ]
        # Rankings walk a bucket's running totals best first (rollups.reads.top_totals).
        indexes = [
            models.Index(
                fields=["generation", "grain", "bucket", "-total"], name="loan_tally_ranked"
            )
        ]
