"""SSE fan-out: many clients on one web process, updates timed from a visit and from a publish.

    python -m bench.sse_fanout [--database-url mysql://root@127.0.0.1:3306/bench_slims_5m]
                               [--redis-url redis://127.0.0.1:6379/20] [--clients 1000]
                               [--rounds 10] [--fanout-rounds 20] [--web-nofile 8192]
                               [--web-app bench.baselines.bare_sse:application]
                               (--help lists the rest)

Web (the Procfile's `web` line under `ulimit -n`), worker and beat (their Procfile lines) run
with TODAY_COUNT_MODE=delta, VISITOR_SYNC_MIN_INTERVAL_MS=--interval-ms and
VISITOR_SYNC_BUFFER_MS=0. --clients raw HTTP/1.1 SSE clients in this process (asyncio) wait for
`init` and `stream-open`; then --rounds rounds insert one visit dated now (library local time)
and time the `update` carrying the new total at every client; then --fanout-rounds rounds
publish an update straight on the Redis channel (pure fan-out, no tick). The web process's RSS,
threads and descriptors are read before the clients connect, with all connected, and after they
disconnect. With --web-app, that ASGI app runs on the same server in place of the service's web
process (the worker and beat still publish the count).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time

from bench import sse_rounds
from bench.harness import proc
from bench.harness.live_service import add_arguments as add_service_arguments
from bench.harness.live_service import header, live_service
from bench.harness.processes import free_port
from bench.harness.report import command_line, percentile
from bench.harness.services import (
    Service,
    path_with_venv,
    procfile,
    signals_end_the_run,
    wait_healthy,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10, help="end-to-end insert rounds")
    parser.add_argument("--fanout-rounds", type=int, default=20)
    parser.add_argument("--port", type=int, default=0, help="web port (0: a free one)")
    parser.add_argument("--web-nofile", type=int, default=8192, help="`ulimit -n` for daphne")
    parser.add_argument("--connect-concurrency", type=int, default=100)
    parser.add_argument("--connect-timeout", type=float, default=120)
    parser.add_argument("--update-timeout", type=float, default=10)
    parser.add_argument("--gap-min", type=float, default=0.5, help="seconds between rounds")
    parser.add_argument("--gap-max", type=float, default=1.5)
    parser.add_argument("--fanout-gap", type=float, default=0.5)
    parser.add_argument("--disconnect-wait", type=float, default=15)
    parser.add_argument("--start-timeout", type=float, default=90)
    parser.add_argument(
        "--allow-prewarm",
        action="store_true",
        help="let the worker's start-up prewarm (the full daily refresh) run during the rounds",
    )
    parser.add_argument(
        "--web-app",
        help="an ASGI app served by `python -m config.daphne` in place of the service's web "
        "process (bench.baselines.bare_sse:application: the fan-out yardstick)",
    )


def enough_descriptors(clients: int) -> None:
    """This process holds one socket per client."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = clients + 1024
    if soft < wanted:
        new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))


def wait_first_count(client, services: list[Service], started: float, timeout: float) -> bytes:
    """The fast loop's first published count of the real local day."""
    from metrics_cache.base import keys

    while (raw := client.get(keys.today_count())) is None:
        if time.monotonic() - started > timeout:
            raise RuntimeError("the fast loop published nothing; see worker.log and beat.log")
        if any(service.process.poll() is not None for service in services):
            raise RuntimeError("a service exited early; see its log")
        time.sleep(0.25)
    return raw


def run(args: argparse.Namespace, env: dict[str, str], visits, data_dir) -> dict:
    import redis
    from django.conf import settings

    from metrics_cache.base import keys

    lines = procfile()
    port = args.port or free_port()
    env = {**os.environ, **env, "WEB_PORT": str(port), "PATH": path_with_venv()}
    client = redis.Redis.from_url(settings.REDIS_URL)
    if not args.allow_prewarm:
        # The worker's start-up prewarm (the whole daily refresh) would run during the
        # measurement; the key says it was already queued by another worker.
        client.set(keys.prewarm_boot(), 1, ex=keys.PREWARM_BOOT_WINDOW_SECONDS)
    client.delete(keys.today_count(), keys.today_delta_state(), keys.today_loop_status())
    web_command = f"ulimit -n {args.web_nofile} && {lines['web']}"
    if args.web_app:  # a yardstick in place of the service's web process, on the same server
        web_command = (f"ulimit -n {args.web_nofile} && python -m config.daphne --port "
                       f"{port} -v 0 {args.web_app}")  # fmt: skip
        env.update(BARE_REDIS_URL=settings.REDIS_URL, BARE_CHANNEL=keys.today_events_channel(),
                   BARE_TODAY_KEY=keys.today_count())  # fmt: skip
    services: list[Service] = []
    result: dict = {"port": port, "commands": {}}
    try:
        for name, command in (("worker", lines["worker"]), ("beat", lines["beat"]),
                              ("web", web_command)):  # fmt: skip
            result["commands"][name] = command
            services.append(Service(name, command, env, data_dir / f"{name}.log"))
        web = services[-1]
        started = time.monotonic()
        result["health_s"] = wait_healthy(f"http://127.0.0.1:{port}", services, args.start_timeout)
        raw = wait_first_count(client, services, started, args.start_timeout)
        result["first_count"] = json.loads(raw)
        result["first_count_s"] = time.monotonic() - started
        web_pid = web.main_pid("daphne")
        if web_pid is None:
            raise RuntimeError("no daphne process found in the web session")
        result["web_pid"] = web_pid
        result["web_nofile"] = proc.max_open_files(web_pid)
        time.sleep(2)
        channel = keys.today_events_channel()
        result.update(
            asyncio.run(sse_rounds.rounds(args, port, web_pid, visits, channel, settings.REDIS_URL))
        )
        result["channel"] = channel
        result["web_alive"] = web.process.poll() is None
    finally:
        for service in reversed(services):
            service.stop()
        client.close()
    return result


