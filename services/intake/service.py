"""The intake service: the partner HTTP API, the submissions consumer, and the case-status projection."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas import envelope, topics
from schemas.models import FieldError, GrievanceRejected
from services.common import db, directory
from services.common import logging as log
from services.common.consumer import Incoming
from services.common.runtime import ConsumerSpec, Service
from services.common.settings import Settings
from services.intake import api, store
from services.intake.identity import Vault
from services.intake.validation import InvalidSubmission, parse_submission

SUBMISSIONS_GROUP = "intake-submissions"
STATUS_GROUP = "intake-status"


def submissions_handler(partners: directory.Directory, vault: Vault):
    """Kafka submissions: valid → case; invalid fields → grievance.rejected; not JSON → raises (DLQ)."""

    def handle(cur: db.Cursor, rec: Incoming) -> list[envelope.Message]:
        try:
            submission = parse_submission(rec.value or b"")
            if partners.get(submission.partner_id or "") is None:
                raise InvalidSubmission(
                    [FieldError(loc="partner_id", msg="unknown partner", type="value_error")],
                    submission.partner_id, submission.external_id)
        except InvalidSubmission as exc:
            store.keep_rejected(cur, source="kafka", source_ref=rec.event_id, body=rec.value or b"",
                                errors=exc.errors, partner_id=exc.partner_id, external_id=exc.external_id)
            rejected = GrievanceRejected(partner_id=exc.partner_id, external_id=exc.external_id,
                                         source_event_id=rec.event_id, errors=exc.errors,
                                         rejected_at=datetime.now(UTC))
            return [envelope.encode(topics.REJECTED, rejected, id=envelope.event_id("rejected", rec.event_id),
                                    source=store.SOURCE)]
        accepted = store.accept(cur, submission, source="kafka", vault=vault)
        log.bind(case_ref=accepted.case_ref)
        return accepted.messages

    return handle


_PROJECTIONS = {
    topics.TRIAGED.name: store.project_triaged,
    topics.ROUTED.name: store.project_routed,
    topics.DELIVERED.name: store.project_notification,
    topics.FAILED.name: store.project_notification,
}


def status_handler(cur: db.Cursor, rec: Incoming) -> list[envelope.Message]:
    event = envelope.decode(topics.BY_NAME[rec.topic], rec.value or b"")
    _PROJECTIONS[rec.topic](cur, event)
    return []


def build(settings: Settings) -> Service:
    partners = directory.load(settings.config_dir)
    vault = Vault(settings.data_key)
    service = Service("intake", settings, consumers=[
        ConsumerSpec(SUBMISSIONS_GROUP, [topics.SUBMISSIONS.name], submissions_handler(partners, vault)),
        ConsumerSpec(STATUS_GROUP, list(_PROJECTIONS), status_handler),
    ])
    pool = db.Pool(settings.database_url)
    service.routers.append(api.router(partners, vault, pool, service.relay.wake.set))
    return service
