"""The rules' decision weighed against the learned second opinion. Pure: decisions and probabilities in,
decisions out; used wherever triage decides (the service, `grievance eval`, `grievance classify`).

Where the two disagree on whether a case is critical, a person looks (needs_review) and the reasons carry
both views: the rules' own reasons stay, the model's probability is added. The rules' urgency is kept,
with two exceptions, both only upwards:
- the model says critical and the rules say medium or low: raised to high. A critical case below high is
  the error that costs most (it waits days for an answer) and a review flag alone does not shorten that wait;
- the model is very confident (cross-validated precision above 0.9 at that probability): raised to critical.
It never lowers an urgency: a critical reading the model doubts stays critical, with a review.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.models import TriageDecision, Urgency
from services.triage.second_opinion import SecondOpinion


def weigh(decision: TriageDecision, probability: float, model: SecondOpinion) -> TriageDecision:
    view = f"second opinion {model.version}: critical with probability {probability:.2f}"
    rules = decision.urgency
    if rules == Urgency.critical:
        if probability >= model.not_critical_below:
            return _with(decision, f"{view}: agrees")
        return _with(decision, f"{view}, the rules say critical: review, critical kept", review=True)
    if probability < model.critical_at:
        return _with(decision, f"{view}: agrees")
    target = Urgency.critical if probability >= model.raise_to_critical_at else Urgency.high
    if target.rank > rules.rank:
        return _with(decision, f"{view}, the rules say {rules.value}: review, {rules.value} → {target.value}",
                     review=True, urgency=target)
    return _with(decision, f"{view}, the rules say {rules.value}: review", review=True)


def weigh_all(decisions: Sequence[TriageDecision], texts: Sequence[str],
              model: SecondOpinion | None) -> list[TriageDecision]:
    """A batch at once: the model scores many texts far cheaper than one by one."""
    if model is None:
        return list(decisions)
    return [weigh(d, p, model) for d, p in zip(decisions, model.critical_probabilities(texts), strict=True)]


def unweighed(decision: TriageDecision, failure: str) -> TriageDecision:
    """The rules' decision when the second opinion could not weigh in: it stands, for a person to look at."""
    return _with(decision, f"{failure}: review", review=True)


def _with(d: TriageDecision, reason: str, review: bool = False, urgency: Urgency | None = None) -> TriageDecision:
    update: dict = {"reasons": [*d.reasons, reason]}
    if review:
        update["needs_review"] = True
    if urgency is not None:
        _, _, says = d.summary.partition(": ")
        update["urgency"], update["summary"] = urgency, f"{urgency.value}: {says or d.summary}"
    return d.model_copy(update=update)
