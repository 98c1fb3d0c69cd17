"""MariaDB session counters the benchmarks read around each measured call."""

from __future__ import annotations

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
