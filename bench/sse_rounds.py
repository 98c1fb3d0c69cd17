"""The client side of bench/sse_fanout.py: connect every client, then time the update rounds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import resource
import statistics
import time
from datetime import datetime

from bench.harness import proc, sse
from bench.harness.report import log
from bench.harness.visits import MarkedVisits


def snapshot(result: dict, label: str, pid: int) -> None:
    """The web process's RSS, threads and descriptors, under `label`."""
    result["rss_kib"][label] = proc.rss_kib(pid)
    result["threads"][label] = proc.threads(pid)
    result["fds"][label] = proc.open_fds(pid)


def wall_of(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


async def connect_all(args, port: int, hub: sse.Hub, writers: list) -> tuple[list, float]:
    gate = asyncio.Semaphore(args.connect_concurrency)
    started = time.monotonic()
    tasks = [
        asyncio.create_task(sse.client(index, port, hub, gate, writers))
        for index in range(args.clients)
    ]
    while not hub.all_open.is_set():
        if len(hub.errors) + len(hub.closed_early) + len(hub.open_at) >= args.clients:
            break
        if time.monotonic() - started > args.connect_timeout:
            break
        await asyncio.sleep(0.05)
    return tasks, time.monotonic() - started


async def end_to_end(args, hub, redis, visits: MarkedVisits, zone, total: int) -> list[dict]:
    """Rounds that insert one visit dated now and wait for the update with the new total."""
    from metrics_cache.base import keys

    wall_offset = time.time() - time.monotonic()
    rounds = []
    for number in range(1, args.rounds + 1):
        await asyncio.sleep(random.uniform(args.gap_min, args.gap_max))
        hub.start_round(total + 1)
        insert_wall = time.time()
        visitor_id = visits.insert(datetime.now(zone).replace(tzinfo=None))
        inserted = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hub.round_done.wait(), args.update_timeout)
        latencies = [(at - inserted) * 1000 for at in hub.arrivals.values()]
        generated = wall_of(hub.generated_at)
        status = await redis.hgetall(keys.today_loop_status())
        tick_ms = status.get(b"last_duration_ms", b"").decode()
        rounds.append(
            {
                "latencies": latencies,
                "missed": args.clients - len(hub.arrivals),
                "publish_ms": (generated - insert_wall) * 1000 if generated else None,
                "after_publish_ms": [
                    (at + wall_offset - generated) * 1000 for at in hub.arrivals.values()
                ]
                if generated
                else [],
                "tick_ms": float(tick_ms) if tick_ms else None,
            }
        )
        log(
            f"round {number}: visitor_id {visitor_id}, total {total + 1}: "
            f"{len(hub.arrivals)}/{args.clients} clients, "
            f"first {min(latencies, default=float('nan')):.0f} ms, "
            f"last {max(latencies, default=float('nan')):.0f} ms, tick {tick_ms} ms"
        )
        total += 1
    hub.expected = None
    return rounds


async def pure_fanout(args, hub, redis, channel: str, zone) -> list[dict]:
    """Rounds that publish an update straight on the channel: no tick, no database."""
    fanout = []
    for number in range(1, args.fanout_rounds + 1):
        await asyncio.sleep(args.fanout_gap)
        fake = 10_000_000 + number
        hub.start_round(fake)
        generated_at = datetime.now(zone).isoformat(timespec="milliseconds")
        published_at = time.monotonic()
        await redis.publish(channel, json.dumps({"total": fake, "generated_at": generated_at}))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hub.round_done.wait(), args.update_timeout)
        latencies = [(at - published_at) * 1000 for at in hub.arrivals.values()]
        fanout.append({"latencies": latencies, "missed": args.clients - len(hub.arrivals)})
        log(
            f"fan-out {number}: {len(hub.arrivals)}/{args.clients} clients, "
            f"last {max(latencies, default=float('nan')):.0f} ms"
        )
    hub.expected = None
    return fanout


async def rounds(args, port: int, web_pid: int, visits: MarkedVisits, channel: str, redis_url):
    from zoneinfo import ZoneInfo

    import redis.asyncio as aioredis
    from django.conf import settings

    from metrics_cache.base import keys

    zone = ZoneInfo(settings.LIBRARY_TIME_ZONE)
    hub = sse.Hub(args.clients)
    writers: list = [None] * args.clients
    result: dict = {"rss_kib": {}, "fds": {}, "threads": {}}
    snapshot(result, "before clients connect", web_pid)
    redis = aioredis.Redis.from_url(redis_url)
    tasks: list = []
    try:
        tasks, connected_s = await connect_all(args, port, hub, writers)
        log(
            f"{len(hub.init_at)} clients got init, {len(hub.open_at)} stream-open in "
            f"{connected_s:.1f} s; {len(hub.errors)} errors"
        )
        if len(hub.open_at) < args.clients:
            sample = list(hub.errors.values())[:3]
            raise RuntimeError(f"only {len(hub.open_at)} clients connected; errors: {sample}")
        result["connect_s"] = connected_s
        result["init_to_open_ms"] = [
            (hub.open_at[i] - hub.init_at[i]) * 1000 for i in hub.open_at if i in hub.init_at
        ]
        init_totals = set(hub.init_total.values())
        result["init_totals"] = sorted(init_totals, key=lambda value: (value is None, value))
        await asyncio.sleep(2)
        snapshot(result, f"{args.clients:,} connected", web_pid)
        result["sockets_connected"] = proc.server_sockets(web_pid, port)

        total = json.loads(await redis.get(keys.today_count()))["total"]
        if init_totals != {total}:
            log(f"init totals {init_totals} differ from the published {total}")
        result["e2e"] = await end_to_end(args, hub, redis, visits, zone, total)

        await asyncio.sleep(1)
        cpu_before = proc.cpu_seconds(web_pid)
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        result["fanout"] = await pure_fanout(args, hub, redis, channel, zone)
        self_after = resource.getrusage(resource.RUSAGE_SELF)
        result["fanout_web_cpu_ms"] = (proc.cpu_seconds(web_pid) - cpu_before) * 1000
        result["fanout_client_cpu_ms"] = (
            self_after.ru_utime + self_after.ru_stime - self_before.ru_utime - self_before.ru_stime
        ) * 1000
        snapshot(result, "after the rounds", web_pid)
        result["errors_during"] = dict(hub.errors)
        result["closed_early"] = len(hub.closed_early)
        result["updates_per_client"] = statistics.median(len(u) for u in hub.updates)
    finally:
        for writer in writers:
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await redis.aclose()
    # After the disconnect: wait for daphne to close its sockets.
    deadline = time.monotonic() + args.disconnect_wait
    started = time.monotonic()
    while (left := proc.client_sockets(proc.server_sockets(web_pid, port), port)) and (
        time.monotonic() < deadline
    ):
        await asyncio.sleep(0.1)
    result["sockets_closed_s"] = time.monotonic() - started
    result["sockets_left"] = left
    await asyncio.sleep(2)
    snapshot(result, "after they disconnect", web_pid)
    result["sockets_after"] = proc.server_sockets(web_pid, port)
    return result
