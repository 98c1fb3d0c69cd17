"""With real Celery workers: a worker lost while it held a library's slot (its process and its
children killed, as when its host goes) leaves the jobs handed to it on the library's list;
once the slot's lease has lapsed the sweep sends a job that runs them on another worker."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest

from bench.harness.processes import child_pids, service_env, start_worker, stop, wait_for
from config.services import VISIBILITY_TIMEOUT_SECONDS
from metrics_cache.base import keys
from metrics_cache.base.redis import LEASE_SECONDS, client
from metrics_cache.operations.tasks import resend_lost_messages
from metrics_cache.reports.tasks import copy_report_lookups, refresh_circulation

# The sweep runs every few seconds here (beat's is every 10).
SWEEP_EVERY_SECONDS = 1


def handed_ids() -> list[str]:
    return [json.loads(entry)["id"] for entry in client().lrange(keys.handed_jobs(), 0, -1)]


def lose(process) -> None:
    """SIGKILL to the worker and its pool's processes at once: its host gone."""
    for pid in [*child_pids(process.pid), process.pid]:
        os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.mark.django_db(databases=["default", "library"], transaction=True)
def test_jobs_handed_to_a_lost_worker_s_job_run_on_another(library, broker, tmp_path):
    env = service_env(tmp_path / "app.sqlite3")
    # No start-up jobs: this test sends the library's jobs itself.
    client().set(keys.prewarm_boot(), 1, ex=keys.PREWARM_BOOT_WINDOW_SECONDS)
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    worker_a = start_worker({**env, "SLOW_COPY_SECONDS": "600"}, log_a, name="a@%h",
                            pool=("--concurrency", "2"), app="tests.e2e.slow_copy_app")  # fmt: skip
    worker_b = None
    try:
        holder = copy_report_lookups.apply_async()
        wait_for(lambda: handed_ids() == [holder.id] and client().exists(keys.library_jobs()),
                 30, "the copy holding the library's slot on a")  # fmt: skip
        handed = refresh_circulation.apply_async()
        wait_for(lambda: handed_ids() == [holder.id, handed.id], 30,
                 "the circulation handed to it by a's other process")  # fmt: skip
        assert f"[{handed.id}] succeeded".encode() in log_a.read_bytes(), "it ended on a"
        lose(worker_a)
        lost_at = time.monotonic()
        worker_b = start_worker(env, log_b, name="b@%h")

        def both_ran_on_b() -> bool:
            resend_lost_messages()  # as beat does
            ran = log_b.read_bytes()
            return all(f"[{job.id}] succeeded".encode() in ran for job in (holder, handed))

        wait_for(both_ran_on_b, LEASE_SECONDS + 30, "the lost holder's jobs run on b",
                 SWEEP_EVERY_SECONDS)  # fmt: skip
        recovered = time.monotonic() - lost_at
        # Not before the lost holder's lease lapsed: nobody ran its library's jobs beside it.
        # And before the broker hands the lost holder's own message to b: the sweep ran them.
        assert LEASE_SECONDS / 2 < recovered < VISIBILITY_TIMEOUT_SECONDS
        assert re.search(
            rb"Task metrics_cache\.run_handed_jobs\[.*\] succeeded", log_b.read_bytes()
        )
        assert handed_ids() == [] and not client().exists(keys.library_jobs())
    finally:
        if worker_a.poll() is None:
            lose(worker_a)
        if worker_b is not None:
            stop(worker_b)
