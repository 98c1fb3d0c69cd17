"""With a real Celery worker: a job whose message a worker popped and died with is sent again by
the sweep and run; the messages a worker received, or discarded as expired, are struck out."""

from __future__ import annotations

import re
import time

import pytest

from bench.harness.processes import service_env, start_worker, stop, wait_for
from metrics_cache.base import keys
from metrics_cache.operations import transit
from metrics_cache.reports.tasks import copy_report_lookups, refresh_circulation


def written_down(broker) -> set[str]:
    return {i.decode() for i in broker.hkeys(keys.in_transit("messages"))}


@pytest.mark.django_db(databases=["default", "library"], transaction=True)
def test_a_job_popped_by_a_dead_worker_runs_all_the_same(library, broker, tmp_path):
    lost = copy_report_lookups.apply_async()
    expired = refresh_circulation.apply_async(expires=0.5)
    later = refresh_circulation.apply_async()
    broker.rpop("celery")  # popped by a worker killed before it reserved it
    time.sleep(1)  # `expired` is past its expiry when a worker takes it
    log = tmp_path / "worker.log"
    worker = start_worker(service_env(tmp_path / "app.sqlite3"), log)
    try:
        done = re.compile(rb"Task metrics_cache\.refresh_circulation\[" + later.id.encode()
                          + rb"\] succeeded")  # fmt: skip
        wait_for(lambda: done.search(log.read_bytes()), 60, "the later job run")
        wait_for(lambda: not broker.hexists(keys.in_transit("messages"), expired.id), 10,
                 "the expired message struck out")  # fmt: skip
        assert f"Discarding revoked task: {refresh_circulation.name}[{expired.id}]".encode() in (
            log.read_bytes()
        )
        # The worker's start-up jobs are received in their turn: then only the lost one is left.
        wait_for(lambda: written_down(broker) == {lost.id}, 60, "only the lost message left")

        now = time.time()
        assert transit.sweep(now) == []
        [again] = transit.sweep(now + transit.SWEEP_SECONDS)
        ran = re.compile(rb"Task metrics_cache\.copy_report_lookups\[" + again.encode()
                         + rb"\] succeeded")  # fmt: skip
        wait_for(lambda: ran.search(log.read_bytes()), 60, "the lost job run again")
        wait_for(lambda: not broker.hlen(keys.in_transit("messages")), 10, "nothing in transit")
        assert lost.id.encode() not in log.read_bytes(), "the lost message itself never ran"
    finally:
        stop(worker)
