"""Per-module mutation scores from mutmut's results in mutants/ (used by scripts/mutation)."""

from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

DETECTED = ("killed", "timeout", "caught by type check")


def main(patterns: list[str]) -> None:
    print(f"{'module':32} {'mutants':>7} {'killed':>7} {'survived':>8} {'no tests':>8} score")
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        module = ".".join(meta.relative_to("mutants").with_suffix("").with_suffix("").parts)
        if patterns and not any(
            p == module or fnmatch.fnmatch(f"{module}.x", p) or p.startswith(f"{module}.")
            for p in patterns
        ):
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        statuses = Counter(status_by_exit_code[code] for code in codes.values())
        detected = sum(statuses[s] for s in DETECTED)
        checked = len(codes) - statuses["not checked"]
        score = f"{100 * detected / checked:.0f}%" if checked else "-"
        print(
            f"{module:32} {len(codes):>7} {detected:>7} {statuses['survived']:>8} "
            f"{statuses['no tests']:>8} {score:>6}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
