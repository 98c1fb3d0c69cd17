"""A snapshot in Redis without the copy a viewer needs (written by an earlier version, before
each audience had its own copy) is a miss: warming and a refresh, never an error."""

from __future__ import annotations

import json

from django_redis import get_redis_connection

from metrics_cache.base import keys
from tests.support.library import library_test

pytestmark = library_test


def test_a_snapshot_without_the_viewers_copy_is_warmed_not_an_error(library, client, broker):
    get_redis_connection("default").hset(
        keys.snapshot("weekly"),
        mapping={
            "body:full": b'{"data":[]}',
            "etag:full": '"full"',
            "generated_at": "2026-11-25T00:05:00+07:00",
            "last_modified": "Mon, 24 Nov 2026 17:05:00 GMT",
        },
    )
    response = client.get("/api/visitors/weekly")  # anonymous: the masked copy
    assert response.status_code == 202
    assert response.json()["status"] == "warming"
    queued = [json.loads(m)["headers"]["task"] for m in broker.lrange("celery", 0, -1)]
    assert queued == ["metrics_cache.refresh_metric"]
