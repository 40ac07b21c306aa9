"""The intake service: the partner HTTP API, the submissions consumer, and the case-status projection."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

from schemas import envelope, topics
from schemas.models import FieldError, GrievanceRejected
from services.common import db
from services.common import logging as log
from services.common.consumer import Incoming, per_record
from services.common.directory import Directory
from services.common.directory_cache import DirectoryCache
from services.common.runtime import ConsumerSpec, Service
from services.common.settings import Settings
from services.intake import api, store, submission_auth
from services.intake.identity import Vault
from services.intake.validation import InvalidSubmission, parse_submission

SUBMISSIONS_GROUP = "intake-submissions"
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
            _release_claim(cur, rec)
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


def _reject(cur: db.Cursor, vault: Vault, rec: Incoming, ref: str, errors: list[FieldError], partner_id: str | None,
            external_id: str | None) -> list[envelope.Message]:
    """Keep the record and answer its partner on grievance.rejected."""
    store.keep_rejected(cur, source="kafka", source_ref=ref, body=rec.value or b"", errors=errors,
                        partner_id=partner_id, external_id=external_id, vault=vault)
    rejected = GrievanceRejected(partner_id=partner_id, external_id=external_id, source_event_id=rec.event_id,
                                 errors=errors, rejected_at=datetime.now(UTC))
    return [envelope.encode(topics.REJECTED, rejected, id=envelope.event_id("rejected", ref), source=store.SOURCE)]


def _release_claim(cur: db.Cursor, rec: Incoming) -> None:
    """An unauthenticated record proves nothing about the event id it names: leave that id unclaimed, so a
    forger cannot take a partner's next id ahead of it, and the partner's own resend of a refused event
    (signed afresh) is processed rather than dropped as a repeat."""
    cur.execute("DELETE FROM intake.processed_events WHERE consumer_group = %s AND event_id = %s",
                (SUBMISSIONS_GROUP, rec.dedupe_key))


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
        ConsumerSpec(STATUS_GROUP, [t.name for t in _STATUS_TOPICS], status_handler),
    ])
    pool = db.Pool(settings.database_url)
    service.routers.append(api.router(partners, vault, pool, service.relay.wake.set, settings.internal_token))
    return service
