"""What each case event changes in the dashboard's read model: pure, without SQL or Kafka.

An event gives at most one case row update (columns merged into what is there, in whatever order the
events arrive), one timeline entry and one row of its own (a delivery outcome, an alert, a breach). Contact
details never appear: the events carry none, and the case text is not kept either (the summary, the
evidence terms and the routing reasons say what operators need).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from schemas import models as m
from schemas import topics
from services.common.names import entity_key

# How a case column is merged with what is stored: "set" keeps the newest non-null value, "first" the
# earliest time, "state" the value of the highest step sequence.
FIRST_COLUMNS = {"first_delivered_at", "acknowledged_at"}


@dataclass
class Projection:
    case_ref: str | None
    case: dict[str, Any] = field(default_factory=dict)
    timeline: tuple[str, datetime, dict[str, Any]] | None = None  # kind, at, detail
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # table → row


def _received(e: m.GrievanceReceived) -> Projection:
    case = {"partner_id": e.partner_id, "received_at": e.received_at, "country_of_work": e.country_of_work,
            "country_of_origin": e.country_of_origin, "sector": e.sector, "employer": e.employer,
            "recruiter": e.recruiter, "language": e.language, "channel": e.channel}
    detail = {k: v for k, v in case.items() if k != "received_at"}
    case.update(_entity_keys(e.employer, e.recruiter))
    detail.update(has_contact=e.has_contact, consent_share_contact=e.consent_share_contact,
                  minor_involved=e.minor_involved, urgency_hint=e.urgency_hint)
    return Projection(e.case_ref, case, ("received", e.received_at, detail))


def _entity_keys(employer: str | None, recruiter: str | None) -> dict[str, str | None]:
    """The name keys that link one employer or recruiter across spellings and partners."""
    return {"employer_key": entity_key(employer), "recruiter_key": entity_key(recruiter)}


def _triaged(e: m.GrievanceTriaged) -> Projection:
    case = {"urgency": e.urgency.value, "categories": e.categories, "indicators": e.indicators,
            "needs_review": e.needs_review, "summary": e.summary, "triaged_at": e.triaged_at,
            "deliver_by": e.sla.deliver_by, "acknowledge_by": e.sla.acknowledge_by}
    detail = {"urgency": e.urgency.value, "categories": e.categories, "indicators": e.indicators,
              "iris_principles": e.iris_principles, "needs_review": e.needs_review, "reasons": e.reasons,
              "evidence": [{"term": x.term, "concept": x.concept} for x in e.evidence], "ruleset": e.ruleset,
              "summary": e.summary, "deliver_by": e.sla.deliver_by, "acknowledge_by": e.sla.acknowledge_by}
    return Projection(e.case_ref, case, ("triaged", e.triaged_at, detail))


def _routed(e: m.CaseRouted) -> Projection:
    primary = next((r.partner_id for r in e.recipients if r.role == "primary"), e.recipients[0].partner_id)
    case = {"routed_at": e.routed_at, "primary_partner": primary, "recipients": [r.partner_id for r in e.recipients],
            # the routed view is the case as triage saw it: fills a case whose earlier events are missing
            "urgency": e.case.urgency.value, "partner_id": e.case.submitted_by,
            "country_of_work": e.case.country_of_work, "employer": e.case.employer, "recruiter": e.case.recruiter,
            **_entity_keys(e.case.employer, e.case.recruiter)}
    detail = {"rule": e.rule,
              "recipients": [{"partner_id": r.partner_id, "role": r.role, "disclosure": r.disclosure.value,
                              "reason": r.reason} for r in e.recipients],
              "excluded": [{"partner_id": x.partner_id, "reason": x.reason} for x in e.excluded],
              "escalation": [r.partner_id for r in e.escalation]}
    return Projection(e.case_ref, case, ("routed", e.routed_at, detail))


def _delivered(e: m.NotificationDelivered) -> Projection:
    row = {"case_ref": e.case_ref, "recipient": e.recipient, "outcome": "delivered", "channel": e.channel,
           "attempts": e.attempts, "at": e.delivered_at}
    detail = {"recipient": e.recipient, "channel": e.channel, "attempts": e.attempts, "status_code": e.status_code}
    return Projection(e.case_ref, {"first_delivered_at": e.delivered_at}, ("delivered", e.delivered_at, detail),
                      {"deliveries": row})


def _failed(e: m.NotificationFailed) -> Projection:
    row = {"case_ref": e.case_ref, "recipient": e.recipient, "outcome": "gave_up" if e.final else "failed",
           "channel": e.channel, "attempts": e.attempts, "at": e.failed_at}
    detail = {"recipient": e.recipient, "channel": e.channel, "attempts": e.attempts, "error": e.error[:500],
              "final": e.final, "next_attempt_at": e.next_attempt_at}
    return Projection(e.case_ref, {}, ("delivery_failed", e.failed_at, detail), {"deliveries": row})


def _updated(e: m.CaseUpdated) -> Projection:
    case: dict[str, Any] = {"case_state": e.case_state, "state_seq": e.sequence}
    if e.step == "acknowledged":
        case["acknowledged_at"] = e.at
    detail = {"partner_id": e.partner_id, "step": e.step, "reason": e.reason, "outcome": e.outcome,
              "state": e.state, "case_state": e.case_state, "sequence": e.sequence}
    return Projection(e.case_ref, case, ("step", e.at, detail))


def _breached(e: m.CaseSlaBreached) -> Projection:
    row = {"case_ref": e.case_ref, "recipient": e.recipient, "clock": e.clock, "deadline": e.deadline,
           "breached_at": e.breached_at, "escalated_to": e.escalated_to, "urgency": e.urgency.value}
    detail = {k: v for k, v in row.items() if k not in ("case_ref", "breached_at")}
    return Projection(e.case_ref, {}, ("sla_breached", e.breached_at, detail), {"breaches": row})


def _alert(e: m.OperatorAlert) -> Projection:
    row = {"case_ref": e.case_ref, "kind": e.kind, "urgency": e.urgency.value, "message": e.message[:2000],
           "service": e.service, "topic": e.topic, "raised_at": e.raised_at}
    detail = {"kind": e.kind, "urgency": e.urgency.value, "message": e.message[:2000], "service": e.service}
    return Projection(e.case_ref, {}, ("alert", e.raised_at, detail) if e.case_ref else None, {"alerts": row})


# Topic → projection. A topic not listed is consumed and ignored; partner feedback on its own topic, when
# the registry has one, gets its entry here.
PROJECTIONS = {
    topics.RECEIVED.name: _received,
    topics.TRIAGED.name: _triaged,
    topics.ROUTED.name: _routed,
    topics.DELIVERED.name: _delivered,
    topics.FAILED.name: _failed,
    topics.CASE_UPDATED.name: _updated,
    topics.ALERTS.name: _alert,
    topics.SLA_BREACHED.name: _breached,
}

TOPICS = sorted(PROJECTIONS)


def project(topic: str, event: BaseModel) -> Projection:
    return PROJECTIONS[topic](event)
