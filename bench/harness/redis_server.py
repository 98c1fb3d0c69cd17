"""The Redis databases a benchmark empties and uses, on a private redis-server when needed."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from bench.harness.processes import start_redis, stop
from bench.harness.report import log


def databases(url: str) -> int:
    """How many databases the server at `url` has (0 when it cannot be asked)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        return int(client.config_get("databases")["databases"])
    except Exception as exc:  # unreachable, or CONFIG disabled
        log(f"CONFIG GET databases on {url} failed: {exc}")
        return 0
    finally:
        client.close()


def two_empty_databases(url: str, own_port: int, data_dir: Path):
    """The cache database of `url` and the next one (Celery's broker), both emptied. When that
    server has too few databases, a private redis-server on `own_port` (databases 0 and 1, no
    persistence, its log in `data_dir`). Returns the cache database's URL and the private server
    (None when `url`'s is used); stop it with stop_private()."""
    import redis

    private = None
    db = int(urlsplit(url).path.strip("/") or 0)
    available = databases(url)
    if available < db + 2:
        log(f"{url}: {available} databases, {db + 2} needed; starting a private one")
        private = start_redis(own_port, data_dir / "redis.log")
        url = f"redis://127.0.0.1:{own_port}/0"
    cache_db = int(urlsplit(url).path.strip("/") or 0)
    base = url.rsplit("/", 1)[0]
    for number in (cache_db, cache_db + 1):
        client = redis.Redis.from_url(f"{base}/{number}")
        client.flushdb()
        client.close()
    return url, private


def stop_private(private: subprocess.Popen | None) -> None:
    if private is not None:
        stop(private)
        log("private redis-server stopped")


def version(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return client.info("server")["redis_version"]
    finally:
        client.close()
