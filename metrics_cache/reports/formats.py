"""A report's envelope as CSV (UTF-8 with a byte-order mark, so Excel reads it) and as XLSX
(numbers as numbers, headers in the request's language). Both are made from the JSON alone,
so the API and `manage.py report` give the same bytes for the same report."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import xlsxwriter
from django.utils.translation import gettext as _

from metrics_cache.reports.annual import LABELS as ANNUAL_LABELS

CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def file_name(body: dict, fmt: str) -> str:
    """visits_2026-01-01_2026-11-30_by-month.csv, annual_2025.xlsx, circulation_2026-12-06.csv;
    the network's with network_ before."""
    if "libraries" in body:
        return "network_" + file_name({k: v for k, v in body.items() if k != "libraries"}, fmt)
    if body["report"] == "annual":
        return f"annual_{body['year']}.{fmt}"
    if body["report"] == "circulation":
        return f"circulation_{body['generated_at'][:10]}.{fmt}"
    period = body["period"]
    return f"{body['report']}_{period['from']}_{period['to']}_by-{body['by']}.{fmt}"


def _annual_rows(body: dict, translate) -> list[list]:
    """One row per key (key, label, value, previous); a month-by-month key one row per month."""
    previous = body.get("previous", {})
    rows = []
    for key, value in body["data"].items():
        label = translate(ANNUAL_LABELS[key])
        if isinstance(value, list):
            before = previous.get(key) or [{}] * len(value)
            # Both lists are the twelve months: strict only asserts it.
            for item, earlier in zip(value, before, strict=True):  # pragma: no mutate
                month = item["month"]
                rows.append([f"{key}_{month:02d}", f"{label}: {month:02d}", item["total"],
                             earlier.get("total")])  # fmt: skip
        else:
            rows.append([key, label, value, previous.get(key)])
    return rows


def _circulation_rows(body: dict) -> list[list]:
    rows = [["on_loan", body["on_loan"]], ["overdue", body["overdue"]]]
    for band in body["overdue_by_days"]:
        rows.append([f"overdue_{band['from']}_{band['to'] or ''}", band["total"]])
    rows += [["loaned_today", body["loaned_today"]], ["returned_today", body["returned_today"]]]
    return rows


def _network_table(body: dict, translate) -> tuple[list[str], list[list]]:
    """The network's report: one column per library, then one named total."""
    slugs = [row["slug"] for row in body["libraries"]]
    if not slugs:
        return ["total"], []
    if body["report"] == "annual":
        columns = [{"data": row} for row in body["libraries"]] + [{"data": body["total"] or {}}]
        tables = [_annual_rows({"data": {k: c["data"].get(k) for k in ANNUAL_LABELS}}, translate)
                  for c in columns]  # fmt: skip
        rows = [first[:2] + [t[i][2] for t in tables] for i, first in enumerate(tables[0])]
        return ["key", "label", *slugs, "total"], rows
    series = [row["data"] for row in body["libraries"]] + [body["total"]["data"]]
    fields = [k for k in (series[-1][0] if series[-1] else {}) if k != "total"]
    rows = [[item[k] for k in fields] + [each[i]["total"] for each in series]
            for i, item in enumerate(series[-1])]  # fmt: skip
    return [*fields, *slugs, "total"], rows


def table(body: dict, translate=str) -> tuple[list[str], list[list]]:
    """The report as one table: its column names and rows; the annual figures' labels passed
    through `translate` (the CSV's stay English: its bytes do not depend on the request)."""
    if "libraries" in body:
        return _network_table(body, translate)
    if body["report"] == "annual":
        names = ["key", "label", "value"] + (["previous"] if "previous" in body else [])
        return names, [row[: len(names)] for row in _annual_rows(body, translate)]
    if body["report"] == "circulation":
        return ["key", "value"], _circulation_rows(body)
    names = list(body["data"][0]) if body["data"] else ["total"]
    return names, [[item.get(name) for name in names] for item in body["data"]]


def as_csv(body: dict) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)  # the excel dialect: lines end in \r\n
    names, rows = table(body)
    writer.writerow(names)
    writer.writerows(rows)  # a null is an empty field
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # pragma: no mutate (any case names UTF-8)


def headers(names: list[str]) -> list[str]:
    """Column headers in the active language."""
    words = {
        "date": _("Date"),
        "week": _("Week"),
        "from": _("From"),
        "to": _("To"),
        "month": _("Month"),
        "year": _("Year"),
        "hour": _("Hour"),
        "weekday": _("Weekday"),
        "room_code": _("Room code"),
        "room_name": _("Room"),
        "audience": _("Visitors"),
        "total": _("Total"),
        "previous": _("A year earlier"),
        "member_type_id": _("Member type"),
        "member_type_name": _("Member type name"),
        "coll_type_id": _("Collection type"),
        "coll_type_name": _("Collection type name"),
        "location_id": _("Location"),
        "location_name": _("Location name"),
        "class": _("Class"),
        "key": _("Key"),
        "label": _("Figure"),
        "value": _("Value"),
    }
    return [words.get(name, name) for name in names]


def title(body: dict, library: str) -> str:
    report = {
        "visits": _("Visits"),
        "loans": _("Loans"),
        "annual": _("Annual figures"),
        "circulation": _("Circulation"),
    }.get(body["report"], body["report"])
    if "period" not in body:
        return f"{library} · {report} · {_('generated')} {body['generated_at']}"
    period = body["period"]
    return (
        f"{library} · {report} · "
        f"{_('%(since)s to %(until)s') % {'since': period['from'], 'until': period['to']}} · "
        f"{_('generated')} {body['generated_at']}"
    )


def as_xlsx(body: dict, library: str) -> bytes:
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True})
    # The file's own dates are the report's: the same report gives the same bytes.
    generated = datetime.fromisoformat(body["generated_at"]).replace(tzinfo=None)
    workbook.set_properties({"title": title(body, library), "created": generated})
    sheet = workbook.add_worksheet(body["report"])
    bold = workbook.add_format({"bold": True})
    sheet.write_string(0, 0, title(body, library), bold)
    names, rows = table(body, translate=_)
    for col, header in enumerate(headers(names)):
        sheet.write_string(2, col, header, bold)
    for row, values in enumerate(rows, start=3):
        for col, value in enumerate(values):
            if value is None:
                continue
            if isinstance(value, int | float):
                sheet.write_number(row, col, value)
            else:
                sheet.write_string(row, col, str(value))
    workbook.close()
    return out.getvalue()
