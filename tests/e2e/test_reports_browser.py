"""The reports page in a real headless Chromium against the whole running system: every panel
filled from the API, the busy-hours heatmap, and a CSV and XLSX link on every table."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from bench.harness.processes import wait_for
from tests.e2e.browser import chromium, console_errors
from tests.e2e.conftest import start_system
from tests.support.library import LibraryRows

pytestmark = pytest.mark.django_db(databases=["default", "library"], transaction=True)

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"
PANELS = (
    "visits", "loans", "heatmap", "rooms", "visit-types", "classes", "collection-types",
    "locations", "circulation", "annual",
)  # fmt: skip


def seed(rows: LibraryRows) -> None:
    today = timezone.localdate()
    # Dated this year whatever today is (on 1 January: last year's last days).
    days = [today - timedelta(days=n) for n in (1, 2, 3)]
    rows.room("LIB1", "Ruang Baca")
    rows.member_type(1, "Siswa")
    rows.collection_type(1, "Fiksi")
    rows.location("PUS", "Pusat")
    rows.member("2021001", "Budi Santoso", member_type=1, registered="2020-01-01")
    title = rows.biblio("Kalkulus Dasar", classification="515")
    copy = rows.item(title, coll_type=1, location="PUS")
    for day in days:
        rows.visit(f"{day} 09:15:00", member_id="2021001", room="LIB1")
        rows.visit(f"{day} 14:00:00", name="Rina Tamu")
        rows.loan(copy, "2021001", day)


@pytest.fixture(scope="module")
def system(library_tables, django_db_blocker, tmp_path_factory):
    running = start_system(django_db_blocker, tmp_path_factory, seed=seed)
    try:
        yield running
    finally:
        running.stop_all()


def test_every_panel_of_the_reports_page_fills_with_files_to_download(system):
    url = f"http://127.0.0.1:{system.web_port}/reports"
    with chromium(width=1400, height=1900) as driver:
        driver.get(url)
        for panel in PANELS:
            wait_for(
                lambda p=panel: "filled" in driver.find_element(
                    "id", f"panel-{p}").get_attribute("class"),
                120,
                f"the {panel} panel",
            )  # fmt: skip
        driver.find_element("css selector", "[data-preset='last_year']").click()
        driver.find_element("css selector", "[data-preset='this_year']").click()
        wait_for(lambda: "Ruang Baca" in driver.find_element("id", "panel-rooms").text, 60, "rooms")
        assert "Siswa" in driver.find_element("id", "panel-visit-types").text
        assert "Fiksi" in driver.find_element("id", "panel-collection-types").text
        heat = driver.find_elements("css selector", "#panel-heatmap td")
        assert len(heat) == 168
        links = driver.find_elements("css selector", ".files a")
        assert len(links) == 2 * len(PANELS)
        assert all("format=" in link.get_attribute("href") for link in links)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "reports-test.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        assert console_errors(driver) == []


def test_the_page_speaks_indonesian_from_the_browser_language(system):
    with chromium(language="id") as driver:
        driver.get(f"http://127.0.0.1:{system.web_port}/reports")
        assert driver.find_element("tag name", "h1").text == "Laporan perpustakaan"
