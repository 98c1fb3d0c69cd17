"""Docker does not run on CI: keep docker/ honest against the Procfile and the README."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from config import services

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
PROCESSES = ("web", "worker", "live", "beat")


def procfile() -> dict[str, list[str]]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {
        name: shlex.split(command)
        for name, _, command in (line.partition(":") for line in lines if line.strip())
    }


def normalise(argv: list[str]) -> list[str]:
    """The bind address and port differ by design (loopback locally, all interfaces in a
    container), and the Procfile's `scripts/keep-running` is compose's restart policy; everything
    else must match."""
    out = argv[1:] if argv[:1] == ["scripts/keep-running"] else list(argv)
    for option in ("--bind", "--port"):
        if option in out:
            out[out.index(option) + 1] = option.upper()
    return out


def test_compose_has_the_whole_deployment_with_healthchecks():
    services = COMPOSE["services"]
    sentinel = {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"}
    assert set(services) == {"mariadb", "redis", "setup", *PROCESSES, *sentinel}
    # The Sentinel profile's services start only when it is asked for.
    assert {name for name, service in services.items() if service.get("profiles")} == sentinel
    for name in ("mariadb", "redis", *PROCESSES):
        assert "healthcheck" in services[name], name
    for name in PROCESSES:
        depends = services[name]["depends_on"]
        assert depends["setup"]["condition"] == "service_completed_successfully"
        assert depends["mariadb"]["condition"] == "service_healthy"


def test_compose_scales_the_worker_and_its_sentinels_watch_its_redis():
    services = COMPOSE["services"]
    assert services["worker"]["deploy"]["replicas"] == "${WORKER_REPLICAS:-2}"
    assert services["redis-replica"]["command"][-3:] == ["--replicaof", "redis", "6379"]
    monitor = "sentinel monitor libdash redis 6379 2"
    assert monitor in services["sentinel-1"]["command"][2].replace("\n ", "\n")


def test_a_worker_of_its_own_takes_the_live_queue_and_the_other_both():
    """Today's counts never wait for a worker busy with builds; the other worker helps them."""
    live, worker = procfile()["live"], procfile()["worker"]
    assert live[live.index("--queues") + 1] == services.LIVE_QUEUE
    assert live[live.index("--hostname") + 1].startswith("live@")  # not celery@: a node each
    assert "--queues" not in worker and "-Q" not in worker


def test_compose_runs_the_procfile_commands():
    for name, argv in procfile().items():
        assert normalise(COMPOSE["services"][name]["command"]) == normalise(argv), name


def test_what_keep_running_restarts_under_honcho_docker_restarts_too():
    for name, argv in procfile().items():
        if argv[0] == "scripts/keep-running":
            assert COMPOSE["services"][name]["restart"] == "unless-stopped", name


def test_the_image_runs_as_a_non_root_user_and_defaults_to_web():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert users and users[-1] not in {"root", "0"}
    cmd = json.loads(re.findall(r"^CMD (\[.*\])$", dockerfile, re.M)[-1])
    assert normalise(cmd) == normalise(procfile()["web"])


def test_the_service_reads_the_library_as_a_select_only_user():
    environment = COMPOSE["x-service"]["environment"]
    assert environment["LIBRARY_DATABASE_URL"].startswith("mysql://dashboard:")
    init = (ROOT / "docker" / "mariadb-init" / "10-databases.sh").read_text()
    grants = re.findall(r"GRANT (.+?) ON slims\.\* TO 'dashboard'", init)
    assert grants == ["SELECT"]


def test_readme_documents_the_same_commands():
    readme = (ROOT / "README.md").read_text()
    assert "docker compose -f docker/compose.yaml up --build" in readme
    assert "./scripts/run" in readme and "./scripts/test" in readme
    run = (ROOT / "scripts" / "run").read_text()
    assert re.search(r"honcho\"? --procfile Procfile start", run)


def test_the_image_collects_static_files_for_whitenoise():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    assert re.search(r"^ENV .*STATIC_ROOT=/app/static", final_stage, re.M)
    collect = re.search(r"^RUN .*python -m django collectstatic --noinput", final_stage, re.M)
    install = re.search(r"^RUN pip install .*/wheels", final_stage, re.M)
    assert collect and install and install.start() < collect.start()


def test_the_containers_read_the_same_env_file_as_scripts_run():
    env_files = COMPOSE["x-service"]["env_file"]
    assert env_files[0] == "defaults.env" and (ROOT / "docker" / "defaults.env").is_file()
    assert {"path": "../.env", "required": False} in env_files  # optional, later entries win
    # Only the containers' wiring is pinned; every other setting comes from .env.
    assert set(COMPOSE["x-service"]["environment"]) == {
        "DJANGO_SETTINGS_MODULE", "LIBRARY_DATABASE_URL", "DATABASE_URL", "REDIS_URL", "DATA_DIR",
    }  # fmt: skip
