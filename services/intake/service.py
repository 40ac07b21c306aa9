"""The intake service: the partner HTTP API, the submissions consumer, and the case-status projection."""

from __future__ import annotations

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
from services.intake import api, store
from services.intake.identity import Vault
from services.intake.validation import InvalidSubmission, parse_submission

SUBMISSIONS_GROUP = "intake-submissions"
STATUS_GROUP = "intake-status"


def submissions_handler(partners: Callable[[], Directory], vault: Vault):
    """Kafka submissions: valid → case; invalid fields → grievance.rejected; not JSON → raises (DLQ)."""

    def handle(cur: db.Cursor, rec: Incoming) -> list[envelope.Message]:
        try:
            submission = parse_submission(rec.value or b"")
            if partners().get(submission.partner_id or "") is None:
                raise InvalidSubmission(
                    [FieldError(loc="partner_id", msg="unknown partner", type="value_error")],
                    submission.partner_id, submission.external_id)
        except InvalidSubmission as exc:
            store.keep_rejected(cur, source="kafka", source_ref=rec.event_id, body=rec.value or b"",
                                errors=exc.errors, partner_id=exc.partner_id, external_id=exc.external_id,
                                vault=vault)
            rejected = GrievanceRejected(partner_id=exc.partner_id, external_id=exc.external_id,
                                         source_event_id=rec.event_id, errors=exc.errors,
                                         rejected_at=datetime.now(UTC))
            return [envelope.encode(topics.REJECTED, rejected, id=envelope.event_id("rejected", rec.event_id),
                                    source=store.SOURCE)]
        accepted = store.accept(cur, submission, source="kafka", vault=vault)
        log.get().info("case_received", case_ref=accepted.case_ref, duplicate=accepted.duplicate, source="kafka")
        return accepted.messages

    return handle


_STATUS_TOPICS = (topics.TRIAGED, topics.ROUTED, topics.DELIVERED, topics.FAILED)


def status_handler(cur: db.Cursor, records: list[Incoming]) -> list[envelope.Message]:
    """Keeps each case's status (triage outcome, per-recipient delivery) for the partner API."""
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
    return []


def build(settings: Settings) -> Service:
    partners = DirectoryCache(settings.database_url).get
    vault = Vault(settings.data_key)
    service = Service("intake", settings, consumers=[
        ConsumerSpec(SUBMISSIONS_GROUP, [topics.SUBMISSIONS.name], per_record(submissions_handler(partners, vault))),
        ConsumerSpec(STATUS_GROUP, [t.name for t in _STATUS_TOPICS], status_handler),
    ])
    pool = db.Pool(settings.database_url)
    service.routers.append(api.router(partners, vault, pool, service.relay.wake.set, settings.internal_token))
    return service
