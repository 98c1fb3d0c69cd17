"""The Procfile's processes as the benchmarks run them: each in its own session, with a log."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.harness.processes import ROOT
from bench.harness.report import log


def procfile() -> dict[str, str]:
    """The Procfile's command lines by process name (web, worker, beat)."""
    lines = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            name, command = line.split(":", 1)
            lines[name.strip()] = command.strip()
    return lines


def path_with_venv() -> str:
    """PATH with this interpreter's bin/ first: a Procfile line finds the venv's commands."""
    return f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"


def session_pids(session_id: int) -> list[int]:
    """The live processes of a session (a process started with start_new_session=True)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session_id and fields[0] != "Z":
                pids.append(int(stat.parent.name))
    return pids


class Service:
    """One command line run through /bin/sh in its own session, its output in `log_path`."""

    def __init__(self, name: str, command: str, env: dict[str, str], log_path: Path):
        self.name, self.command, self.log_path = name, command, log_path
        log(f"$ {command}   ({name}; log: {log_path})")
        with open(log_path, "wb") as output:
            self.process = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def session(self) -> int:
        return self.process.pid

    def main_pid(self, program: str) -> int | None:
        """The pid running `program` (not the /bin/sh around it)."""
        for pid in sorted(session_pids(self.process.pid)):
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if argv[0] != b"/bin/sh" and any(program.encode() in part for part in argv[:3]):
                    return pid
        return None

    def stop(self, grace: float = 15) -> None:
        """SIGTERM to the whole session, SIGKILL to what outlives `grace`."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            self.process.poll()
            if not session_pids(self.process.pid):
                break
            time.sleep(0.1)
        else:
            for pid in session_pids(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.process.wait()
        left = session_pids(self.process.pid)
        log(f"{self.name} stopped{f'; still running: {left}' if left else ''}")


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET (an error status is an answer too)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_healthy(base: str, services: list[Service], timeout: float) -> float:
    """Seconds until `base`/health answered 200; raises if a service exits or time runs out."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        exited = [service.name for service in services if service.process.poll() is not None]
        if exited:
            raise RuntimeError(f"{', '.join(exited)} exited before /health answered (see the logs)")
        with contextlib.suppress(OSError):
            if http_get(f"{base}/health")[0] == 200:
                return time.monotonic() - started
        time.sleep(0.25)
    raise RuntimeError(f"/health did not answer 200 within {timeout:.0f} s")


def signals_end_the_run() -> None:
    """A plain kill runs the `finally` blocks that stop the processes started."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
