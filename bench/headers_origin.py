"""The fast path's header composition (metrics_cache.serving.headers.as_django) for a request
with an allowed Origin, this checkout against another revision's, in alternating rounds (a
machine's speed drifts; only alternating runs compare).

    python -m bench.headers_origin --before <revision> [--rounds 20] [--calls 20000]

Prints the minimum and median microseconds per call of each, and their ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness.processes import ROOT

# Where the module lives in a revision: metrics_cache/serving/, or metrics_cache/ in older ones.
PATHS = ("metrics_cache/serving/headers.py", "metrics_cache/headers.py")
ORIGIN = "https://perpustakaan.example.ac.id"


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def revision_source(revision: str) -> str:
    for path in PATHS:
        shown = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=ROOT,
                               capture_output=True, text=True)  # fmt: skip
        if shown.returncode == 0:
            return shown.stdout
    sys.exit(f"{revision} has none of {', '.join(PATHS)}")


def per_call(module, scope, view_headers, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        module.as_django(scope, view_headers, b"{}")
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.headers_origin", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--before", required=True, help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ["CORS_ALLOWED_ORIGINS"] = ORIGIN
    import django

    django.setup()
    from metrics_cache.serving import headers as after

    source = revision_source(args.before)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "headers_before.py")
        path.write_text(source)
        before = load(path, "headers_before")
    scope = {"scheme": "http", "headers": [(b"host", b"127.0.0.1"), (b"origin", ORIGIN.encode()),
                                           (b"accept-language", b"id")]}  # fmt: skip
    view_headers = {"ETag": '"x"', "Cache-Control": "public, max-age=60", "Vary": "Cookie"}
    assert before.as_django(scope, view_headers, b"{}") == after.as_django(
        scope, view_headers, b"{}"
    ), "the two revisions answer differently"
    times: dict[str, list[float]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        times["before"].append(per_call(before, scope, view_headers, args.calls))
        times["after"].append(per_call(after, scope, view_headers, args.calls))
    for name, values in times.items():
        print(f"{name:7} min {min(values):6.2f} us  median {statistics.median(values):6.2f} us")
    lowest = min(times["after"]) / min(times["before"])
    middle = statistics.median(times["after"]) / statistics.median(times["before"])
    print(f"ratio after/before: min {lowest:.3f}, median {middle:.3f}")


if __name__ == "__main__":
    main()
