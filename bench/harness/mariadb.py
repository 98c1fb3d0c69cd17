"""MariaDB's per-connection counters, the statements a call sends, and a writer connection."""

from __future__ import annotations

import time
from urllib.parse import unquote, urlsplit

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
    """The connection's Handler_read_* counters and `extra` status variables (for example
    MariaDB's split of rows read into base-table and temporary-table reads)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Handler_read%'")
        values = {name: int(value) for name, value in cursor.fetchall()}
        if extra:
            names = ", ".join(f"'{name}'" for name in extra)
            cursor.execute(f"SHOW SESSION STATUS WHERE Variable_name IN ({names})")
            values.update((name, int(value)) for name, value in cursor.fetchall())
    return {name: values.get(name, 0) for name in (*HANDLER_READS, *extra)}


def connection_id(connection) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        return cursor.fetchone()[0]


def version(connection) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        return cursor.fetchone()[0]


class StatementCounter:
    """An execute wrapper counting the statements sent to the library database."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def reading_overhead(connection, extra: tuple[str, ...]) -> dict[str, int]:
    """What reading the counters itself adds to them (0 on MariaDB 10.11; subtracted if not)."""
    first, second = counters(connection, extra), counters(connection, extra)
    return {name: second[name] - first[name] for name in first}


def measure(call, connection, overhead: dict[str, int], extra: tuple[str, ...]) -> dict:
    """Runs `call()` on Django's `connection`: its result, wall time, statements sent, the
    counters' deltas and their Handler_read_* sum ("rows examined")."""
    before = counters(connection, extra)
    counter = StatementCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        result = call()
        wall_ms = (time.perf_counter() - started) * 1000
    after = counters(connection, extra)
    deltas = {name: after[name] - before[name] - overhead[name] for name in after}
    return {
        "result": result,
        "wall_ms": wall_ms,
        "statements": counter.count,
        "counters": deltas,
        "examined": sum(deltas[name] for name in HANDLER_READS),
    }


def handler_reads(connection) -> int:
    """The sum of the connection's Handler_read_* counters now."""
    values = counters(connection, ())
    return sum(values[name] for name in HANDLER_READS)


def connect(database_url: str):
    """A MySQLdb connection in autocommit for the benchmark's own writes to the library database
    (the service's `library` connection is read-only)."""
    import MySQLdb

    parts = urlsplit(database_url)
    return MySQLdb.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        passwd=unquote(parts.password or ""),
        db=parts.path.strip("/"),
        charset="utf8mb4",
        autocommit=True,
    )