def summary(bench: dict, args: argparse.Namespace) -> str:
    init_open = bench["init_to_open_ms"]
    return (
        f"web: `{bench['commands']['web']}` (WEB_PORT={bench['port']}, daphne pid "
        f"{bench['web_pid']}, max open files {bench['web_nofile']}); worker: "
        f"`{bench['commands']['worker']}`; beat: `{bench['commands']['beat']}`. "
        f"/health 200 after {bench['health_s']:.1f} s; first count published after "
        f"{bench['first_count_s']:.1f} s (total {bench['first_count']['total']}).\n\n"
        f"{args.clients:,} clients connected (init and stream-open received) in "
        f"{bench['connect_s']:.1f} s, at most {args.connect_concurrency} connecting at once; "
        f"init totals seen: {bench['init_totals']}; init -> stream-open p50 "
        f"{percentile(init_open, 50):.0f} ms, max {max(init_open, default=0):.0f} ms. Errors "
        f"during the rounds: {len(bench['errors_during'])}; streams closed by the server: "
        f"{bench['closed_early']}; update events per client (median): "
        f"{bench['updates_per_client']:.0f}; web alive at the end: {bench['web_alive']}."
    )


def latency_row(label: str, rounds: list[dict], clients: int, notes: str) -> str:
    latencies = [value for one in rounds for value in one["latencies"]]
    lasts = [max(one["latencies"]) for one in rounds if one["latencies"]]
    missed = sum(one["missed"] for one in rounds)
    return (
        f"| {label} | {len(rounds)} | {len(latencies):,} / {len(rounds) * clients:,} "
        f"| {missed:,} | {percentile(latencies, 50):,.0f} | {percentile(latencies, 99):,.0f} "
        f"| {max(latencies, default=float('nan')):,.0f} | {percentile(lasts, 50):,.0f} "
        f"| {percentile(lasts, 99):,.0f} | {max(lasts, default=float('nan')):,.0f} "
        f"| {notes} |"
    )


def tables(bench: dict, clients: int) -> str:
    e2e, fanout = bench["e2e"], bench["fanout"]
    publish = [one["publish_ms"] for one in e2e if one["publish_ms"] is not None]
    after_publish = [value for one in e2e for value in one["after_publish_ms"]]
    ticks = [one["tick_ms"] for one in e2e if one["tick_ms"] is not None]
    e2e_notes = (
        f"insert to publish (generated_at): p50 {percentile(publish, 50):,.0f}, "
        f"max {max(publish, default=float('nan')):,.0f}; publish to client: p50 "
        f"{percentile(after_publish, 50):,.0f}, p99 {percentile(after_publish, 99):,.0f}; "
        f"tick (loop status) p50 {percentile(ticks, 50):,.1f}"
    )
    fanout_notes = (
        f"web CPU {bench['fanout_web_cpu_ms'] / len(fanout):,.0f} ms per update, "
        f"load generator CPU {bench['fanout_client_cpu_ms'] / len(fanout):,.0f} ms per update"
    )
    lines = [
        "| what | rounds | updates received / expected | missed | p50 ms | p99 ms | max ms "
        "| last client p50 ms | last client p99 ms | last client max ms | notes (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        latency_row("insert a visit -> `update` (end to end)", e2e, clients, e2e_notes),
        latency_row(
            "publish on the Redis channel -> `update` (pure fan-out)", fanout, clients, fanout_notes
        ),
        "",
        "| web process (daphne) | VmRSS | threads | open fds |",
        "|---|---:|---:|---:|",
    ]
    for label, kib in bench["rss_kib"].items():
        fds = bench["fds"].get(label, "-")
        threads = bench["threads"].get(label, "-")
        lines.append(f"| {label} | {kib / 1024:,.1f} MiB | {threads} | {fds} |")
    closed = (
        f"(all client sockets closed {bench['sockets_closed_s']:.1f} s after the disconnect"
        if not bench["sockets_left"]
        else f"({bench['sockets_left']} client sockets still open after "
        f"{bench['sockets_closed_s']:.1f} s"
    )
    lines += [
        "",
        "Sockets daphne holds (what: count): with the clients connected "
        f"{bench['sockets_connected']}; after they disconnected {bench['sockets_after']} "
        f"{closed}; RSS and fds read 2 s later).",
    ]
    return "\n".join(lines)


def report(bench: dict, args: argparse.Namespace) -> str:
    return (
        f"## SSE fan-out: {args.clients:,} clients on one web process\n\n"
        f"{summary(bench, args)}\n\n{tables(bench, args.clients)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sse_fanout",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_service_arguments(parser)
    add_arguments(parser)
    args = parser.parse_args()
    signals_end_the_run()
    enough_descriptors(args.clients)
    with live_service(args) as live:
        try:
            bench = run(args, live.env, live.visits, live.data_dir)
        finally:
            live.visits.delete_all()
        print(header(live, args, command_line("bench.sse_fanout")))
    print()
    print(report(bench, args))


if __name__ == "__main__":
    main()
