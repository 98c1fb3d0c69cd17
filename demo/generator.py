"""Synthetic SLiMS data with a real library's rhythm: weekdays, opening hours and semesters.

Everything comes from one random.Random(seed), so the same seed and the same `now`
give the same rows. Rows are produced in batches of tuples, in insertion order, so
visitor_id grows with checkin_date as it does in SLiMS, apart from the occasional
manual entry made late (dated earlier than the rows around it).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate

from demo import lookups

FIRST_NAMES = """
Budi Siti Agus Dewi Rina Andi Putri Joko Sri Ahmad Nur Eko Wahyu Indah Rizki Fajar Ayu
Dian Bayu Intan Yusuf Lestari Hendra Maya Reza Tika Arif Wulan Dimas Citra Galih Nadia
Irfan Sekar Bambang Ratna Teguh Yuni Hadi Anisa Kurniawan Mega Fitri Rahmat Suci Dwi
Gede Made Komang Ketut Ni Kadek Ucok Butet Asep Euis Cecep Siti Maria Yohanes Stefanus
""".split()
LAST_NAMES = """
Santoso Wijaya Saputra Lestari Hidayat Nugroho Kusuma Pratama Siregar Nasution Harahap
Simanjuntak Sihombing Lubis Setiawan Gunawan Susanto Rahayu Wibowo Hakim Firmansyah
Permana Maulana Ramadhan Sulistyo Purnomo Hartono Sembiring Ginting Tarigan Manurung
Panjaitan Putra Putri Utami Handayani Kartika Anggraini Suryadi Prasetyo Halim Tanoto
""".split()
FACULTIES = (
    "Fakultas Ekonomi",
    "Fakultas Hukum",
    "Fakultas Teknik",
    "Fakultas Kedokteran",
    "Fakultas Ilmu Budaya",
    "Fakultas MIPA",
    "Fakultas Pertanian",
    "Fakultas Ilmu Sosial dan Politik",
    "Fakultas Keguruan dan Ilmu Pendidikan",
    "Pascasarjana",
)
GUEST_INSTITUTIONS = (
    "Umum",
    "SMA Negeri 1",
    "SMK Negeri 2",
    "Universitas Terbuka",
    "Politeknik Negeri",
    "Dinas Pendidikan",
    "Peneliti Tamu",
    None,
)
SUBJECTS = """
Ilmu Ekonomi Akuntansi Manajemen Hukum Perdata Hukum Pidana Pemrograman Python Basis
Data Jaringan Komputer Statistika Kalkulus Fisika Dasar Kimia Organik Biologi Sel
Anatomi Manusia Farmakologi Sosiologi Antropologi Sejarah Indonesia Sastra Jawa Bahasa
Indonesia Pendidikan Karakter Agronomi Ilmu Tanah Perpajakan Kewirausahaan Metodologi
Penelitian Filsafat Ilmu Psikologi Perkembangan Ilmu Politik Hubungan Internasional
Kesehatan Masyarakat Arsitektur
""".split()
TITLE_FORMS = (
    "Pengantar {a} {b}",
    "Dasar-Dasar {a} {b}",
    "{a} {b}: Teori dan Praktik",
    "Buku Ajar {a} {b}",
    "Panduan Lengkap {a} {b}",
    "{a} {b} untuk Pemula",
    "Kajian {a} {b} di Indonesia",
    "Metode {a} {b}",
)
ROOMS = ("LT1", "LT2", "REF", "SRL", None)

# Relative weights. Sunday is mostly closed; Saturday is half a day.
WEEKDAY_WEIGHT = (1.0, 1.05, 1.0, 0.95, 0.8, 0.45, 0.04)
# Indonesian academic year: semesters Feb-Jun and Aug/Sep-Dec, breaks in January and July.
MONTH_WEIGHT = (0.45, 0.9, 1.1, 1.15, 1.1, 0.75, 0.3, 0.8, 1.1, 1.15, 1.2, 0.7)
# Opening hours 07:00-20:00 with a morning and an after-lunch peak.
HOUR_WEIGHT = {
    7: 2, 8: 6, 9: 10, 10: 12, 11: 9, 12: 5, 13: 9, 14: 11, 15: 9, 16: 6, 17: 3, 18: 2, 19: 1,
}  # fmt: skip


@dataclass(frozen=True)
class DemoSize:
    visitors: int = 150_000
    members: int = 3_000
    titles: int = 4_000
    items: int = 10_000
    loans: int = 40_000
    years: int = 3

    def scaled(self, factor: float) -> DemoSize:
        """A smaller (or larger) library of the same age."""
        counts = {name: max(1, round(getattr(self, name) * factor))
                  for name in ("visitors", "members", "titles", "items", "loans")}  # fmt: skip
        return DemoSize(**counts, years=self.years)


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _zipf_cum_weights(n: int, exponent: float = 0.9) -> list[float]:
    return list(accumulate(1.0 / (rank**exponent) for rank in range(1, n + 1)))


class DemoLibrary:
    """Generates the five tables' rows; each generator yields lists of tuples in column order."""

    def __init__(self, size: DemoSize, *, seed: int, now: datetime):
        self.size = size
        self.now = now.replace(microsecond=0, tzinfo=None)
        self.rng = random.Random(seed)
        self.first_day = date(self.now.year - size.years + 1, 1, 1)
        self.members = self._make_members()
        self.item_codes: list[str] = []

    # --- members ---------------------------------------------------------------------------
    def _make_members(self) -> list[tuple]:
        rng = self.rng
        members = []
        for seq in range(self.size.members):
            year = rng.randint(self.now.year - 6, self.now.year)
            member_id = f"{year}{seq % 10:02d}{seq:05d}"
            faculty = FACULTIES[seq % len(FACULTIES)]
            members.append(
                (
                    member_id,
                    _name(rng),
                    rng.randint(0, 1),
                    rng.randint(1, 3),
                    faculty,
                    date(year, rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
                    date(year + 5, 12, 31).isoformat(),
                )
            )
        rng.shuffle(members)  # so popularity rank is not id order
        return members

    member_columns = (
        "member_id",
        "member_name",
        "gender",
        "member_type_id",
        "inst_name",
        "register_date",
        "expire_date",
    )

    def member_rows(self, batch: int) -> Iterator[list[tuple]]:
        # A few members have left the library since their visits and loans were recorded.
        kept = self.members[: max(1, int(len(self.members) * 0.99))]
        for start in range(0, len(kept), batch):
            yield kept[start : start + batch]

    # --- catalogue -------------------------------------------------------------------------
    biblio_columns = ("title", "isbn_issn", "publish_year", "image", "input_date", "classification")

    def biblio_rows(self, batch: int) -> Iterator[list[tuple]]:
        rng = self.rng
        rows = []
        for n in range(self.size.titles):
            a, b = rng.sample(SUBJECTS, 2)
            title = rng.choice(TITLE_FORMS).format(a=a, b=b)
            if n % 7 == 0:
                title += f" Edisi {rng.randint(2, 5)}"
            isbn = f"978-602-{rng.randint(1000, 9999)}-{rng.randint(10, 99)}-{rng.randint(0, 9)}"
            rows.append(
                (
                    title,
                    isbn if rng.random() < 0.8 else None,
                    str(rng.randint(1985, self.now.year)),
                    f"cover_{n + 1}.jpg" if rng.random() < 0.3 else None,
                    f"{self.first_day.isoformat()} 09:00:00",
                    lookups.classification(rng),
                )
            )
            if len(rows) == batch:
                yield rows
                rows = []
        if rows:
            yield rows

    item_columns = ("biblio_id", "item_code", "call_number", "inventory_code", "input_date",
                    "coll_type_id", "location_id")  # fmt: skip

    def item_rows(self, batch: int) -> Iterator[list[tuple]]:
        rng = self.rng
        titles = max(1, self.size.titles)
        rows = []
        for n in range(self.size.items):
            # Most copies belong to a title; a few point at titles weeded since (gone from biblio).
            biblio_id = (n % titles) + 1 if rng.random() > 0.005 else titles + rng.randint(1, 500)
            code = f"B{n + 1:07d}"
            self.item_codes.append(code)
            rows.append(
                (
                    biblio_id,
                    code,
                    f"{rng.randint(0, 999):03d} {rng.choice(LAST_NAMES)[:3].upper()}",
                    f"INV/{n + 1}",
                    f"{self.first_day.isoformat()} 10:00:00",
                    *lookups.copy_codes(rng),
                )
            )
            if len(rows) == batch:
                yield rows
                rows = []
        if rows:
            yield rows

    # --- circulation -----------------------------------------------------------------------
    loan_columns = (
        "item_code",
        "member_id",
        "loan_date",
        "due_date",
        "is_lent",
        "is_return",
        "return_date",
        "input_date",
        "last_update",
    )

    def loan_rows(self, batch: int) -> Iterator[list[tuple]]:
        rng = self.rng
        codes = self.item_codes or [f"B{n + 1:07d}" for n in range(self.size.items)]
        code_weights = _zipf_cum_weights(len(codes), 0.8)
        member_weights = _zipf_cum_weights(len(self.members), 0.7)
        today = self.now.date()
        rows = []
        for day, count in self._daily_counts(self.size.loans, include_today=True):
            picked_codes = rng.choices(codes, cum_weights=code_weights, k=count)
            picked_members = rng.choices(self.members, cum_weights=member_weights, k=count)
            for code, member in zip(picked_codes, picked_members, strict=True):
                roll = rng.random()
                if roll < 0.01:
                    code = f"X{rng.randint(1, 99999):07d}"  # the copy was deleted since
                member_id = member[0] if roll > 0.002 else None
                due = day + timedelta(days=7)
                returned = (today - day).days > 14 or rng.random() < 0.5
                return_day = min(day + timedelta(days=rng.randint(0, 14)), today)
                stamp = f"{day.isoformat()} {rng.randint(8, 16):02d}:{rng.randint(0, 59):02d}:00"
                rows.append(
                    (
                        code,
                        member_id,
                        day.isoformat(),
                        due.isoformat(),
                        0 if returned else 1,
                        1 if returned else 0,
                        return_day.isoformat() if returned else None,
                        stamp,
                        stamp,
                    )
                )
                if len(rows) >= batch:
                    yield rows
                    rows = []
        if rows:
            yield rows

    # --- visits ----------------------------------------------------------------------------
    visit_columns = ("member_id", "member_name", "institution", "room_code", "checkin_date")

    def visit_rows(self, batch: int) -> Iterator[list[tuple]]:
        rng = self.rng
        hours = list(HOUR_WEIGHT)
        hour_weights = list(accumulate(HOUR_WEIGHT.values()))
        member_weights = _zipf_cum_weights(len(self.members), 0.6)
        guests = [
            (_name(rng), rng.choice(GUEST_INSTITUTIONS))
            for _ in range(max(10, len(self.members) // 2))
        ]
        now_seconds = self.now.hour * 3600 + self.now.minute * 60 + self.now.second
        today = self.now.date()
        rows: list[tuple] = []
        for day, count in self._daily_counts(self.size.visitors, include_today=True):
            offsets = sorted(
                hour * 3600 + rng.randrange(3600)
                for hour in rng.choices(hours, cum_weights=hour_weights, k=count)
            )
            if day == today:
                offsets = [o for o in offsets if o <= now_seconds]
            prefix = day.isoformat()
            for offset in offsets:
                stamp = f"{prefix} {offset // 3600:02d}:{offset // 60 % 60:02d}:{offset % 60:02d}"
                if rng.random() < 0.0005:
                    # A manual entry typed in late: dated a day earlier than its neighbours.
                    stamp = f"{(day - timedelta(days=1)).isoformat()} 15:{rng.randint(10, 59)}:00"
                if rng.random() < 0.75:
                    member = rng.choices(self.members, cum_weights=member_weights)[0]
                    row = (member[0], member[1], member[4], rng.choice(ROOMS), stamp)
                else:
                    name, institution = rng.choice(guests)
                    blank = None if rng.random() < 0.6 else ""
                    row = (blank, name, institution, rng.choice(ROOMS), stamp)
                rows.append(row)
                if len(rows) >= batch:
                    yield rows
                    rows = []
        if rows:
            yield rows

    def _daily_counts(self, total: int, *, include_today: bool) -> Iterator[tuple[date, int]]:
        """Spreads `total` over the days from first_day to today by weekday, month and growth."""
        today = self.now.date()
        days = []
        day = self.first_day
        while day <= today:
            growth = 1.0 + 0.08 * (day.year - self.first_day.year)
            days.append((day, WEEKDAY_WEIGHT[day.weekday()] * MONTH_WEIGHT[day.month - 1] * growth))
            day += timedelta(days=1)
        if not include_today:
            days.pop()
        scale = total / sum(weight for _, weight in days)
        produced = 0
        for day, weight in days:
            expected = weight * scale * self.rng.uniform(0.85, 1.15)
            count = int(expected) + (1 if self.rng.random() < expected % 1 else 0)
            count = min(count, total - produced)
            produced += count
            yield day, count
