"""The topic registry: every topic, the one event type it carries, its model and its key.

Case events are keyed by case reference so that one case's events stay in order on one partition;
partner-facing topics are keyed by partner id so each partner reads its own stream in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from schemas import models as m

CE_SOURCE_PREFIX = "/grievance-pipeline"
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class Topic:
    name: str
    event_type: str
    model: type[BaseModel]
    key_field: str
    producer: str
    description: str


SUBMISSIONS = Topic(
    "grievance.submissions", "org.grievance.submission.v1", m.PartnerSubmission, "partner_id",
    "partners", "Complaints published by partner systems; tolerant schema.",
)
RECEIVED = Topic(
    "grievance.received", "org.grievance.received.v1", m.GrievanceReceived, "case_ref",
    "intake", "A validated, deduplicated complaint; contact details stay in intake.",
)
REJECTED = Topic(
    "grievance.rejected", "org.grievance.rejected.v1", m.GrievanceRejected, "partner_id",
    "intake", "A submission that failed validation, with the failing fields, back to its partner.",
)
TRIAGED = Topic(
    "grievance.triaged", "org.grievance.triaged.v1", m.GrievanceTriaged, "case_ref",
    "triage", "Urgency, categories, ILO indicators, evidence and SLA deadlines of a case.",
)
ROUTED = Topic(
    "case.routed", "org.grievance.case.routed.v1", m.CaseRouted, "case_ref",
    "triage", "The recipients of a case, why each was chosen, and the shielded case view.",
)
DELIVERED = Topic(
    "notification.delivered", "org.grievance.notification.delivered.v1", m.NotificationDelivered,
    "case_ref", "notifier", "A recipient acknowledged receipt of a case at the transport level.",
)
FAILED = Topic(
    "notification.failed", "org.grievance.notification.failed.v1", m.NotificationFailed, "case_ref",
    "notifier", "A delivery attempt failed; `final` says whether retries are exhausted.",
)

DIRECTORY = Topic(
    "directory.changed", "org.grievance.directory.changed.v1", m.DirectoryChanged, "partner_id",
    "triage", "A partner directory change and who made it (secrets redacted).",
)
CONSENT = Topic(
    "consent.changed", "org.grievance.consent.changed.v1", m.ConsentChanged, "case_ref",
    "intake", "The worker gave or withdrew consent to share contact details.",
)
ALERTS = Topic(
    "operator.alerts", "org.grievance.operator.alert.v1", m.OperatorAlert, "case_ref",
    "every service", "Something an operator must see now: a critical case, no responder available, a case that"
    " triage could not decide, a dead letter, a delivery given up, the broker's state lost.",
)
CASE_UPDATED = Topic(
    "case.updated", "org.grievance.case.updated.v1", m.CaseUpdated, "case_ref",
    "intake", "A recipient's step in a case's lifecycle (acknowledged … closed), with the case's state and a"
    " plain-language status the submitting partner may relay to the worker.",
)
FEEDBACK = Topic(
    "case.feedback", "org.grievance.case.feedback.v1", m.PartnerCaseStep, "partner_id",
    "partners", "A recipient's lifecycle step on a case routed to it, signed like a submission; refusals are"
    " answered on grievance.rejected.",
)
SLA_BREACHED = Topic(
    "case.sla_breached", "org.grievance.case.sla_breached.v1", m.CaseSlaBreached, "case_ref",
    "notifier", "A case's holder missed an SLA deadline; whom the case was escalated to (none: operators).",
)

ALL: tuple[Topic, ...] = (SUBMISSIONS, RECEIVED, REJECTED, TRIAGED, ROUTED, DELIVERED, FAILED, DIRECTORY, CONSENT,
                          ALERTS, CASE_UPDATED, FEEDBACK, SLA_BREACHED)
BY_NAME = {t.name: t for t in ALL}
# Published by partner systems, signed with their secrets: tolerant schemas, no CloudEvents required.
FROM_PARTNERS: tuple[Topic, ...] = (SUBMISSIONS, FEEDBACK)
# Every consumer group of the pipeline; each has a dead-letter topic `<group>.dlq`.
CONSUMER_GROUPS = ("intake-submissions", "intake-feedback", "intake-status", "triage", "notifier")
BY_EVENT_TYPE = {t.event_type: t for t in ALL}


def for_model(model: type[BaseModel]) -> Topic:
    for topic in ALL:
        if topic.model is model:
            return topic
    raise KeyError(model.__name__)


def dlq(group: str) -> str:
    """Dead-letter topic of a consumer group."""
    return group + DLQ_SUFFIX
