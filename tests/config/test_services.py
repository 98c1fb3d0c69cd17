"""Redis as the broker reaches it: the options kombu's Redis transport is given are the ones
its channels run with (it drops a name it does not know without a word)."""

from __future__ import annotations

from celery import current_app
from kombu import Connection

from config import services


def test_a_lost_worker_s_jobs_are_looked_for_every_few_seconds_and_handed_over_within_a_minute(
    settings,
):
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    with Connection(settings.CELERY_BROKER_URL, transport_options=options) as connection:
        channel = connection.default_channel
        # A message reserved by a worker that died is handed to another once its visibility
        # timeout is over, at the next look for such messages: within a minute in all.
        sweep = channel.connection.client.transport_options["unacked_restore_interval"]
        looks_every = sweep * channel.unacked_restore_throttle
        assert channel.visibility_timeout + looks_every <= 60
        assert channel.visibility_timeout == services.VISIBILITY_TIMEOUT_SECONDS
        assert looks_every == services.RESTORE_SWEEP_SECONDS


def test_workers_reserve_one_message_per_process_and_the_fast_loop_has_its_own_queue():
    conf = current_app.conf
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert {queue.name for queue in conf.task_queues} == {
        "celery", services.LIVE_QUEUE, services.BUILD_QUEUE,
    }  # fmt: skip
    route = current_app.amqp.router.route({}, "metrics_cache.sync_today_group")
    assert route["queue"].name == services.LIVE_QUEUE
    assert current_app.amqp.router.route({}, "metrics_cache.fold_rollups")["queue"].name == (
        "celery"
    )
