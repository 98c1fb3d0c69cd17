"""What one job costs a worker process that serves many libraries: a group's tick of the fast
loop and each nightly job of a library, run in this process as a worker runs them (the Celery
app's Django fix-up closing connections before and after each task, every library's database
aliases initialised as in a worker that has served them all), on a network bench.network built.

  .venv/bin/python -m bench.worker_jobs --work <bench.network's --work> --prefix tiny

The network's SQLite files are written as the jobs write them; Redis is the given database,
emptied first. Run one revision after another (a worktree for the earlier one) and alternate.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.harness.in_process import parser, set_up
from bench.harness.report import log
from bench.network import NIGHTLY


def parse_args() -> argparse.Namespace:
    found = parser(__doc__, sample=10, sample_help="libraries whose nightly is run",
                   rounds=3, rounds_help="measured rounds (one more first)")  # fmt: skip
    found.add_argument("--ticks", type=int, default=30, help="group ticks measured")
    return found.parse_args()


def main() -> None:
    args = parse_args()
    set_up(args)
    import logging

    logging.disable(logging.INFO)
    import redis
    from celery.fixups.django import DjangoFixup
    from django.conf import settings
    from django.db import connections

    from config.celery import app
    from config.library import all_libraries
    from metrics_cache.today.groups import group_count
    from metrics_cache.today.tasks import sync_today_group

    redis.Redis.from_url(args.redis_url).flushdb()
    fixup = next(f for f in app._fixups if isinstance(f, DjangoFixup)).worker_fixup
    for alias in settings.DATABASES:  # a worker that has served every library
        connections[alias]

    def as_a_worker_runs(task, **options) -> float:
        started = time.perf_counter()
        fixup.close_database()  # task_prerun
        task.apply(**options).get()
        fixup.close_database()  # task_postrun
        return time.perf_counter() - started

    libraries = all_libraries()
    groups = group_count(len(libraries))
    ticked = len(libraries[0::groups])
    ticks = [as_a_worker_runs(sync_today_group, args=[0, groups]) for _ in range(args.ticks + 3)]
    tick = statistics.median(ticks[3:])
    jobs: dict[str, list[float]] = {f"{name} {a}": [] for name, a in NIGHTLY}
    for number in range(args.rounds + 1):
        for library in libraries[: args.sample]:
            for name, job_args in NIGHTLY:
                spent = as_a_worker_runs(
                    app.tasks[name], args=job_args, kwargs={"library": library.slug}
                )
                if number:
                    jobs[f"{name} {job_args}"].append(spent)
    lines = [
        "",
        f"Command: `.venv/bin/python -m bench.worker_jobs --work <dir> --prefix {args.prefix} "
        f"--libraries {args.libraries} --sample {args.sample} --rounds {args.rounds} "
        f"--ticks {args.ticks}`; {len(settings.DATABASES)} database aliases.",
        "",
        "| job | median | mean |",
        "|---|---:|---:|",
        f"| a group's tick ({ticked} libraries) | {tick * 1000:.0f} ms "
        f"({tick * 1000 / ticked:.1f} ms a library) | {statistics.mean(ticks[3:]) * 1000:.0f} ms |",
    ]
    for job, spent in jobs.items():
        lines.append(
            f"| {job} | {statistics.median(spent) * 1000:.1f} ms "
            f"| {statistics.mean(spent) * 1000:.1f} ms |"
        )
    total = sum(statistics.mean(spent) for spent in jobs.values())
    lines.append(f"| a library's nightly jobs together (means) | | {total * 1000:.0f} ms |")
    log("\n".join(lines))


if __name__ == "__main__":
    main()
