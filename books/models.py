"""SLiMS's catalogue and circulation tables: biblio, item, member and loan."""

from django.db import models

from config.library import LibraryModel
from metrics_cache.rollups.models import BreakdownRollup, DayRollup, TallyRollup


class Biblio(LibraryModel):
    """One title."""

    biblio_id = models.AutoField(primary_key=True)
    title = models.TextField()
    isbn_issn = models.CharField(max_length=32, null=True, blank=True)
    publish_year = models.CharField(max_length=20, null=True, blank=True)
    classification = models.CharField(max_length=40, null=True, blank=True)
    image = models.CharField(max_length=100, null=True, blank=True)
    input_date = models.DateTimeField(null=True)

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
    coll_type_id = models.IntegerField(null=True)
    location_id = models.CharField(max_length=3, null=True, blank=True)
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
    member_since_date = models.DateField(null=True)
    register_date = models.DateField(null=True)
    input_date = models.DateField(null=True)
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


# --- Small lookup tables (reports only): the names of member types, collection types and
# locations; the service keeps its own copy (metrics_cache.reports.lookups).
class MemberType(LibraryModel):
    # Read only for the reports' names: a SLiMS without it still serves everything else.
    reports_only = True

    member_type_id = models.IntegerField(primary_key=True)
    member_type_name = models.CharField(max_length=50)

    class Meta:
        managed = False
        db_table = "mst_member_type"

    def __str__(self) -> str:
        return self.member_type_name


class CollectionType(LibraryModel):
    # Read only for the reports' names: a SLiMS without it still serves everything else.
    reports_only = True

    coll_type_id = models.IntegerField(primary_key=True)
    coll_type_name = models.CharField(max_length=30)

    class Meta:
        managed = False
        db_table = "mst_coll_type"

    def __str__(self) -> str:
        return self.coll_type_name


class Location(LibraryModel):
    # Read only for the reports' names: a SLiMS without it still serves everything else.
    reports_only = True

    location_id = models.CharField(max_length=3, primary_key=True)
    location_name = models.CharField(max_length=100, null=True)

    class Meta:
        managed = False
        db_table = "mst_location"

    def __str__(self) -> str:
        return self.location_name or self.location_id


# --- The service's copies of the big tables' few columns the reports group by (managed, in
# `default`), refreshed in primary-key chunks (metrics_cache.reports.copies). Keys are the
# library collation's digests (rollups.tallies.key_digest), as the loans' facts carry them.
class MemberCopy(models.Model):
    member_key = models.CharField(max_length=40, primary_key=True)
    member_id = models.CharField(max_length=20)
    member_type_id = models.IntegerField(null=True)
    # register_date, else member_since_date, else input_date (the annual figures).
    registered = models.DateField(null=True)
    expire_date = models.DateField(null=True)
    round = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.member_id


class BiblioCopy(models.Model):
    biblio_id = models.IntegerField(primary_key=True)
    # The Dewey main class ("200"), or None for a classification that is not a Dewey number.
    dewey_class = models.CharField(max_length=3, null=True)  # None: not a Dewey number
    input_date = models.DateTimeField(null=True)
    round = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"biblio {self.biblio_id}"


class ItemCopy(models.Model):
    # The collation key of item_code ("id:" + item_id for a copy without a barcode, which no
    # loan can name).
    item_key = models.CharField(max_length=40, primary_key=True)
    item_id = models.IntegerField()
    biblio = models.ForeignKey(
        BiblioCopy, null=True, db_constraint=False, on_delete=models.DO_NOTHING, related_name="+"
    )
    coll_type_id = models.IntegerField(null=True)
    location_id = models.CharField(max_length=3, null=True)  # SLiMS NULLs
    input_date = models.DateTimeField(null=True)
    round = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"item {self.item_id}"


class LoanFact(models.Model):
    """One folded loan: its date, and the keys of its copy and borrower (None without one), so
    that reports group loans by what the copy, its title and the member are now."""

    generation = models.PositiveIntegerField()
    loan_id = models.BigIntegerField()
    day = models.DateField()
    # No index on the keys: every fold writes one fact per loan, and only the copies' rare
    # changes look facts up by key (metrics_cache.reports.breakdowns.mark_changed).
    item = models.ForeignKey(
        ItemCopy, null=True, db_column="item_key", db_constraint=False, db_index=False,
        on_delete=models.DO_NOTHING, related_name="+",
    )  # fmt: skip
    member = models.ForeignKey(
        MemberCopy, null=True, db_column="member_key", db_constraint=False, db_index=False,
        on_delete=models.DO_NOTHING, related_name="+",
    )  # fmt: skip

    class Meta:
        # One index, which the groupings' recount reads by day.
        constraints = [
            models.UniqueConstraint(fields=["generation", "day", "loan_id"], name="loan_fact_once")
        ]

    def __str__(self) -> str:
        return f"loan {self.loan_id} on {self.day}"


class OpenLoan(models.Model):
    """A folded loan still on loan (or returned today, `returned_on`): the set the circulation
    figures re-read by primary key (books.circulation)."""

    generation = models.PositiveIntegerField()
    loan_id = models.BigIntegerField()
    due_date = models.DateField()
    returned_on = models.DateField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["generation", "loan_id"], name="open_loan_once")
        ]

    def __str__(self) -> str:
        return f"loan {self.loan_id} due {self.due_date}"


class LoanBreakdown(BreakdownRollup):
    """Loans per loan_date by what their member, copy and title are now (metrics_cache.reports)."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "day", "dimension", "value"], name="loan_breakdown_once"
            )
        ]
        indexes = [
            models.Index(fields=["generation", "dimension", "day"], name="loan_breakdown_read")
        ]
