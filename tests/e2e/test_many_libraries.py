"""Many libraries in one deployment, with real processes on loopback: five SLiMS databases
on MariaDB (two reached directly, on one server, which the fast loop's groups ask together
for their highest ids; one through a proxy that goes away, two through a proxy that stops
forwarding, asked together too), one Redis, daphne, three worker processes and beat. Each
library's count is its own and follows its check-ins; the network's stream and listing see
them all; a library whose database is unreachable or hanging delays no other library's
figures."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connections

from bench.harness.processes import (
    free_port,
    service_env,
    start_beat,
    start_redis,
    start_web,
    start_worker,
    stop,
    wait_for,
)
from config.services import LIVE_QUEUE
from demo.schema import create_statements
from demo.writer import WRITER_CREDENTIALS, library_writer
from tests.conftest import READER, grant_select
from tests.e2e.browser import chromium, console_errors
from tests.e2e.faults import HangingProxy, TcpProxy, get
from tests.e2e.sse import SSEClient
from tests.support.library import LibraryRows

pytestmark = [
    pytest.mark.django_db(databases=["default", "library"], transaction=True),
    pytest.mark.skipif(
        connections["library"].vendor != "mysql", reason="the proxies speak to MariaDB"
    ),
]

INTERVAL_MS = 1000
# A library's count follows a check-in within the fast loop's interval and a few seconds.
FOLLOWS_WITHIN_SECONDS = 8
# timur's dates are its own zone's, east of the first library's (a day ahead of it from 15:00
# to 17:00 UTC). Its check-ins are made before the start and no test adds any, so its count is
# known whatever order the tests run in.
ZONES = {
    "pusat": "Asia/Jakarta",
    "timur": "Asia/Jayapura",
    "utara": "Asia/Jakarta",
    "barat": "Asia/Jakarta",
    "selatan": "Asia/Jakarta",
}
TIMUR_TODAY = 5


def _database(name: str) -> str:
    return f"{connections['library'].settings_dict['NAME']}_{name}"


def _url(name: str, port: int) -> str:
    return f"mysql://{READER['USER']}:{READER['PASSWORD']}@127.0.0.1:{port}/{_database(name)}"


def _rows(name: str):
    """A writer on one of the network's SLiMS databases (as SLiMS itself writes)."""
    settings_dict = connections["library"].settings_dict
    writer = type(connections["library"])(
        {**settings_dict, **WRITER_CREDENTIALS, "NAME": _database(name)}, alias=f"network-{name}"
    )
    with writer.cursor() as cursor:
        cursor.execute("SET SESSION TRANSACTION READ WRITE")
    return writer


def checkins(name: str, count: int, *, days_ago: int = 0) -> None:
    writer = _rows(name)
    try:
        now = datetime.now(ZoneInfo(ZONES[name])).replace(tzinfo=None, microsecond=0)
        rows = LibraryRows(writer)
        for _ in range(count):
            rows.visit(now - timedelta(days=days_ago, seconds=1))
    finally:
        writer.close()


@pytest.fixture(scope="module")
def network(library_tables, django_db_blocker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("network")
    mariadb_port = int(connections["library"].settings_dict.get("PORT") or 3306)
    gone, hanging = TcpProxy(mariadb_port, free_port()), HangingProxy(mariadb_port, free_port())
    gone.start(), hanging.start()
    with django_db_blocker.unblock(), library_writer() as admin, admin.cursor() as cursor:
        for name in ZONES:
            cursor.execute(f"DROP DATABASE IF EXISTS `{_database(name)}`")
            cursor.execute(f"CREATE DATABASE `{_database(name)}` CHARACTER SET utf8mb4")
            cursor.execute(f"USE `{_database(name)}`")
            for statement in create_statements("mysql"):
                cursor.execute(statement)
            grant_select(cursor, _database(name))
        cursor.execute(f"USE `{connections['library'].settings_dict['NAME']}`")
        env = service_env(tmp / "app.sqlite3")
        checkins("timur", 2, days_ago=1)  # history of its own, folded at the first start
        checkins("timur", TIMUR_TODAY)
    ports = {"pusat": mariadb_port, "timur": gone.port, "utara": hanging.port,
             "barat": mariadb_port, "selatan": hanging.port}  # fmt: skip
    (tmp / "libraries.toml").write_text("".join(
        f'[libraries.{name}]\nname = "Perpustakaan {name.title()}"\n'
        f'database_url = "{_url(name, ports[name])}"\ntime_zone = "{ZONES[name]}"\n\n'
        for name in ZONES
    ))  # fmt: skip
    redis_port, web_port = free_port(), free_port()
    for name in ("LIBRARY_DATABASE_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    env.update(
        LIBRARIES_FILE=str(tmp / "libraries.toml"),
        DATA_DIR=str(tmp),
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        VISITOR_SYNC_MIN_INTERVAL_MS=str(INTERVAL_MS),
        VISITOR_SYNC_BUFFER_MS="0",
        TODAY_COUNT_MODE="delta",
    )
    import subprocess
    import sys

    from bench.harness.processes import ROOT

    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                   env=env, check=True, timeout=300)  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput", "--username",
                    "admin", "--email", "admin@example.org"], cwd=ROOT, check=True, timeout=60,
                   env={**env, "DJANGO_SUPERUSER_PASSWORD": "admin-for-tests"})  # fmt: skip
    processes = []
    try:
        processes.append(start_redis(redis_port, tmp / "redis.log"))
        processes.append(start_web(env, web_port, tmp / "web.log"))
        # The Procfile's workers: two processes on both queues and one on the live queue alone;
        # prefork, so the tasks' time limits hold. A library whose database hangs holds at most
        # two processes (its tick, up to the tick's time limit, and one of its jobs): three
        # leave one for the others.
        processes.append(start_worker(env, tmp / "worker.log", pool=("--concurrency", "2")))
        processes.append(start_worker(env, tmp / "live.log", pool=("--concurrency", "1"),
                                      name="live@%h", queues=LIVE_QUEUE))  # fmt: skip
        processes.append(start_beat(env, tmp / "beat.log"))
        yield {"port": web_port, "gone": gone, "hanging": hanging, "tmp": tmp}
    finally:
        for process in reversed(processes):
            stop(process)
        gone.stop(), hanging.stop()
        with django_db_blocker.unblock(), library_writer() as admin, admin.cursor() as cursor:
            for name in ZONES:
                cursor.execute(f"DROP DATABASE IF EXISTS `{_database(name)}`")


