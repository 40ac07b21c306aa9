"""The evaluation gate: CI fails when the classifier falls below the thresholds the project promises."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from services.common.settings import REPO_ROOT

DATA = REPO_ROOT / "tests" / "data" / "triage"


def run_eval(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli", "eval", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=300, env={**os.environ, **(env or {})})


def test_every_language_is_in_the_evaluation_set_with_enough_examples():
    languages = {"en", "fr", "vi", "id", "ms", "tl", "ne", "th", "bn", "my", "km", "ar", "es", "hi"}
    counts = {p.stem: sum(1 for line in p.open(encoding="utf-8") if line.strip()) for p in DATA.glob("*.jsonl")}
    assert languages <= set(counts)
    assert sum(counts.values()) >= 300


def test_critical_recall_and_accuracy_meet_the_thresholds():
    done = run_eval("--json", "--min-critical-recall", "0.95", "--min-accuracy", "0.85")
    figures = json.loads(done.stdout)
    assert figures["critical_recall"] >= 0.95 and figures["urgency_accuracy"] >= 0.85, done.stderr
    assert done.returncode == 0, done.stderr


def test_the_gate_fails_when_the_rules_lose_their_words(tmp_path: Path):
    """A ruleset whose lexicons know nothing must fail the gate: the gate is not a formality."""
    triage = tmp_path / "triage"
    (triage / "lexicons").mkdir(parents=True)
    (triage / "policy.yaml").write_text((REPO_ROOT / "config" / "triage" / "policy.yaml").read_text())
    (triage / "lexicons" / "en.yaml").write_text(yaml.safe_dump({"language": "en", "terms": {}}))
    done = run_eval(env={"GRIEVANCE_CONFIG_DIR": str(tmp_path)})
    assert done.returncode == 1
    assert "critical recall" in done.stderr
