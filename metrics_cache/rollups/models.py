"""The rollups' own state (the watermark of each generation, the drift checks) and the abstract
shapes of every source's day and tally tables."""

from django.db import models


class RollupState(models.Model):
    """How far one generation of a SLiMS table's rollups has folded (the watermark).

    Every fold moves `last_id` with a compare-and-set in the same transaction as its rollup
    rows, so a row is folded exactly once and a crash mid-build resumes where it stopped.
    """

    source = models.CharField(max_length=16)  # visits | loans
    generation = models.PositiveIntegerField(default=1)
    live = models.BooleanField(default=False, help_text="the generation snapshots read")
    # The library database the rollups describe (config.library.library_fingerprint).
    library = models.CharField(max_length=16)
    last_id = models.BigIntegerField(default=0, help_text="highest primary key folded in")
    # The table's highest id when this generation started: the first build is over once
    # the watermark reaches it.
    build_target_id = models.BigIntegerField(default=0)
    built_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    rows_folded = models.BigIntegerField(default=0)
    longest_statement_ms = models.FloatField(default=0)
    # Which shape of rollup rows the generation holds (rollups.engine.FOLD_VERSION): a
    # generation folded by an older release is rebuilt, never read.
    fold_version = models.PositiveSmallIntegerField(default=1)
    # Bumped whenever rows dated before the day of their fold (late entries, imports) or a
    # recount change a closed day: the reports' caches are keyed by it.
    past_revision = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "generation"], name="rollup_state_once")
        ]
        ordering = ["source", "generation"]

    def __str__(self) -> str:
        return f"{self.source} #{self.generation}"

    @property
    def progress(self) -> float:
        if self.built_at is not None or not self.build_target_id:
            return 1.0
        return round(min(self.last_id / self.build_target_id, 1.0), 4)


class RollupVerification(models.Model):
    """One drift check: the rollups recomputed side by side and swapped in, with what differed."""

    source = models.CharField(max_length=16)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    watermark = models.BigIntegerField(default=0)
    rows_scanned = models.BigIntegerField(default=0)
    days_differing = models.PositiveIntegerField(default=0)
    tallies_differing = models.PositiveIntegerField(default=0)
    total_before = models.BigIntegerField(default=0, help_text="rows counted by the old rollups")
    total_after = models.BigIntegerField(default=0, help_text="rows counted by the new ones")
    # A few of the differences, for the admin: [{"day": ..., "before": n, "after": n}, ...]
    examples = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, default="running")  # running | swapped | failed

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.source} verification {self.started_at:%Y-%m-%d %H:%M}"


class DayRollup(models.Model):
    """Rows of one source per local day, and the id range of the rows counted (an exact recount
    of a day reads only that primary-key range)."""

    generation = models.PositiveIntegerField()
    day = models.DateField()
    total = models.PositiveIntegerField(default=0)
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    # Rows were folded into the day (or what they are grouped by changed) since its reports'
    # breakdowns were last counted (metrics_cache.reports.breakdowns).
    breakdowns_stale = models.BooleanField(default=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.day}: {self.total}"


class BreakdownRollup(models.Model):
    """A source's rows of one local day under one value of one dimension (a member type, a
    collection type, ...), as the reports group them: counted again from the day's facts
    whenever the day is stale. `value` is "" for none, else "=" + the value."""

    generation = models.PositiveIntegerField()
    day = models.DateField()
    dimension = models.CharField(max_length=16)
    value = models.CharField(max_length=24)
    total = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.day} {self.dimension}{self.value}: {self.total}"


class TallyRollup(models.Model):
    """Rows of one source under one key (a visitor, a title, a borrower) in one bucket
    (metrics_cache.rollups.tallies): its total, then the details of its latest row."""

    generation = models.PositiveIntegerField()
    grain = models.CharField(max_length=1)  # D | M | Y | A
    bucket = models.DateField()
    key = models.CharField(max_length=42)
    total = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.key} {self.grain}{self.bucket}: {self.total}"
