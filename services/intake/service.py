"""The intake service: the partner HTTP API, the submissions consumer, and the case-status projection."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import ValidationError

from schemas import envelope, topics
from schemas.models import FieldError, GrievanceRejected, PartnerCaseStep
from services.common import db
from services.common import logging as log
from services.common.consumer import Incoming, per_record
from services.common.db import savepoint
from services.common.directory import Directory
from services.common.directory_cache import DirectoryCache
from services.common.errors import safe_text
from services.common.runtime import ConsumerSpec, Service
from services.common.settings import Settings
from services.intake import api, lifecycle, store, submission_auth
from services.intake.identity import Vault
from services.intake.validation import InvalidSubmission, parse_submission

SUBMISSIONS_GROUP = "intake-submissions"
FEEDBACK_GROUP = "intake-feedback"
STATUS_GROUP = "intake-status"


def submissions_handler(partners: Callable[[], Directory], vault: Vault, tolerance_s: int = 300,
                        clock: Callable[[], float] = time.time):
    """Kafka submissions: not signed by the partner its key names → grievance.rejected; signed but not JSON
    → raises (DLQ); invalid fields → grievance.rejected; valid → case."""

    def handle(cur: db.Cursor, rec: Incoming) -> list[envelope.Message]:
        try:
            who = submission_auth.verify(rec.key, rec.headers, rec.value, partners(), now=clock(),
                                         tolerance_s=tolerance_s)
        except submission_auth.Unauthenticated as exc:
            log.get().warning("submission_unauthenticated", claimed_partner=exc.partner_id,
                              errors=[e.loc for e in exc.errors])
            _release_claim(cur, SUBMISSIONS_GROUP, rec)
            ref = f"{rec.event_id} {submission_auth.record_ref(rec.key, rec.headers, rec.value)}"
            return _reject(cur, vault, rec, ref, exc.errors, exc.partner_id, None)
        try:
            submission = parse_submission(rec.value or b"", partner_id=who.partner_id)
        except InvalidSubmission as exc:
            # Kept under the record's scoped id: two partners' events with the same ce_id are two rejections.
            return _reject(cur, vault, rec, rec.dedupe_key, exc.errors, exc.partner_id, exc.external_id)
        accepted = store.accept(cur, submission, source="kafka", vault=vault)
        log.get().info("case_received", case_ref=accepted.case_ref, duplicate=accepted.duplicate, source="kafka")
        return accepted.messages

    return handle


def feedback_handler(partners: Callable[[], Directory], vault: Vault, templates: dict[str, dict[str, str]],
                     tolerance_s: int = 300, clock: Callable[[], float] = time.time):
    """Partners' lifecycle steps on case.feedback, signed like submissions: the same checks and effects as
    POST /v1/cases/{case_ref}/events, the record's event id making a resend the same step. What is not
    signed by the partner its key names, not a step, not about a case routed to that partner, or not a
    step its state allows is answered on grievance.rejected (naming the field and, for a refused
    transition, the allowed steps) and kept."""

    def handle(cur: db.Cursor, rec: Incoming) -> list[envelope.Message]:
        try:
            who = submission_auth.verify(rec.key, rec.headers, rec.value, partners(), now=clock(),
                                         tolerance_s=tolerance_s)
        except submission_auth.Unauthenticated as exc:
            log.get().warning("feedback_unauthenticated", claimed_partner=exc.partner_id,
                              errors=[e.loc for e in exc.errors])
            _release_claim(cur, FEEDBACK_GROUP, rec)
            ref = f"{rec.event_id} {submission_auth.record_ref(rec.key, rec.headers, rec.value)}"
            return _reject(cur, vault, rec, ref, exc.errors, exc.partner_id, None, source="kafka-feedback")
        try:
            step = PartnerCaseStep.model_validate_json(rec.value or b"")
            if step.partner_id not in (None, who.partner_id):
                errors = [FieldError(loc="partner_id", msg="must be the record key's partner", type="value_error")]
                return _reject(cur, vault, rec, rec.dedupe_key, errors, who.partner_id, None, source="kafka-feedback")
            with savepoint(cur):  # a refused step leaves nothing behind but its rejection
                done = store.record_step(cur, step.case_ref, who.partner_id, step.type, reason=step.reason,
                                         outcome=step.outcome, note=step.note, at=step.at,
                                         idempotency_key=f"kafka:{who.event_id}", vault=vault, templates=templates)
        except ValidationError as exc:
            errors = [FieldError(loc=".".join(map(str, e["loc"])) or "value", msg=e["msg"], type=e["type"])
                      for e in exc.errors(include_url=False, include_input=False)]
            return _reject(cur, vault, rec, rec.dedupe_key, errors, who.partner_id, None, source="kafka-feedback")
        except (LookupError, store.StepConflict, lifecycle.Refused) as exc:
            allowed = f"; allowed next steps: {', '.join(exc.allowed) or 'none'}" if isinstance(
                exc, lifecycle.Refused) else ""
            loc = "case_ref" if isinstance(exc, LookupError) else "webhook-id" if isinstance(
                exc, store.StepConflict) else "type"
            errors = [FieldError(loc=loc, msg=safe_text(f"{exc}{allowed}", 500), type=type(exc).__name__)]
            return _reject(cur, vault, rec, rec.dedupe_key, errors, who.partner_id, None, source="kafka-feedback")
        log.get().info("case_updated", case_ref=step.case_ref, partner=who.partner_id, step=step.type,
                       duplicate=done.duplicate, source="kafka")
        return [done.message] if done.message is not None else []

    return handle


def _reject(cur: db.Cursor, vault: Vault, rec: Incoming, ref: str, errors: list[FieldError], partner_id: str | None,
            external_id: str | None, source: str = "kafka") -> list[envelope.Message]:
    """Keep the record and answer its partner on grievance.rejected."""
    store.keep_rejected(cur, source=source, source_ref=ref, body=rec.value or b"", errors=errors,
                        partner_id=partner_id, external_id=external_id, vault=vault)
    rejected = GrievanceRejected(partner_id=partner_id, external_id=external_id, source_event_id=rec.event_id,
                                 errors=errors, rejected_at=datetime.now(UTC))
    return [envelope.encode(topics.REJECTED, rejected, id=envelope.event_id("rejected", ref), source=store.SOURCE)]


def _release_claim(cur: db.Cursor, group: str, rec: Incoming) -> None:
    """An unauthenticated record proves nothing about the event id it names: leave that id unclaimed, so a
    forger cannot take a partner's next id ahead of it, and the partner's own resend of a refused event
    (signed afresh) is processed rather than dropped as a repeat."""
    cur.execute("DELETE FROM intake.processed_events WHERE consumer_group = %s AND event_id = %s",
                (group, rec.dedupe_key))


_STATUS_TOPICS = (topics.TRIAGED, topics.ROUTED, topics.DELIVERED, topics.FAILED, topics.SLA_BREACHED)


def status_handler(cur: db.Cursor, records: list[Incoming]) -> list[envelope.Message]:
    """Keeps each case's status (triage outcome, per-recipient delivery, SLA breaches) for the partner API."""
    events: dict[str, list] = defaultdict(list)
    for rec in records:
        events[rec.topic].append(envelope.decode(topics.BY_NAME[rec.topic], rec.value or b""))
    if events[topics.TRIAGED.name]:
        store.project_triaged(cur, events[topics.TRIAGED.name])
    if events[topics.ROUTED.name]:
        store.project_routed(cur, events[topics.ROUTED.name])
    notifications = events[topics.DELIVERED.name] + events[topics.FAILED.name]
    if notifications:
        store.project_notifications(cur, notifications)
    if events[topics.SLA_BREACHED.name]:
        store.project_breaches(cur, events[topics.SLA_BREACHED.name])
    return []


def build(settings: Settings) -> Service:
    partners = DirectoryCache(settings.database_url).get
    vault = Vault(settings.data_key)
    service = Service("intake", settings, consumers=[
        ConsumerSpec(SUBMISSIONS_GROUP, [topics.SUBMISSIONS.name],
                     per_record(submissions_handler(partners, vault, settings.submission_tolerance_s))),
        ConsumerSpec(FEEDBACK_GROUP, [topics.FEEDBACK.name],
                     per_record(feedback_handler(partners, vault, api.load_worker_messages(settings.config_dir),
                                                 settings.submission_tolerance_s))),
        ConsumerSpec(STATUS_GROUP, [t.name for t in _STATUS_TOPICS], status_handler),
    ])
    pool = db.Pool(settings.database_url)
    service.routers.append(api.router(partners, vault, pool, service.relay.wake.set, settings.internal_token))
    return service
