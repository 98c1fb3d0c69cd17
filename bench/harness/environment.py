"""The service's settings for a benchmark: its environment, its own tables, Django set up."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.harness.processes import ROOT
from bench.harness.report import log


def migrate(env: dict[str, str] | None = None) -> None:
    """`manage.py migrate` in a child process (the service's own database, under DATA_DIR or
    DATABASE_URL); raises with its output when it fails."""
    log("manage.py migrate")
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{result.stdout}{result.stderr}")


def manage(*command: str) -> str:
    """The output of `manage.py <command>` run in a child process; raises when it fails."""
    result = subprocess.run(
        [sys.executable, "manage.py", *command], cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def start_django(env: dict[str, str]) -> None:
    """Puts `env` into this process's environment, migrates, and sets Django up in-process."""
    os.environ.update({"DJANGO_SETTINGS_MODULE": "config.settings", **env})
    migrate()

    import django

    django.setup()
