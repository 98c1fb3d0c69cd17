"""The demo library's small tables of names (the reports show them) and the codes its copies,
titles and members carry."""

from __future__ import annotations

import random

# The kiosks' rooms; "SRL" has no row (a room removed since), as real libraries have.
ROOM_ROWS = (("Lantai 1", "LT1"), ("Lantai 2", "LT2"), ("Ruang Referensi", "REF"))
ROOM_COLUMNS = ("name", "unique_code")
MEMBER_TYPE_ROWS = ((1, "Mahasiswa"), (2, "Dosen"), (3, "Staf"))
MEMBER_TYPE_COLUMNS = ("member_type_id", "member_type_name")
COLL_TYPE_ROWS = ((1, "Buku Teks"), (2, "Referensi"), (3, "Fiksi"), (4, "Majalah"))
COLL_TYPE_COLUMNS = ("coll_type_id", "coll_type_name")
LOCATION_ROWS = (("PUS", "Perpustakaan Pusat"), ("FEK", "Ruang Baca Ekonomi"), ("FTK", None))
LOCATION_COLUMNS = ("location_id", "location_name")

TABLES = (
    ("mst_visitor_room", ROOM_COLUMNS, ROOM_ROWS),
    ("mst_member_type", MEMBER_TYPE_COLUMNS, MEMBER_TYPE_ROWS),
    ("mst_coll_type", COLL_TYPE_COLUMNS, COLL_TYPE_ROWS),
    ("mst_location", LOCATION_COLUMNS, LOCATION_ROWS),
)

# Dewey classes weighted as an Indonesian university library's shelves; the rest is what
# catalogues really hold: fiction marked FIC, reference numbers, nothing at all.
DEWEY_WEIGHTS = {"0": 3, "1": 3, "2": 6, "3": 25, "4": 4, "5": 12, "6": 20, "7": 4, "8": 8, "9": 5}
UNCLASSIFIED = ("FIC", "R 001", "", None)


def classification(rng: random.Random) -> str | None:
    if rng.random() < 0.08:
        return rng.choice(UNCLASSIFIED)
    digit = rng.choices(list(DEWEY_WEIGHTS), weights=list(DEWEY_WEIGHTS.values()))[0]
    if digit == "2" and rng.random() < 0.4:
        return f"2X{rng.randint(1, 9)}.{rng.randint(1, 9)}"  # the Islamic-studies expansion
    return f"{digit}{rng.randint(0, 99):02d}.{rng.randint(1, 999)}"


def copy_codes(rng: random.Random) -> tuple[int | None, str | None]:
    """A copy's collection type and location (a few without, a few with codes gone)."""
    coll_type = rng.choices((1, 2, 3, 4, 9, None), weights=(50, 15, 20, 10, 1, 2))[0]
    location = rng.choices(("PUS", "FEK", "FTK", None), weights=(60, 25, 12, 3))[0]
    return coll_type, location
