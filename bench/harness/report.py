"""How the benchmarks report: progress on stderr, Markdown on stdout, and the figures in it."""

from __future__ import annotations

import sys


def log(message: str) -> None:
    """Progress, on stderr (stdout carries only the report)."""
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), by linear interpolation between closest ranks (numpy's
    default); nan for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spread(values: list[float]) -> str:
    """`min-max`, in whole units with thousands separators."""
    return f"{min(values):,.0f}-{max(values):,.0f}"


def command_line(module: str) -> str:
    """The command that ran this benchmark, as it would be typed at the repository's root."""
    return f"python -m {module}" + "".join(f" {arg}" for arg in sys.argv[1:])
