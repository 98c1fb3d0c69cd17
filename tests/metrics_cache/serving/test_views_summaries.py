"""The summaries: which snapshot feeds which field, and a refresh queued for every missing part."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from django_redis import get_redis_connection

from metrics_cache.base import keys
from metrics_cache.today import loop
from tests.support.library import library_test

pytestmark = library_test

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Jakarta"))
VISITOR_FIELDS = {
    "weekly": "/api/visitors/weekly",
    "monthly": "/api/visitors/monthly",
    "yearly": "/api/visitors/yearly",
    "top_month": "/api/visitors/monthly/top",
    "top_year": "/api/visitors/yearly/top",
}
BOOK_FIELDS = {
    "collection": "/api/books/stats/collection",
    "top_borrowed": "/api/books/top/borrowed",
    "top_borrowed_month": "/api/books/top/borrowed/month",
    "top_borrowed_year": "/api/books/top/borrowed/year",
    "top_borrowers_month": "/api/books/top/borrowers/month",
    "top_borrowers_year": "/api/books/top/borrowers/year",
}
VISITOR_METRICS = ["weekly", "monthly", "yearly", "top_visitors_month", "top_visitors_year"]
BOOK_METRICS = [
    "collection", "top_borrowed", "top_borrowed_month", "top_borrowed_year",
    "top_borrowers_month", "top_borrowers_year",
]  # fmt: skip


def queued_metrics(broker) -> list[str]:
    names = []
    for raw in broker.lrange("celery", 0, -1):
        message = json.loads(raw)
        assert message["headers"]["task"] == "metrics_cache.refresh_metric"
        names.append(json.loads(base64.b64decode(message["body"]))[0][0])
    return names


@pytest.fixture
def history(library):
    """Every month, year and all-time figure differs from its neighbours."""
    library.member("M1", "Budi Santoso")
    library.member("M2", "Siti Rahma")
    algebra, zoology = library.biblio("Aljabar"), library.biblio("Zoologi")
    a, z = library.item(algebra), library.item(zoology)
    # Rows in date order: this file is about the summaries, not about late entries.
    library.visit("2024-06-01 09:00:00", member_id="M2", name="Siti Rahma")  # yearly only
    for day in ("2026-03-02", "2026-03-03", "2026-03-04"):  # this year, not this month
        library.visit(f"{day} 09:00:00", member_id="M2", name="Siti Rahma")
    library.visit("2026-11-03 09:00:00", member_id="M1", name="Budi Santoso")  # month
    library.visit("2026-11-24 09:00:00", member_id="M1", name="Budi Santoso")  # week, month
    for day in ("2023-01-01", "2023-01-02", "2023-01-03"):  # all time: Aljabar
        library.loan(a, "M1", day)
    for day in ("2026-02-01", "2026-02-02"):  # year: Zoologi, Siti
        library.loan(z, "M2", day)
    library.loan(a, "M1", "2026-11-10")  # month: Aljabar, Budi
    return library


def test_each_field_carries_its_own_metric(history, admin_client):
    with time_machine.travel(NOW, tick=False):
        call_command("prewarm", stdout=StringIO())
        visitors = admin_client.get("/api/visitors/summary").json()
        books = admin_client.get("/api/books/summary").json()
        expected = {
            field: admin_client.get(path).json()["data"]
            for field, path in {**VISITOR_FIELDS, **BOOK_FIELDS}.items()
        }
    for field in VISITOR_FIELDS:
        assert visitors[field] == expected[field], field
    for field in BOOK_FIELDS:
        assert books[field] == expected[field], field
    # The pairs a swap would confuse really differ here, so the comparison above means something.
    assert visitors["top_month"][0]["member_id"] == "M1"
    assert visitors["top_year"][0]["member_id"] == "M2"
    assert [b["title"] for b in books["top_borrowed_month"]] == ["Aljabar"]
    assert [b["title"] for b in books["top_borrowed_year"]] == ["Zoologi", "Aljabar"]
    assert (books["top_borrowed"][0]["title"], books["top_borrowed"][0]["total"]) == ("Aljabar", 4)
    assert [b["member_id"] for b in books["top_borrowers_month"]] == ["M1"]
    assert [b["member_id"] for b in books["top_borrowers_year"]] == ["M2", "M1"]
    assert len(visitors["monthly"]) == 12 and len(visitors["yearly"]) == 5
    assert books["collection"] == {"titles": 2, "items": 2}
    for summary in (visitors, books):  # when it was put together, in the library's time
        assert summary["generated_at"] == "2026-11-25T10:00:00.000+07:00"


@pytest.mark.parametrize(
    ("path", "metrics"),
    [("/api/visitors/summary", VISITOR_METRICS), ("/api/books/summary", BOOK_METRICS)],
)
def test_a_refresh_is_queued_for_every_missing_part(library, client, broker, path, metrics):
    response = client.get(path)
    assert response.status_code == 202
    assert response["Retry-After"] == "5"
    assert sorted(queued_metrics(broker)) == sorted(metrics)
    # Asking again within the warming window queues nothing more.
    client.get(path)
    assert sorted(queued_metrics(broker)) == sorted(metrics)


def test_one_missing_part_makes_the_summary_warm_and_is_the_only_one_queued(
    library, client, broker
):
    call_command("prewarm", stdout=StringIO())
    get_redis_connection("default").delete(keys.snapshot("yearly"))
    response = client.get("/api/visitors/summary")
    assert response.status_code == 202
    assert response.json()["message"] == "yearly cache not ready"
    assert queued_metrics(broker) == ["yearly"]


def test_the_warming_summary_carries_todays_count_when_known(library, client, settings):
    settings.VISITOR_SYNC_BUFFER_MS = 0
    library.visit(f"{timezone.localdate()} 00:00:00")
    assert loop.tick() == "ok"
    body = client.get("/api/visitors/summary").json()
    assert body["status"] == "warming" and body["today"] == 1
    call_command("prewarm", stdout=StringIO())
    body = client.get("/api/visitors/summary").json()
    assert body["today"] == 1
    assert body["source"] == (
        "today:cache,weekly:cache,monthly:cache,yearly:cache,top_month:cache,top_year:cache"
    )


def test_the_documented_summaries_are_the_answers(library, client):
    call_command("prewarm", stdout=StringIO())
    schema = client.get("/docs/json").json()
    for path, item in (
        ("/api/visitors/summary", {"weekly": "DailyTotal", "top_year": "TopVisitor"}),
        ("/api/books/summary", {"top_borrowed": "TopBook", "top_borrowers_year": "TopBorrower"}),
    ):
        operation = schema["paths"][path]["get"]
        assert set(operation["responses"]) == {"200", "202"}, path
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        documented = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        answer = client.get(path).json()
        assert set(documented["properties"]) == set(answer), path
        assert set(documented["required"]) == set(answer), path
        for field, shape in item.items():
            assert documented["properties"][field]["items"]["$ref"].endswith(f"/{shape}")
    visitors = schema["components"]["schemas"]["VisitorSummary"]["properties"]
    assert visitors["today"] == {"type": "integer", "nullable": True}
    assert visitors["source"]["type"] == "string"
    assert visitors["generated_at"] == {"type": "string", "format": "date-time"}


@pytest.mark.parametrize("path", ["/api/visitors/summary", "/api/books/summary"])
def test_a_summary_is_cached_for_its_ttl_with_its_headers(library, client, settings, path):
    call_command("prewarm", stdout=StringIO())
    first = client.get(path)
    library.visit(f"{timezone.localdate() - timedelta(days=1)} 10:00:00")
    library.loan(library.item(library.biblio("Kalkulus")), "M1", "2026-01-05")
    call_command("prewarm", stdout=StringIO())  # new snapshots within the summary's TTL
    again = client.get(path)
    assert again.content == first.content
    # ...and no longer than that: every cached summary expires within SUMMARY_TTL_SECONDS.
    redis = get_redis_connection("default")
    cached = list(redis.scan_iter(match=keys.summary("*", "*")))
    assert cached
    assert all(0 < redis.ttl(key) <= settings.SUMMARY_TTL_SECONDS for key in cached)
    for response in (first, again):  # composed, then from the summary's cache
        assert response.status_code == 200
        # Compact JSON, as every cached answer: no space after separators.
        compact = json.dumps(response.json(), ensure_ascii=False, separators=(",", ":"))
        assert response.content == compact.encode()
        assert response["Cache-Control"] == "no-cache"
        vary = {v.strip().lower() for v in response["Vary"].split(",")}
        assert {"cookie", "authorization"} <= vary
