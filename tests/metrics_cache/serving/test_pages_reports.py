"""/reports: the page in English and Indonesian, its script and stylesheet served by the
service itself, and a staff login asked for when REPORTS_ACCESS=staff."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_page_carries_its_labels_and_the_library_s_yesterday(settings):
    response = Client().get("/reports")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>Library reports</h1>" in page
    assert (
        "/static/metrics_cache/reports.js" in page and "/static/metrics_cache/reports.css" in page
    )
    assert "https://" not in page  # nothing from elsewhere
    config = json.loads(page.split('id="config" type="application/json">')[1].split("</script>")[0])
    assert set(config) == {"base", "today", "yesterday"} and config["base"] == ""


def test_the_page_speaks_indonesian():
    page = Client().get("/reports", HTTP_ACCEPT_LANGUAGE="id").content.decode()
    assert "Laporan perpustakaan" in page and "Jam ramai" in page
    assert "Kunjungan per hari layanan" in page  # an annual label, translated


def test_staff_only_reports_send_anonymous_readers_to_the_login(settings):
    settings.REPORTS_ACCESS = "staff"
    response = Client().get("/reports")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    staff = User.objects.create_user("librarian", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/reports").status_code == 200


def test_the_page_refuses_other_methods():
    response = Client().post("/reports")
    assert response.status_code == 405 and response.json()["status"] == "method_not_allowed"
