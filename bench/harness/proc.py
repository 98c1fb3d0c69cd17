"""What /proc says about a server process: memory, threads, descriptors, sockets, CPU time."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
    "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
    "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}  # fmt: skip


def status(pid: int, field: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def rss_kib(pid: int) -> int:
    return int(status(pid, "VmRSS").split()[0])


def threads(pid: int) -> int:
    return int(status(pid, "Threads"))


def open_fds(pid: int) -> str:
    """How many descriptors `pid` has open, by kind (socket, pipe, anon_inode:..., file)."""
    kinds: dict[str, int] = {}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            kind = target.split(":[", 1)[0] if ":[" in target else target.split("]", 1)[0]
            kind = "file" if kind.startswith("/") else kind
            kinds[kind] = kinds.get(kind, 0) + 1
    detail = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
    return f"{sum(kinds.values())} ({detail})"


def server_sockets(pid: int, port: int) -> dict[str, int]:
    """The sockets `pid` holds, by what they are: `:<port> <TCP state>` for those on its own
    `port`, `to :<remote port> <state>` for outgoing ones (Redis, MariaDB), `other` for the rest
    (Unix sockets). From /proc/net/tcp and tcp6."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    states: dict[str, int] = {}
    seen = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[9] not in inodes:
                    continue
                seen.add(fields[9])
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                state = TCP_STATES.get(fields[3], fields[3])
                key = f":{port} {state}" if local_port == port else f"to :{remote_port} {state}"
                states[key] = states.get(key, 0) + 1
    if len(inodes - seen):
        states["other"] = len(inodes - seen)
    return dict(sorted(states.items()))


def client_sockets(states: dict[str, int], port: int) -> int:
    """Connections from clients among server_sockets()'s (the listening socket left out)."""
    return sum(
        count
        for key, count in states.items()
        if key.startswith(f":{port} ") and "LISTEN" not in key
    )


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def session_cpu_seconds(session_id: int) -> float:
    """utime + stime of every process in the session (a shell and the server it runs)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session_id:  # fields[3] is the session id (field 6)
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def max_open_files(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return line.split()[3]
    return "?"
