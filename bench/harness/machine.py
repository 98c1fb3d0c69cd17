"""The machine a benchmark ran on: cores, CPU model, memory, and the versions of its tools."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys


def machine() -> dict[str, str]:
    """Cores, CPU model, memory and Python version."""
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        mem_kib = int(meminfo.readline().split()[1])
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": f"{mem_kib / 1024**2:.0f} GiB",
        "python": sys.version.split()[0],
    }


def wrk_version() -> str:
    if shutil.which("wrk") is None:
        return "wrk missing"
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (wrk.stdout + wrk.stderr).split(" [")[0].strip()


def describe(info: dict[str, str]) -> str:
    """One line for the report: `Machine: 2 cores (CPU), 24 GiB RAM, MariaDB ..., Python ...`."""
    tools = "".join(
        f", {name} {info[key]}"
        for key, name in (("mariadb", "MariaDB"), ("redis", "Redis"))
        if key in info
    )
    wrk = f", {info['wrk']}" if "wrk" in info else ""
    return (
        f"Machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM{tools}, "
        f"Python {info['python']}{wrk}."
    )
