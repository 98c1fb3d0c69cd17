"""GET /api/libraries's listing for many libraries, in one process against Redis:
`.venv/bin/python -m bench.libraries_listing --libraries 500 --repeat 50`.

The libraries are made up (their databases are never opened: the listing reads Redis alone);
each gets a published count and a fast loop's status, so every branch of the listing runs.
Prints the median and the p99 of one listing, in milliseconds, as Markdown."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libraries", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.utils import timezone

    from config.libraries import Library
    from metrics_cache.base import keys
    from metrics_cache.base.redis import client
    from metrics_cache.network.states import listing

    home = settings.LIBRARIES[0]
    made_up = [
        Library(f"sch-{n:03d}", f"SD Negeri {n}", {}, "Asia/Jakarta", None,
                alias=f"library-sch-{n:03d}", service_alias=f"service-sch-{n:03d}")
        for n in range(1, args.libraries)
    ]  # fmt: skip
    for library in made_up:
        settings.DATABASES[library.alias] = {
            "ENGINE": "django.db.backends.mysql", "HOST": "10.0.0.1", "NAME": library.slug,
        }  # fmt: skip
    settings.LIBRARIES = [home, *made_up]
    redis, now = client(), timezone.now()
    for library in settings.LIBRARIES:
        count = {"total": 7, "date": timezone.localdate().isoformat()}
        redis.set(keys.today_count(library), json.dumps(count), ex=600)
        status = {"error": "", "last_success_at": now.isoformat()}
        redis.hset(keys.today_loop_status(library), mapping=status)
        redis.expire(keys.today_loop_status(library), 600)
    listing()  # warm: each library's keys worked out once
    took = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        listing()
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
    median = statistics.median(took)
    print("| libraries | median | p99 |\n|---:|---:|---:|")
    print(f"| {len(settings.LIBRARIES)} | {median:.1f} ms | {p99:.1f} ms |")


if __name__ == "__main__":
    main()
