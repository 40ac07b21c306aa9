"""Each behaviour listed in tests/data/triage/rule_cases.yaml holds (rules are data; so are their tests)."""

import pytest
import yaml

from services.common.settings import REPO_ROOT
from services.triage.classify import Classifier, Ruleset

CASES = yaml.safe_load((REPO_ROOT / "tests" / "data" / "triage" / "rule_cases.yaml").read_text(encoding="utf-8"))
CLASSIFIER = Classifier(Ruleset.load(REPO_ROOT / "config" / "triage"))


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:40] for c in CASES])
def test_rule_case(case):
    d = CLASSIFIER.classify(case["text"], language=case.get("language"))
    assert d.urgency.value == case["urgency"], d.reasons
    assert set(case.get("categories", [])) <= set(d.categories), d.categories
    assert not set(case.get("not_categories", [])) & set(d.categories), d.categories
