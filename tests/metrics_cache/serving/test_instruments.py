"""/metrics counts each snapshot answer by its outcome, so an IT person can see how often
browsers revalidate (304), read the body (hit) or find the cache cold (warming)."""

from __future__ import annotations

import re
from io import StringIO

from django.core.management import call_command

from tests.support.library import library_test

pytestmark = library_test


def counted(client) -> dict[tuple[str, str], float]:
    text = client.get("/metrics").content.decode()
    pattern = r'^libdash_snapshot_answers_total\{metric="(\w+)",outcome="(\w+)"\} (\S+)$'
    return {(m, o): float(n) for m, o, n in re.findall(pattern, text, re.M)}


def test_each_answer_is_counted_once_under_its_outcome(library, client):
    call_command("prewarm", "--only", "weekly", stdout=StringIO())
    before = counted(client)
    etag = client.get("/api/visitors/weekly")["ETag"]
    for _ in range(2):
        revalidated = client.get("/api/visitors/weekly", headers={"If-None-Match": etag})
        assert revalidated.status_code == 304
    client.get("/api/visitors/monthly")  # not computed: warming
    after = counted(client)
    changes = {key: after[key] - before.get(key, 0.0) for key in after}
    assert {key: n for key, n in changes.items() if n} == {
        ("weekly", "hit"): 1,
        ("weekly", "not_modified"): 2,
        ("monthly", "warming"): 1,
    }
