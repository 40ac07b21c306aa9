"""Commands pointed at nothing fail in seconds with one line saying what is wrong, and find a running dev
stack by themselves when the environment names none."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.devtools import state
from services.devtools.stack import free_port

COMMANDS = [["migrate"], ["topics"], ["directory", "load"], ["what-if"],
            ["capture", "grievance.received", "-o", os.devnull], ["replay", os.devnull]]


def grievance(env: dict[str, str], *argv: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "services.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=60)
    return done, time.monotonic() - started


def base_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    return {**env, "GRIEVANCE_WORKDIR": str(workdir)}


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv[:2]))
def test_a_command_pointed_at_nothing_fails_fast_with_one_line(argv, tmp_path):
    env = {**base_env(tmp_path), "DATABASE_URL": f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/grievance",
           "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    done, elapsed = grievance(env, *argv)
    print(f"{' '.join(argv)}: exit {done.returncode} after {elapsed:.2f}s: {done.stderr.strip()}")
    assert done.returncode != 0 and elapsed < 10
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("grievance: cannot reach ") and "connection refused" in line
    assert "bin/dev" in line and "s3cret" not in line


def test_the_running_dev_stack_is_found_through_its_state_file(tmp_path):
    owner = subprocess.Popen(["sleep", "60"])  # stands for a live `grievance dev`
    try:
        kafka = f"127.0.0.1:{free_port()}"
        state.DevState(state.Process(owner.pid, ["sleep", "60"]), "2026-01-01T00:00:00+00:00", kafka=kafka,
                       database_url="postgresql://postgres@127.0.0.1:1/grievance").save(tmp_path)
        done, _ = grievance(base_env(tmp_path), "topics")
        found, failed = done.stderr.strip().splitlines()
        assert found == (f"grievance: using the dev stack in {tmp_path} (pid {owner.pid}): "
                         f"KAFKA_BOOTSTRAP_SERVERS={kafka}")
        assert f"cannot reach the Kafka broker at {kafka}" in failed and done.returncode == 1
    finally:
        owner.kill()
        owner.wait()
    # A killed run's file does not count: the defaults apply (what-if only reads), and the dev stack is not named.
    assert state.running(tmp_path) is None
    done, _ = grievance(base_env(tmp_path), "what-if")
    assert "dev stack" not in done.stderr
