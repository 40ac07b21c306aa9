"""The committed second-opinion model is what `grievance triage-model train` makes from the committed sets:
retraining reproduces it (so the data file is reviewable through its recipe), and it never learned from a
sealed set."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from schemas.models import Urgency
from services.common.settings import REPO_ROOT
from services.triage.evaluation import load_examples
from services.triage.model_training import TRAINING_SETS, train
from services.triage.second_opinion import MODEL_DIR, PARAMS_FILE, WEIGHTS_FILE, SecondOpinion

COMMITTED = REPO_ROOT / "config" / "triage"
SEALED = ("triage_sealed2", "triage_sealed5")


def test_retraining_reproduces_the_committed_model(tmp_path: Path):
    params = train(REPO_ROOT / "tests" / "data", tmp_path)
    committed = json.loads((COMMITTED / MODEL_DIR / PARAMS_FILE).read_text())
    # The version is a digest of the data and the recipe: a changed set or parameter asks for a retrain.
    assert params["version"] == committed["version"], "run `grievance triage-model train` and commit the model"
    assert params["thresholds"] == committed["thresholds"]
    assert abs(params["intercept"] - committed["intercept"]) < 1e-4
    with np.load(tmp_path / MODEL_DIR / WEIGHTS_FILE) as new, np.load(COMMITTED / MODEL_DIR / WEIGHTS_FILE) as old:
        # lbfgs has no randomness; a different BLAS may move the last digits.
        assert np.allclose(new["weights"], old["weights"], atol=1e-4)
    assert SecondOpinion.load(tmp_path).critical_probabilities(["help"]) == \
        SecondOpinion.load(COMMITTED).critical_probabilities(["help"])


def test_the_model_never_learned_from_a_sealed_set():
    committed = json.loads((COMMITTED / MODEL_DIR / PARAMS_FILE).read_text())
    assert set(committed["trained_on"]) == set(TRAINING_SETS)
    assert not set(SEALED) & set(TRAINING_SETS)
    for name in TRAINING_SETS:
        lines = sum(1 for p in (REPO_ROOT / "tests" / "data" / name).glob("*.jsonl")
                    for line in p.open(encoding="utf-8") if line.strip())
        assert committed["trained_on"][name] == lines


def test_the_model_file_holds_plain_arrays_only():
    """Loading runs no code: an array of floats, no pickled objects."""
    with np.load(COMMITTED / MODEL_DIR / WEIGHTS_FILE, allow_pickle=False) as data:
        assert data.files == ["weights"]
        assert data["weights"].dtype == np.float32


def test_measuring_the_model_alone_prints_its_figures():
    data = REPO_ROOT / "tests" / "data" / "triage_holdout"
    done = subprocess.run([sys.executable, "-m", "services.cli", "triage-model", "measure", "--data", str(data)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=True)
    figures = json.loads(done.stdout)
    examples = load_examples(data)
    model = SecondOpinion.load(COMMITTED)
    said = [p >= model.critical_at for p in model.critical_probabilities([ex.text for ex in examples])]
    critical = [ex.urgency == Urgency.critical for ex in examples]
    assert (figures["examples"], figures["critical"]) == (len(examples), sum(critical))
    found = sum(s and c for s, c in zip(said, critical, strict=True))
    assert figures["critical_at"]["critical_recall"] == round(found / sum(critical), 4)
    assert figures["critical_at"]["accuracy"] == round(sum(s == c for s, c in zip(said, critical, strict=True))
                                                       / len(examples), 4)
