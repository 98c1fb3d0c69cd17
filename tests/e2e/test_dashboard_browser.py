"""The dashboard page in a real headless Chromium against the whole running system."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from bench.harness.processes import wait_for
from demo.writer import library_writer
from tests.e2e.browser import chromium, console_errors
from tests.e2e.conftest import start_system
from tests.support.library import LibraryRows

pytestmark = pytest.mark.django_db(databases=["default", "library"], transaction=True)

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"


def seed(rows: LibraryRows) -> None:
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    for hour in (9, 10, 11):
        rows.visit(f"{yesterday} {hour}:00:00", member_id="2021001", name="Budi Santoso")
    rows.visit(f"{today} 00:00:01", name="Rina Tamu", institution="SMA 1")
    rows.visit(f"{today} 00:00:02", name="Rina Tamu", institution="SMA 1")
    rows.member("2021001", "Budi Santoso")
    title = rows.biblio("Kalkulus Dasar")
    rows.loan(rows.item(title), "2021001", today)  # today: counts from tomorrow's snapshot
    rows.loan(rows.item(title), "2021001", yesterday)


@pytest.fixture(scope="module")
def system(library_tables, django_db_blocker, tmp_path_factory):
    running = start_system(django_db_blocker, tmp_path_factory, seed=seed)
    try:
        yield running
    finally:
        running.stop_all()


def text(driver, element_id: str) -> str:
    return driver.find_element("id", element_id).text.strip()


def test_the_dashboard_shows_the_library_and_counts_a_new_visitor_live(system, django_db_blocker):
    url = f"http://127.0.0.1:{system.web_port}/"
    with chromium() as driver:
        driver.get(url)
        wait_for(lambda: text(driver, "today-total") == "2", 60, "today's count on the page")
        # Yesterday's bar (the last of the seven), and today's live bar after it.
        wait_for(lambda: driver.find_elements("css selector", "#weekly-bars .bar"), 60, "bars")
        values = [v.text for v in driver.find_elements("css selector", "#weekly-bars .value")]
        assert len(values) == 8 and values[6] == "3" and values[7] == "2"
        wait_for(lambda: "Budi S." in text(driver, "top-visitors"), 60, "top visitors")
        assert "2021001" not in text(driver, "top-visitors")  # anonymous: masked
        jan_first = timezone.localdate().timetuple().tm_yday == 1
        if not jan_first:
            wait_for(lambda: "Kalkulus Dasar" in text(driver, "top-borrowed"), 60, "top borrowed")
        assert text(driver, "collection-titles") == "1"
        assert text(driver, "collection-items") == "2"
        assert "as of" in driver.find_element("css selector", "#panel-yearly .asof").text
        assert "on" in driver.find_element("id", "live").get_attribute("class")

        with django_db_blocker.unblock(), library_writer() as writer:
            now = timezone.localtime().replace(tzinfo=None, microsecond=0)
            LibraryRows(writer).visit(now.isoformat(sep=" "), name="Pengunjung Baru")
        wait_for(lambda: text(driver, "today-total") == "3", 30, "the new visitor on the page")
        values = [v.text for v in driver.find_elements("css selector", "#weekly-bars .value")]
        assert values[7] == "3"  # today's bar follows the live count

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "dashboard-test.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        assert console_errors(driver) == []


def test_indonesian_labels_from_the_browser_language(system):
    with chromium(language="id-ID", width=412, height=915, phone=True) as driver:
        driver.get(f"http://127.0.0.1:{system.web_port}/")
        assert driver.find_element("tag name", "h1").text == "Statistik Perpustakaan"
        wait_for(lambda: text(driver, "today-total") not in ("", "\u2013"), 60, "today's count")
        assert "Pengunjung hari ini" in driver.page_source
        widths = driver.execute_script(
            "return [window.innerWidth, document.documentElement.scrollWidth]"
        )
        assert widths == [412, 412]  # a phone's width, and no sideways scrolling
        assert console_errors(driver) == []
