"""Screens never reach SLiMS: many anonymous clients on every public URL, spoofed
X-Forwarded-For included, open no connection to the library database and run no statement
on it from the web process (the fast loop and the jobs in the worker are the service's own)."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from bench.harness.processes import free_port, start_web, wait_for
from demo.writer import library_writer
from tests.e2e.conftest import start_system
from tests.e2e.faults import CountingProxy, get, mariadb_status, record
from tests.support.library import LibraryRows

pytestmark = pytest.mark.django_db(databases=["default", "library"], transaction=True)

PUBLIC_URLS = [
    "/", "/health", "/metrics", "/docs", "/docs/json", "/admin/login/", "/no/such/path",
    "/api/visitors/today", "/api/visitors/weekly", "/api/visitors/monthly",
    "/api/visitors/yearly", "/api/visitors/monthly/top", "/api/visitors/yearly/top",
    "/api/visitors/summary", "/api/books/summary", "/api/books/collection",
    "/api/books/stats/collection", "/api/books/top/borrowed", "/api/books/top-borrowed",
    "/api/books/top/borrowed/month", "/api/books/top-borrowers/year", "/api/nothing",
    "/api/visitors/weekly?_=1", "/api/visitors/today/stream",
]  # fmt: skip
CLIENTS = 16
HAMMER_SECONDS = 8


def seed(rows: LibraryRows) -> None:
    today = timezone.localdate()
    for day in range(1, 4):
        rows.visit(f"{today - timedelta(days=day)} 10:00:00", member_id="M1", name="Budi")
    rows.member("M1", "Budi")
    rows.loan(rows.item(rows.biblio("Kalkulus")), "M1", today - timedelta(days=1))


def hammer(port: int, seconds: float, clients: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def one_client(number: int) -> None:
        index = number
        while time.monotonic() < deadline:
            path = PUBLIC_URLS[index % len(PUBLIC_URLS)]
            index += 1
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}",
                headers={"X-Forwarded-For": f"10.{number}.{index % 250}.1"},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    status = response.status
                    if path.endswith("/stream"):
                        response.readline()  # connected: hang up at once
                    else:
                        response.read()
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = 0
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=one_client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 30)
    return statuses


@pytest.fixture(scope="module")
def web_proxy():
    if connections["library"].vendor != "mysql":
        pytest.skip("counts MariaDB connections")
    port = connections["library"].settings_dict["PORT"] or 3306
    proxy = CountingProxy(int(port), free_port())
    proxy.start()
    yield proxy
    proxy.stop()


def test_anonymous_load_opens_no_library_connection(
    library_tables, django_db_blocker, tmp_path_factory, web_proxy
):
    system = start_system(django_db_blocker, tmp_path_factory, seed=seed)
    try:
        # The web process alone reaches the library through the counting proxy.
        system.stop("web")
        web_env = {
            **system.env,
            "LIBRARY_DATABASE_URL": system.env["LIBRARY_DATABASE_URL"].replace(
                f":{connections['library'].settings_dict['PORT'] or 3306}/",
                f":{web_proxy.port}/",
            ),
            # Measure what reaches Django, not the throttle (spoofing is tested on its own).
            "THROTTLE_ANON_RATE": "1000000/min",
        }
        assert f":{web_proxy.port}/" in web_env["LIBRARY_DATABASE_URL"]
        system.processes["web"] = start_web(web_env, system.web_port, system.tmp / "web2.log")
        port = system.web_port
        wait_for(lambda: get(port, "/api/visitors/weekly")[0] == 200, 90, "prewarm")
        wait_for(lambda: get(port, "/api/visitors/today")[0] == 200, 30, "today")
        with django_db_blocker.unblock(), library_writer() as writer, writer.cursor() as cursor:
            web_proxy.reset()
            before = mariadb_status(cursor)
            statuses = hammer(port, HAMMER_SECONDS, CLIENTS)
            after = mariadb_status(cursor)
        assert statuses.get(200, 0) > 500, statuses
        assert not [code for code in statuses if code >= 500 and code != 503], statuses
        assert (web_proxy.connections, web_proxy.statements) == (0, 0), statuses
        record(
            "Screens never reach SLiMS: 16 anonymous clients, every public URL",
            requests=sum(statuses.values()),
            statuses={str(k): v for k, v in sorted(statuses.items())},
            web_library_connections=web_proxy.connections,
            web_library_statements=web_proxy.statements,
            mariadb_connections_all_clients=after["Connections"] - before["Connections"],
            mariadb_questions_all_clients=after["Questions"] - before["Questions"],
        )
    finally:
        system.stop_all()
