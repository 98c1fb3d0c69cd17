"""Benchmarks that compare two ways of one step in a single process set up as a worker serving
a network bench.network built: their arguments, the set-up, and rounds alternating between
the ways (only alternating runs compare on a machine whose speed drifts)."""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable
from pathlib import Path

from bench.harness.report import log
from bench.network_setup import service_env


def parser(doc: str, *, sample: int = 25, sample_help: str = "libraries a round",
           rounds: int = 40, rounds_help: str = "rounds of each, alternating"):  # fmt: skip
    """The arguments every such benchmark takes (the network and its sample)."""
    found = argparse.ArgumentParser(description=doc.splitlines()[0])
    found.add_argument("--work", type=Path, required=True, help="bench.network's --work")
    found.add_argument("--prefix", default="tiny")
    found.add_argument("--libraries", type=int, default=500, help="as bench.network was run")
    found.add_argument("--sample", type=int, default=sample, help=sample_help)
    found.add_argument("--rounds", type=int, default=rounds, help=rounds_help)
    found.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    return found


def arguments(doc: str) -> argparse.Namespace:
    return parser(doc).parse_args()


def set_up(args: argparse.Namespace) -> None:
    """This process as a worker of the network (its libraries file, data and Redis)."""
    name = f"{args.prefix}-{args.libraries}"
    env = service_env(
        args.work / f"libraries-{name}.toml", args.work / f"data-{name}", 6379,
        VISITOR_SYNC_BUFFER_MS="0",
    )  # fmt: skip
    env["REDIS_URL"] = args.redis_url
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()


def alternate(args: argparse.Namespace, module: str, what: str,
              ways: dict[str, Callable[[], float]]) -> None:  # fmt: skip
    """Each way's round (milliseconds an item) in turn, --rounds times; the report's table."""
    spent: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, one_round in ways.items():
            spent[name].append(one_round())
    lines = [
        "",
        f"Command: `.venv/bin/python -m {module} --work <dir> --prefix {args.prefix} "
        f"--sample {args.sample} --rounds {args.rounds}`",
        "",
        f"| {what} | median | first quartile |",
        "|---|---:|---:|",
    ]
    for name, values in spent.items():
        lines.append(f"| {name} | {statistics.median(values):.3f} ms "
                     f"| {statistics.quantiles(values, n=4)[0]:.3f} ms |")  # fmt: skip
    log("\n".join(lines))
