"""New deliveries of a routed case: one pending row per (case, recipient), whether from case.routed or from
an SLA escalation; the delivery worker sends them."""

from __future__ import annotations

from datetime import datetime

import psycopg2.extras
from psycopg2.extras import Json

from schemas import envelope
from schemas.models import CaseRouted, Recipient
from services.common import db
from services.common.directory import Directory
from services.notifier import retry
from services.notifier.channel import channel_for
from services.notifier.payload import webhook_body


def delivery_row(event: CaseRouted, recipient: Recipient, deliver_by: datetime, horizon_s: float,
                 directory: Directory) -> tuple:
    """A pending delivery with the case's urgency, its deadline (the claim's order), its retry horizon and
    the channel its partner is reached by now (re-read at each send: the directory may change)."""
    delivery_id = "dlv_" + envelope.event_id("delivery", event.case_ref, recipient.partner_id)
    urgency = event.case.urgency.value
    channel = channel_for(directory.get(recipient.partner_id)) or "webhook"
    return (event.case_ref, recipient.partner_id, channel, Json(webhook_body(event, recipient, delivery_id)),
            urgency, retry.priority(urgency), deliver_by, horizon_s)


def create(cur: db.Cursor, rows: list[tuple]) -> set[tuple[str, str]]:
    """Insert `delivery_row`s; the (case_ref, recipient) pairs created. The unique (case_ref, recipient)
    key is the "never notify twice" guarantee across replays and escalations."""
    created = psycopg2.extras.execute_values(
        cur, "INSERT INTO notifier.deliveries (case_ref, recipient, channel, payload, urgency, priority,"
        " deliver_by, give_up_at) VALUES %s ON CONFLICT (case_ref, recipient) DO NOTHING"
        " RETURNING case_ref, recipient", rows, fetch=True,
        template="(%s, %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s))")
    return {tuple(r) for r in created}
