"""scripts/keep-running: the Procfile's worker comes back after it exits on its own, stops when
honcho stops it, and does not restart for ever a command that cannot start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from bench.harness.processes import free_port, start_redis, wait_for

ROOT = Path(__file__).resolve().parents[2]
KEEP_RUNNING = str(ROOT / "scripts" / "keep-running")


def keep_running(command: list[str], log: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [KEEP_RUNNING, *command],
        cwd=ROOT,
        env={**os.environ, "KEEP_RUNNING_PAUSE_SECONDS": "0", **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as honcho starts each process
    )


def stopped(process: subprocess.Popen, signal_number: int, *, group: bool) -> int:
    if group:
        os.killpg(process.pid, signal_number)
    else:
        process.send_signal(signal_number)
    try:
        return process.wait(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def test_a_command_that_cannot_start_is_tried_a_few_times_then_given_up(tmp_path):
    runs = tmp_path / "runs"
    process = keep_running(
        ["sh", "-c", f"echo run >> {runs}; exit 3"], tmp_path / "log", KEEP_RUNNING_TRIES="3"
    )
    try:
        assert process.wait(timeout=20) == 3
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert runs.read_text().count("run") == 3
    log = (tmp_path / "log").read_text()
    assert log.count("starting it again") == 2
    assert "exited (status 3) 3 times in a row within 30 s of starting; giving up" in log


def test_a_command_that_ran_a_while_is_restarted_every_time_it_exits(tmp_path):
    """Only exits soon after a start count towards giving up: a worker that crashes after
    running a while (here 1.5 s, with 1 s as "soon") is always started again."""
    runs = tmp_path / "runs"
    process = keep_running(
        ["sh", "-c", f"echo run >> {runs}; sleep 1.5; exit 1"],
        tmp_path / "log",
        KEEP_RUNNING_TRIES="2",
        KEEP_RUNNING_QUICK_SECONDS="1",
    )
    try:
        wait_for(lambda: runs.exists() and runs.read_text().count("run") >= 3, 20, "three runs")
        assert process.poll() is None, "it gave up on a command that ran a while each time"
    finally:
        assert stopped(process, signal.SIGTERM, group=True) != 0


def test_stopping_the_group_or_the_script_stops_the_command_and_the_loop(tmp_path):
    for group in (True, False):
        pid_file = tmp_path / f"pid-{group}"
        process = keep_running(
            ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 60"], tmp_path / "log"
        )
        try:
            wait_for(lambda f=pid_file: f.exists() and f.read_text().strip(), 10, "the command")
            command_pid = int(pid_file.read_text())
        finally:
            status = stopped(process, signal.SIGTERM, group=group)
        assert status == 128 + signal.SIGTERM
        wait_for(lambda p=command_pid: not Path(f"/proc/{p}").exists(), 10, "the command gone")
        assert "starting it again" not in (tmp_path / "log").read_text()


def test_the_celery_worker_comes_back_after_it_dies(tmp_path):
    """The Procfile's worker under keep-running: its main process killed (as when it exits
    with "Unrecoverable error" after a Redis restart), a new worker connects and is ready."""
    port = free_port()
    redis_server = start_redis(port, tmp_path / "redis.log")
    log = tmp_path / "worker.log"
    env = {
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
        "KEEP_RUNNING_PAUSE_SECONDS": "0",
    }
    worker = keep_running(
        [sys.executable, "-m", "celery", "--app", "config", "worker", "--pool", "solo",
         "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        log, **env,
    )  # fmt: skip
    try:
        wait_for(lambda: log.read_bytes().count(b"ready.") == 1, 60, "the worker ready")
        first = _worker_pid(worker.pid)
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: log.read_bytes().count(b"ready.") == 2, 60, "a new worker ready")
        assert b"exited (status 137); starting it again" in log.read_bytes()
        assert _worker_pid(worker.pid) != first
    finally:
        stopped(worker, signal.SIGTERM, group=True)
        redis_server.terminate()
        redis_server.wait(timeout=10)


def _worker_pid(script_pid: int) -> int:
    with open(f"/proc/{script_pid}/task/{script_pid}/children") as children:
        (pid,) = [int(child) for child in children.read().split()]
    return pid
