"""The files made from a report's JSON: every column header and title in English and
Indonesian, the sheet's layout (title, bold headers, numbers as numbers, an empty cell for a
null), the CSV's rows for the annual figures without a year before and for the circulation."""

from __future__ import annotations

import csv
import io
import tempfile

import openpyxl
import pytest
from django.utils import translation

from metrics_cache.reports.annual import LABELS
from metrics_cache.reports.formats import as_csv, as_xlsx, headers, title

# Every column a report can have: (name, English, Indonesian).
COLUMNS = [
    ("date", "Date", "Tanggal"),
    ("week", "Week", "Minggu"),
    ("from", "From", "Dari"),
    ("to", "To", "Sampai"),
    ("month", "Month", "Bulan"),
    ("year", "Year", "Tahun"),
    ("hour", "Hour", "Jam"),
    ("weekday", "Weekday", "Hari"),
    ("room_code", "Room code", "Kode ruang"),
    ("room_name", "Room", "Ruang"),
    ("audience", "Visitors", "Pengunjung"),
    ("total", "Total", "Total"),
    ("previous", "A year earlier", "Setahun sebelumnya"),
    ("member_type_id", "Member type", "Jenis anggota"),
    ("member_type_name", "Member type name", "Nama jenis anggota"),
    ("coll_type_id", "Collection type", "Jenis koleksi"),
    ("coll_type_name", "Collection type name", "Nama jenis koleksi"),
    ("location_id", "Location", "Lokasi"),
    ("location_name", "Location name", "Nama lokasi"),
    ("class", "Class", "Kelas"),
    ("key", "Key", "Kunci"),
    ("label", "Figure", "Angka"),
    ("value", "Value", "Nilai"),
]

GENERATED = "2026-12-05T11:00:00.000+07:00"


def by_room() -> dict:
    return {
        "report": "visits",
        "by": "room",
        "period": {"from": "2026-11-01", "to": "2026-11-30"},
        "generated_at": GENERATED,
        "data": [
            {"room_code": None, "room_name": None, "total": 3, "previous": 1},
            {"room_code": "R1", "room_name": "Reading room", "total": 2, "previous": None},
        ],
    }


def annual(*, previous: bool) -> dict:
    data = {key: 1 for key in LABELS}
    data["visits_by_month"] = [{"month": m, "total": m} for m in range(1, 13)]
    data["loans_by_month"] = [{"month": m, "total": 0} for m in range(1, 13)]
    body = {"report": "annual", "year": 2025, "generated_at": GENERATED, "data": data}
    if previous:
        body["previous"] = {**data, "visits": 7}
    return body


@pytest.mark.parametrize("language", ["en", "id"])
def test_every_column_has_a_header_in_english_and_indonesian(language):
    names = [name for name, _, _ in COLUMNS]
    want = [english if language == "en" else indonesian for _, english, indonesian in COLUMNS]
    with translation.override(language):
        assert headers(names) == want
    assert headers(["unknown"]) == ["unknown"]


@pytest.mark.parametrize(
    ("report", "english", "indonesian"),
    [
        ("visits", "Visits", "Kunjungan"),
        ("loans", "Loans", "Peminjaman"),
        ("annual", "Annual figures", "Angka tahunan"),
        ("circulation", "Circulation", "Sirkulasi"),
        ("other", "other", "other"),
    ],
)
def test_the_title_names_the_library_the_report_its_period_and_when(report, english, indonesian):
    with_period = {"report": report, "generated_at": GENERATED,
                   "period": {"from": "2026-11-01", "to": "2026-11-30"}}  # fmt: skip
    without = {"report": report, "generated_at": GENERATED}
    with translation.override("en"):
        assert title(with_period, "Perpus") == (
            f"Perpus · {english} · 2026-11-01 to 2026-11-30 · generated {GENERATED}"
        )
        assert title(without, "Perpus") == f"Perpus · {english} · generated {GENERATED}"
    with translation.override("id"):
        assert title(with_period, "Perpus") == (
            f"Perpus · {indonesian} · 2026-11-01 s.d. 2026-11-30 · dibuat {GENERATED}"
        )
        assert title(without, "Perpus") == f"Perpus · {indonesian} · dibuat {GENERATED}"


def test_the_sheet_has_its_title_bold_headers_and_an_empty_cell_for_a_null():
    with translation.override("en"):
        book = openpyxl.load_workbook(io.BytesIO(as_xlsx(by_room(), "Perpus Kota")))
    sheet = book.active
    assert book.properties.title == sheet["A1"].value == title(by_room(), "Perpus Kota")
    assert sheet["A1"].font.b and all(cell.font.b for cell in sheet[3])
    assert not sheet["A4"].font.b
    assert [c.value for c in sheet[3]] == ["Room code", "Room", "Total", "A year earlier"]
    # A null leaves its cell empty and the rest of the row written.
    assert [c.value for c in sheet[4]] == [None, None, 3, 1]
    assert [c.value for c in sheet[5]] == ["R1", "Reading room", 2, None]


def test_the_sheet_is_made_in_memory_without_a_temporary_file(monkeypatch, tmp_path):
    # A container whose temporary directory cannot be written still gets its files.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "absent"))
    book = openpyxl.load_workbook(io.BytesIO(as_xlsx(by_room(), "Perpus")))
    assert book.active["C4"].value == 3


def test_a_csv_null_is_an_empty_field_and_lines_end_as_excel_writes_them():
    content = as_csv(by_room())
    assert content.count(b"\r\n") == 3 and b"\n" not in content.replace(b"\r\n", b"")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows == [
        ["room_code", "room_name", "total", "previous"],
        ["", "", "3", "1"],
        ["R1", "Reading room", "2", ""],
    ]


def test_the_annual_csv_without_the_year_before_has_three_columns():
    rows = list(csv.reader(io.StringIO(as_csv(annual(previous=False)).decode("utf-8-sig"))))
    assert rows[0] == ["key", "label", "value"]
    assert rows[1] == ["visits", "Visits", "1"]
    assert ["visits_by_month_12", "Visits by month: 12", "12"] in rows
    assert len(rows) == 1 + len(LABELS) - 2 + 24


def test_the_annual_csv_with_the_year_before():
    rows = list(csv.reader(io.StringIO(as_csv(annual(previous=True)).decode("utf-8-sig"))))
    assert rows[0] == ["key", "label", "value", "previous"]
    assert rows[1] == ["visits", "Visits", "1", "7"]
    assert ["loans_by_month_02", "Loans by month: 02", "0", "0"] in rows


def test_the_circulation_csv_has_a_row_per_figure_and_overdue_band():
    body = {
        "report": "circulation",
        "generated_at": GENERATED,
        "on_loan": 9,
        "overdue": 4,
        "overdue_by_days": [{"from": 1, "to": 7, "total": 3}, {"from": 8, "to": None, "total": 1}],
        "loaned_today": 2,
        "returned_today": 5,
    }
    rows = list(csv.reader(io.StringIO(as_csv(body).decode("utf-8-sig"))))
    assert rows == [
        ["key", "value"],
        ["on_loan", "9"],
        ["overdue", "4"],
        ["overdue_1_7", "3"],
        ["overdue_8_", "1"],
        ["loaned_today", "2"],
        ["returned_today", "5"],
    ]
