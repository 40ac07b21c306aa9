"""The triage service's decision (services/triage/service.triage) carries the second opinion: a
disagreement with the rules is reviewed, both views are in the decision the events carry, and the
routing and deadlines follow the weighed urgency."""

import math
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from schemas.models import GrievanceReceived, Urgency
from services.common.directory import load as load_directory
from services.common.settings import REPO_ROOT
from services.triage.classify import Classifier, Ruleset
from services.triage.routing import RoutingPolicy
from services.triage.second_opinion import SecondOpinion
from services.triage.service import TriageConfig, triage
from services.triage.sla import SlaPolicy

CONFIG = REPO_ROOT / "config"
NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
# The rules read a plain question about leave as low; nothing in it is critical.
QUESTION = "Hello, how many days of annual leave can I take after one year of work? Thank you."


@pytest.fixture(scope="module")
def config() -> TriageConfig:
    directory = load_directory(CONFIG)
    return TriageConfig(Classifier(Ruleset.load(CONFIG / "triage")), SlaPolicy.load(CONFIG / "sla.yaml"),
                        RoutingPolicy.load(CONFIG / "routing.yaml"), lambda: directory,
                        SecondOpinion.load(CONFIG / "triage"))


def saying(model: SecondOpinion, probability: float) -> SecondOpinion:
    """The committed model's thresholds with weights that give every text the same probability."""
    return replace(model, weights=np.zeros_like(model.weights),
                   intercept=math.log(probability / (1 - probability)))


def case(text: str) -> GrievanceReceived:
    return GrievanceReceived(
        case_ref="GRV-0000000000AB", partner_id="iom-hub", external_id="x-1", subject_ref="s-1", text=text,
        language=None, country_of_work="TH", country_of_origin="MM", sector="domestic_work", employer=None,
        recruiter=None, channel="whatsapp", urgency_hint=None, minor_involved=False, consent_share_contact=False,
        has_contact=False, received_at=NOW)


def test_the_rules_alone_read_the_question_as_low(config: TriageConfig):
    rules_only = triage(case(QUESTION), replace(config, second_opinion=None), NOW).triaged
    assert rules_only.urgency == Urgency.low and not rules_only.needs_review


def test_a_confident_second_opinion_raises_the_case_and_asks_for_review(config: TriageConfig):
    model = saying(config.second_opinion, 0.99)
    out = triage(case(QUESTION), replace(config, second_opinion=model), NOW)
    assert out.triaged.urgency == Urgency.critical and out.triaged.needs_review
    assert any(r.startswith("language ") for r in out.triaged.reasons)  # the rules' own reasons stay
    assert "critical with probability 0.99" in out.triaged.reasons[-1]
    assert out.routed.case.urgency == Urgency.critical  # routing and the partner's view follow
    low = triage(case(QUESTION), replace(config, second_opinion=None), NOW).triaged
    assert out.triaged.sla.acknowledge_by < low.sla.acknowledge_by  # and so do the deadlines


def test_an_agreeing_second_opinion_changes_nothing_but_adds_its_view(config: TriageConfig):
    model = saying(config.second_opinion, 0.02)
    weighed = triage(case(QUESTION), replace(config, second_opinion=model), NOW).triaged
    alone = triage(case(QUESTION), replace(config, second_opinion=None), NOW).triaged
    assert (weighed.urgency, weighed.needs_review) == (alone.urgency, alone.needs_review)
    assert weighed.reasons == [*alone.reasons, f"second opinion {model.version}: critical with probability 0.02:"
                                               " agrees"]


def test_a_batch_score_and_a_single_score_give_the_same_decision(config: TriageConfig):
    text = ("Good evening, my madam beats me every day and locks me inside the house, she gives me food only one"
            " time. Please help me.")
    p = config.second_opinion.critical_probabilities(["another message first", text])[1]
    assert triage(case(text), config, NOW, p).triaged == triage(case(text), config, NOW).triaged


class Broken(SecondOpinion):
    def critical_probabilities(self, texts):
        raise ValueError("weights unreadable")


def test_a_failing_second_opinion_never_stops_a_case(config: TriageConfig):
    """The rules' decision stands, reviewed, routed, and an operator alert names the failure."""
    broken = Broken(**{f: getattr(config.second_opinion, f) for f in config.second_opinion.__dataclass_fields__})
    out = triage(case(QUESTION), replace(config, second_opinion=broken), NOW)
    alone = triage(case(QUESTION), replace(config, second_opinion=None), NOW).triaged
    assert out.triaged.urgency == alone.urgency and out.triaged.needs_review
    assert "second opinion failed (ValueError: weights unreadable): review" in out.triaged.reasons
    assert out.routed.recipients and any("second opinion failed" in a.message for a in out.alerts)