def body(port: int, path: str):
    status, raw = get(port, path)
    return status, json.loads(raw)


def today(port: int, name: str) -> int | None:
    status, answer = body(port, f"/l/{name}/api/visitors/today")
    return answer.get("total") if status == 200 else None


def test_each_library_counts_its_own_check_ins(network):
    port = network["port"]
    status, listed = body(port, "/api/libraries")
    assert status == 200
    assert [(lib["slug"], lib["name"], lib["time_zone"]) for lib in listed] == [
        (name, f"Perpustakaan {name.title()}", zone) for name, zone in ZONES.items()
    ]
    wait_for(lambda: today(port, "pusat") is not None, 30, "pusat's first count")
    wait_for(lambda: today(port, "barat") is not None, 30, "barat's first count")
    before, beside = today(port, "pusat"), today(port, "barat")
    checkins("pusat", 3)
    wait_for(lambda: today(port, "pusat") == before + 3, 30, "pusat's count")
    # On pusat's server, asked with it: its count follows its own check-ins only.
    assert today(port, "barat") == beside
    checkins("barat", 2)
    wait_for(lambda: today(port, "barat") == beside + 2, 30, "barat's count")
    assert today(port, "pusat") == before + 3
    wait_for(lambda: today(port, "timur") == TIMUR_TODAY, 30, "timur's count")
    # The worker of the live queue alone takes the groups' ticks (the other worker too).
    received = r"Task metrics_cache\.sync_today_group\[[\w-]+\] received"
    live_log = network["tmp"] / "live.log"
    wait_for(lambda: re.search(received, live_log.read_text()), 30, "a tick on the live worker")
    # Several libraries and none named default: the unprefixed paths point to the listing.
    status, unprefixed = body(port, "/api/visitors/today")
    assert status == 404 and "/api/libraries" in unprefixed["message"]
    # A library's dates are its own zone's.
    assert body(port, "/l/timur/api/visitors/today")[1]["date"] == (
        datetime.now(ZoneInfo(ZONES["timur"])).date().isoformat()
    )
    status, missing = body(port, "/l/nowhere/api/visitors/today")
    assert status == 404 and "/api/libraries" in missing["message"]


def test_the_network_stream_follows_every_library(network):
    port = network["port"]
    client = SSEClient(port, "/api/network/today/stream")
    try:
        init = client.wait_for("init", 15)
        assert set(init["libraries"]) == set(ZONES)
        before = init["libraries"]["pusat"] or 0
        checkins("pusat", 2)
        update = client.wait_for("update", 15, lambda data: data["slug"] == "pusat")
        assert update["total"] == before + 2
        assert update["network_total"] >= update["total"]
    finally:
        client.close()


