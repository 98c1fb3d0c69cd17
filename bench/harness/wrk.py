"""wrk, the HTTP load generator: its command line and what its --latency report says."""

from __future__ import annotations

import re
import shutil


def require() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not on PATH (Debian: apt-get install -y wrk)")


def command(url: str, *, threads: int, connections: int, seconds: int, headers=()) -> list[str]:
    headers = [part for header in headers for part in ("-H", header)]
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", *headers, url]


def to_ms(value: str) -> float:
    """wrk's `123.45us` / `1.23ms` / `1.02s` / `1.50m` in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def parse(output: str) -> dict:
    """Requests, requests/s, p50/p90/p99/max in ms, statuses >= 400 and socket errors."""

    def find(pattern: str, default: str = "0") -> str:
        match = re.search(pattern, output, re.MULTILINE)
        return match.group(1) if match else default

    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "requests": int(find(r"(\d+) requests in")),
        "rps": float(find(r"Requests/sec:\s+([\d.]+)")),
        "p50": to_ms(find(r"^\s*50%\s+(\S+)", "0ms")),
        "p90": to_ms(find(r"^\s*90%\s+(\S+)", "0ms")),
        "p99": to_ms(find(r"^\s*99%\s+(\S+)", "0ms")),
        "max": to_ms(find(r"Latency\s+\S+\s+\S+\s+(\S+)", "0ms")),
        "over_399": int(find(r"Non-2xx or 3xx responses:\s+(\d+)")),
        "socket_errors": sum(int(n) for n in socket.groups()) if socket else 0,
    }
