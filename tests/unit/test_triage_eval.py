"""The evaluation gate: CI fails when the classifier falls below the thresholds the project promises."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from schemas.models import Urgency
from services.common.settings import REPO_ROOT
from services.triage.evaluation import Example, Report

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


# The gate on sets the rules were not written from (sealed: nobody changing the rules reads their texts, and the
# second opinion never learns from them). Each threshold is a measured figure, rounded down: the gate catches a
# change that loses ground on unseen messages, and is tightened as the figures improve. triage_sealed5 was first
# scored with the ruleset and model from before round 5 (triage-2026.12.1, so-487f79f77f52: 1 unreviewed, recall
# 0.849, accuracy 0.755, model alone 0.824); after round 5 (triage-2026.12.2, so-7fddaca98a51) 0.942 / 0.804; after
# round 6 (triage-2026.12.3, so-525e0b899222) 0.988 / 0.853; after round 7 (triage-2026.12.5: jokes, settled and past
# dangers; so-a90303d99d73 with dev7) 0.977 / 0.858; these are its figures after round 8 (triage-2026.12.9: requests
# for information; so-af9eb29b4697 with dev8, whose recipe now raises to critical from 0.70, not 0.65): recall 0.965
# (one critical case fewer raised, still high and reviewed), accuracy 0.868, model alone 0.931. triage_sealed2: 0.830
# (its first score), recall 1.000, model alone 0.929.
UNSEEN_GATES = {
    # set: (max critical under-triaged without review, min critical recall, min urgency accuracy,
    #       min accuracy of the second opinion alone, critical or not)
    "triage_sealed5": (0, 0.96, 0.86, 0.93),
    "triage_sealed2": (0, 0.97, 0.83, 0.92),
}


@pytest.mark.parametrize("name", sorted(UNSEEN_GATES))
def test_on_unseen_messages_no_more_critical_cases_go_unreviewed(name: str):
    unreviewed, recall, accuracy, model_accuracy = UNSEEN_GATES[name]
    done = run_eval("--data", str(REPO_ROOT / "tests" / "data" / name), "--json",
                    "--max-critical-unreviewed", str(unreviewed), "--min-critical-recall", str(recall),
                    "--min-accuracy", str(accuracy))
    figures = json.loads(done.stdout)
    assert figures["second_opinion"] is not None, "the gate measures triage as the service runs it"
    assert figures["second_opinion_trained_on_this_set"] is False
    assert figures["critical_under_triaged_unreviewed"] <= unreviewed, done.stderr
    assert figures["critical_recall"] >= recall and figures["urgency_accuracy"] >= accuracy, done.stderr
    assert figures["second_opinion_alone"]["accuracy"] >= model_accuracy
    assert done.returncode == 0, done.stderr


def test_the_unreviewed_gate_fails_when_a_critical_case_slips_through(tmp_path: Path):
    """A set whose one critical case the rules read as a plain wage complaint (high, no review flag): with the
    second opinion off, the gate must fail on it."""
    data = tmp_path / "set"
    data.mkdir()
    case = {"id": "en-001", "language": "en", "text": "My salary is not paid for 3 months.", "urgency": "critical",
            "categories": ["wage_theft"], "indicators": ["withholding_of_wages"]}
    (data / "en.jsonl").write_text(json.dumps(case) + "\n", encoding="utf-8")
    done = run_eval("--data", str(data), "--json", "--rules-only",
                    "--max-critical-unreviewed", "0", "--min-critical-recall", "0", "--min-accuracy", "0")
    figures = json.loads(done.stdout)
    assert figures["second_opinion"] is None and figures["critical_under_triaged_unreviewed"] == 1
    assert done.returncode == 1
    assert "critical cases under-triaged without review" in done.stderr


def test_eval_says_when_the_second_opinion_learned_from_the_set():
    figures = json.loads(run_eval("--json", "--min-critical-recall", "0", "--min-accuracy", "0").stdout)
    assert figures["second_opinion_trained_on_this_set"] is True


def example(urgency: Urgency, language: str = "en") -> Example:
    return Example(f"{language}-1", language, "text", urgency, (), ())


def test_a_critical_case_below_critical_counts_as_unreviewed_only_without_the_review_flag():
    report = Report()
    report.add(example(Urgency.critical), Urgency.high, [], "en", needs_review=True)
    report.add(example(Urgency.critical, "fr"), Urgency.high, [], "fr", needs_review=False)
    report.add(example(Urgency.critical, "fr"), Urgency.critical, [], "fr", needs_review=False)
    report.add(example(Urgency.high, "fr"), Urgency.medium, [], "fr", needs_review=False)
    f = report.figures()
    assert f["critical_under_triaged_unreviewed"] == 1
    assert f["per_language"]["fr"]["critical_unreviewed"] == 1 and f["per_language"]["en"]["critical_unreviewed"] == 0
    assert f["per_language"]["en"]["review_rate"] == 1.0 and f["review_rate"] == 0.25
    assert "critical under w/o review" in report.table()


def test_the_second_opinions_own_figures_count_critical_or_not():
    report = Report()
    assert report.figures()["second_opinion_alone"] is None
    report.add_opinion(example(Urgency.critical), says_critical=True)
    report.add_opinion(example(Urgency.critical), says_critical=False)
    report.add_opinion(example(Urgency.high), says_critical=True)
    report.add_opinion(example(Urgency.low), says_critical=False)
    assert report.figures()["second_opinion_alone"] == {"accuracy": 0.5, "critical_recall": 0.5,
                                                        "critical_precision": 0.5}
