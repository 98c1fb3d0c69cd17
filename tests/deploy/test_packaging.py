"""The wheel carries what the service serves: installed in a fresh virtual environment outside
the source tree, its web process, started from another directory, answers `/` in English and
Indonesian with its script and stylesheet, `/docs` with Swagger UI's assets, and the admin's
login page with its CSS (the Docker image is built from this wheel)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from bench.harness.processes import free_port, stop, wait_for

ROOT = Path(__file__).resolve().parents[2]
SOURCE_FILES = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".env"
)


def run(command: list, **kwargs) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("packaging")
    # A copy of the working tree, so no build/ left over from an earlier build slips in.
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=SOURCE_FILES)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist", source])
    (wheel,) = (work / "dist").glob("library_dashboard-*.whl")

    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel])
    # The dependencies (not the project) come from the test environment's site-packages, read
    # through a .pth line: its editable install's .pth is not processed that way, so the
    # project itself can only be imported from the wheel.
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    Path(purelib.strip(), "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    (work / "data").mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "LIBRARY_DATABASE_URL", "DATABASE_URL", "VIRTUAL_ENV"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY="packaging-test-secret",
        REDIS_URL=settings.REDIS_URL,
        DATA_DIR=str(work / "data"),
        STATIC_ROOT=str(work / "static"),
        ENV_FILE="/dev/null",
    )
    where = run([python, "-c", "import metrics_cache; print(metrics_cache.__file__)"],
                cwd=elsewhere, env=env)  # fmt: skip
    assert Path(where.strip()).is_relative_to(venv), where
    # As the image does: the service's tables, then the static files collected for WhiteNoise.
    run([python, "-m", "django", "migrate", "--noinput", "-v", "0"], cwd=elsewhere, env=env)
    run([python, "-m", "django", "collectstatic", "--noinput", "-v", "0"], cwd=elsewhere, env=env)
    assert (work / "static" / "metrics_cache" / "dashboard.js").is_file()

    port = free_port()
    log = work / "web.log"
    web = subprocess.Popen(
        [python, "-m", "daphne", "--bind", "127.0.0.1", "--port", str(port),
         "config.asgi:application"],
        cwd=elsewhere, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(base + "/docs/json"), 60, f"the installed web process ({log})")
        yield {"base": base, "log": log}
    finally:
        stop(web)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def get(url: str, **headers) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read()


def assets(page: bytes, pattern: str) -> list[str]:
    return sorted(set(re.findall(rf'(?:src|href)="(/static/{pattern}[^"]*)"', page.decode())))


@pytest.mark.parametrize(("language", "today"), [("en", "Today"), ("id", "Hari ini")])
def test_the_page_in_each_language_with_its_script_and_stylesheet(installed, language, today):
    status, content_type, page = get(installed["base"] + "/", **{"Accept-Language": language})
    assert status == 200 and content_type.startswith("text/html")
    assert f'lang="{language}"' in page.decode()
    assert today in page.decode()
    found = assets(page, "metrics_cache/")
    assert found == ["/static/metrics_cache/dashboard.css", "/static/metrics_cache/dashboard.js"]
    for path in found:
        status, content_type, body = get(installed["base"] + path)
        assert status == 200
        assert body == (ROOT / "metrics_cache" / path.removeprefix("/")).read_bytes()
        assert content_type.startswith("text/css" if path.endswith(".css") else "text/javascript")


def test_swagger_ui_with_its_assets(installed):
    status, _, page = get(installed["base"] + "/docs")
    assert status == 200
    found = assets(page, "drf_spectacular_sidecar/swagger-ui-dist/")
    assert any(path.endswith("swagger-ui-bundle.js") for path in found), found
    assert any(path.endswith("swagger-ui.css") for path in found), found
    for path in found:
        assert get(installed["base"] + path)[0] == 200, path


def test_admin_login_with_its_css(installed):
    status, _, page = get(installed["base"] + "/admin/login/")
    assert status == 200
    stylesheets = assets(page, "admin/css/")
    assert "/static/admin/css/base.css" in stylesheets
    for path in stylesheets:
        status, content_type, _ = get(installed["base"] + path)
        assert status == 200 and content_type.startswith("text/css"), path
