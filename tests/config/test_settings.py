"""Settings: strict parsing of the environment, named in the error."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start_django(**env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('ok')"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TODAY_COUNT_MODE", "fast"),
        ("VISITOR_SYNC_MIN_INTERVAL_MS", "five"),
        ("AGGREGATE_TTL_SECONDS", "-1"),
        ("ENABLE_DOCS", "maybe"),
        ("LIBRARY_TIME_ZONE", "Asia/Atlantis"),
        ("VISITOR_SLOW_CRON", "every day"),
        ("BOOKS_SLOW_CRON", "99 0 * * *"),
        ("LIBRARY_DATABASE_URL", "postgres://localhost/slims"),
        ("REDIS_URL", "http://localhost:6379"),
        ("MEMBER_DETAILS", "everything"),
        ("THROTTLE_ANON_RATE", "lots"),
        ("HTTPS", "sometimes"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("TRUSTED_PROXIES", "nginx.local"),
    ],
)
def test_malformed_value_fails_at_start_naming_the_variable(name, value):
    result = start_django(**{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.strip().splitlines()[-1]


def test_missing_secret_key_fails_at_start():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr.strip().splitlines()[-1]


def test_valid_values_start():
    result = start_django(
        TODAY_COUNT_MODE="Direct", ENABLE_DOCS="false", VISITOR_SLOW_CRON="15 1 * * 1-5"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_defaults_follow_the_contract(settings):
    assert settings.TIME_ZONE == settings.LIBRARY_TIME_ZONE
    assert settings.DATABASES["library"]["TIME_ZONE"] == settings.LIBRARY_TIME_ZONE
    assert settings.CELERY_BROKER_URL != settings.REDIS_URL
    assert settings.TODAY_COUNT_MODE in {"direct", "delta", "incremental"}


def test_mysql_parts_build_the_library_url():
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "d = settings.DATABASES['library']; print(d['ENGINE'], d['HOST'], d['PORT'], d['NAME'])"
    )
    env = {
        **os.environ,
        "MYSQL_HOST": "db.example",
        "MYSQL_PORT": "3307",
        "MYSQL_DATABASE": "slims",
        "MYSQL_USER": "reader",
        "MYSQL_PASSWORD": "p@ss:word",
    }
    env.pop("LIBRARY_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.mysql", "db.example", "3307", "slims"]


def test_production_environment_passes_check_deploy():
    env = {
        **os.environ,
        "SECRET_KEY": "p" * 20 + "-production-secret-with-enough-entropy-" + "q" * 20,
        "DEBUG": "false",
        "HTTPS": "true",
        "ALLOWED_HOSTS": "dashboard.library.lan",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("log_format", ["json", "keyvalue"])
def test_job_runs_log_one_structured_line(log_format):
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('metrics_cache.snapshots').info('snapshot metric=%s rows=%d ms=%d "
        "status=ok', 'weekly', 7, 12, extra={'metric': 'weekly', 'rows': 7, 'ms': 12, "
        "'status': 'ok'})"
    )
    env = {**os.environ, "LOG_FORMAT": log_format}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    line = result.stderr.strip().splitlines()[-1]
    if log_format == "json":
        record = json.loads(line)
        assert (record["metric"], record["rows"], record["ms"], record["status"]) == (
            "weekly", 7, 12, "ok",
        )  # fmt: skip
        assert record["level"] == "INFO"
    else:
        assert line.endswith("snapshot metric=weekly rows=7 ms=12 status=ok")


def test_an_env_file_fills_in_what_the_environment_leaves_unset(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comments and blank lines are fine\n\n"
        "TODAY_COUNT_MODE=incremental\n"
        "MEMBER_DETAILS=hidden\n"
        'VISITOR_SLOW_CRON="15 1 * * 1-5"\n'
    )
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.TODAY_COUNT_MODE, s.MEMBER_DETAILS, repr(s.VISITOR_SLOW_CRON))"
    )
    env = {**os.environ, "ENV_FILE": str(env_file), "MEMBER_DETAILS": "full"}
    env.pop("TODAY_COUNT_MODE", None)
    env.pop("VISITOR_SLOW_CRON", None)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    # The file's values where the environment is silent; the environment's where it speaks.
    assert result.stdout.strip().split(maxsplit=2) == ["incremental", "full", "'15 1 * * 1-5'"]


def test_a_malformed_value_in_the_env_file_fails_naming_the_variable(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("TODAY_COUNT_MODE=fast\n")
    env = {k: v for k, v in os.environ.items() if k != "TODAY_COUNT_MODE"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT, env={**env, "ENV_FILE": str(env_file)}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "TODAY_COUNT_MODE='fast'" in result.stderr.strip().splitlines()[-1]


def variables_settings_read() -> set[str]:
    """Every name config/settings.py, config/libraries.py and the web command (config/web.py)
    pass to an env_* reader, the MYSQL_* parts, and the variables the Procfile reads: found in
    the source, independently of .env.example."""
    names, calls = set(), set()
    modules = [ROOT / "config" / name for name in ("settings.py", "web.py", "libraries.py")]
    nodes = [node for module in modules for node in ast.walk(ast.parse(module.read_text()))]
    for node in nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            calls.add(node.func.id)
            first = node.args[0] if node.args else None
            if node.func.id.startswith("env_") and isinstance(first, ast.Constant):
                names.add(first.value)
    if "mysql_url_from_parts" in calls:
        names |= {f"MYSQL_{part}" for part in ("HOST", "PORT", "USER", "PASSWORD", "DATABASE")}
    names |= set(re.findall(r"\$\{(\w+)", (ROOT / "Procfile").read_text()))
    return names


def test_env_example_lists_every_variable_with_a_default_and_a_meaning():
    lines = (ROOT / ".env.example").read_text().splitlines()
    listed = {}
    for index, line in enumerate(lines):
        if match := re.match(r"^# ([A-Z][A-Z0-9_]*)=(.*)$", line):
            listed[match.group(1)] = index
    expected = variables_settings_read()
    assert len(expected) > 30  # the reader above still finds the settings' variables
    assert sorted(expected - set(listed)) == []
    assert sorted(set(listed) - expected) == []
    for name, index in listed.items():
        # One line of meaning above each variable (or above the group it belongs to).
        above = next(line for line in reversed(lines[:index]) if not re.match(r"^# [A-Z_]+=", line))
        assert above.startswith("# ") and len(above) > 12, name