def test_the_network_page_and_a_library_s_dashboard_in_a_browser(network):
    port = network["port"]

    def cell(driver, slug: str) -> str:
        rows = driver.find_elements("css selector", f'#libraries tr[data-slug="{slug}"] td')
        return rows[1].text.strip() if len(rows) > 1 else ""

    with chromium() as driver:
        driver.get(f"http://127.0.0.1:{port}/network")
        wait_for(lambda: cell(driver, "timur") == str(TIMUR_TODAY), 30, "timur's on /network")
        before = int(cell(driver, "pusat"))
        checkins("pusat", 1)
        # Live: the page's stream, not its minute's refresh of the listing.
        wait_for(lambda: cell(driver, "pusat") == str(before + 1), 30, "pusat's count, live")
        total = sum(int(cell(driver, slug) or 0) for slug in ZONES)
        wait_for(lambda: driver.find_element("id", "network-total").text == str(total), 30,
                 "the network's total")  # fmt: skip
        # The annual table: a column per library, then the network's. A library whose figures
        # are not there yet is named below it instead (the page asks once): reload until all are.
        columns = [f"Perpustakaan {name.title()}" for name in ZONES] + ["All libraries"]

        def annual_columns() -> bool:
            driver.get(f"http://127.0.0.1:{port}/network")
            wait_for(lambda: driver.find_elements("css selector", "#annual tbody tr"), 30,
                     "annual")  # fmt: skip
            headers = [td.text for td in driver.find_elements("css selector", "#annual thead td")]
            return headers[1:] == columns

        wait_for(annual_columns, 90, "every library's annual column")
        assert console_errors(driver) == []
        driver.get(f"http://127.0.0.1:{port}/l/timur/")
        wait_for(lambda: driver.find_element("id", "today-total").text == str(TIMUR_TODAY), 30,
                 "timur's page")  # fmt: skip
        assert "Perpustakaan Timur" in driver.find_element("tag name", "h1").text
        assert console_errors(driver) == []


def test_each_library_s_rows_in_the_admin_under_its_prefix(network):
    """One login (users are the deployment's); each library's own tables under its prefix."""
    base = f"http://127.0.0.1:{network['port']}"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    login = f"{base}/l/timur/admin/login/"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"',
                      opener.open(login).read().decode()).group(1)  # fmt: skip
    form = {"csrfmiddlewaretoken": token, "username": "admin", "password": "admin-for-tests"}
    request = urllib.request.Request(f"{login}?next=/l/timur/admin/", headers={"Referer": login},
                                     data=urllib.parse.urlencode(form).encode())  # fmt: skip
    assert opener.open(request).geturl() == f"{base}/l/timur/admin/"

    def folded(slug: str) -> dict[str, str]:
        """{source: the last id folded} as the library's admin lists its rollups."""
        page = opener.open(f"{base}/l/{slug}/admin/metrics_cache/rollupstate/").read().decode()
        links = re.findall(r'href="(/[^"]*/rollupstate/\d+/change/)"', page)
        assert links and all(link.startswith(f"/l/{slug}/admin/") for link in links), slug
        rows = re.findall(r'field-source[^>]*><a[^>]*>([^<]+)</a>.*?field-last_id">([^<]*)<',
                          page, re.S)  # fmt: skip
        return dict(rows)

    # Each library's own rows: timur's seven (two yesterday's, five today's, made before the
    # start), folded at the start or in a fold since; pusat's its own check-ins (however many
    # the tests made before this one). A library's first build may wait behind its other
    # start-up jobs.
    def built(slug: str, values: tuple[str, ...]) -> bool:
        try:
            return folded(slug).get("visits") in values
        except AssertionError:
            return False

    wait_for(lambda: built("timur", ("2", "7")), 90, "timur's rollups in its admin")
    wait_for(lambda: built("pusat", ("-", *map(str, range(20)))), 90, "pusat's rollups")
    assert folded("pusat") != folded("timur")


def test_one_library_gone_and_another_hanging_delay_no_other(network):
    port = network["port"]
    wait_for(lambda: today(port, "timur") == TIMUR_TODAY, 30, "timur's count before")
    network["gone"].stop()
    network["hanging"].hang()
    try:
        # Let the failing libraries' ticks start failing and hanging first.
        time.sleep(3)
        for round_ in range(3):
            before = {name: today(port, name) for name in ("pusat", "barat")}
            for name in before:
                checkins(name, 1)
            started = time.monotonic()
            for name, count in before.items():
                wait_for(lambda n=name, c=count: today(port, n) == c + 1,
                         FOLLOWS_WITHIN_SECONDS, f"{name}'s count in round {round_}")  # fmt: skip
            assert time.monotonic() - started < FOLLOWS_WITHIN_SECONDS
        states = {lib["slug"]: lib["state"] for lib in body(port, "/api/libraries")[1]}
        assert states["pusat"] == "ok"
        wait_for(lambda: body(port, "/api/libraries")[1][1]["state"] == "unreachable", 30,
                 "timur marked")  # fmt: skip
        # Its figures stay at their last good values meanwhile.
        assert today(port, "timur") == TIMUR_TODAY
        status, health = body(port, "/health")
        assert status == 200 and health["status"] == "degraded"
        assert health["libraries"]["timur"]["checks"]["library_db"] == "unreachable"
        assert health["libraries"]["pusat"]["status"] in ("ok", "degraded")
    finally:
        # Both come back, for the tests that run after this one (in any order).
        network["gone"].start()
        network["hanging"].recover()
    back = ("utara", "selatan")
    wait_for(lambda: today(port, "timur") == TIMUR_TODAY
             and all(today(port, name) is not None for name in back),
             60, "timur, utara and selatan back")  # fmt: skip
