"""Shared by the benchmarks: the machine they ran on, and MariaDB session counters."""

from __future__ import annotations

import contextlib
import os
import sys

HANDLER_READS = (
    "Handler_read_first",
    "Handler_read_key",
    "Handler_read_last",
    "Handler_read_next",
    "Handler_read_prev",
    "Handler_read_rnd",
    "Handler_read_rnd_next",
)


def counters(connection, extra: tuple[str, ...] = ("Rows_read",)) -> dict[str, int]:
    """The session's Handler_read_* counters and `extra` status variables (for example
    MariaDB's split of rows read into base-table and temporary-table reads)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Handler_read%'")
        values = {name: int(value) for name, value in cursor.fetchall()}
        names = ", ".join(f"'{name}'" for name in extra)
        cursor.execute(f"SHOW SESSION STATUS WHERE Variable_name IN ({names})")
        values.update((name, int(value)) for name, value in cursor.fetchall())
    return {name: values.get(name, 0) for name in (*HANDLER_READS, *extra)}


def connection_id(connection) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        return cursor.fetchone()[0]


class StatementCounter:
    """An execute wrapper counting the statements sent to the library database."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def machine() -> dict[str, str]:
    """Cores, CPU model, memory and Python version, for the benchmark's report."""
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
