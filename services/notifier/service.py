"""The notifier service: case.routed → one delivery per recipient → signed webhooks, with retries."""

from __future__ import annotations

import psycopg2.extras
from psycopg2.extras import Json

from schemas import envelope, topics
from services.common import db
from services.common import logging as log
from services.common.consumer import Incoming
from services.common.directory_cache import DirectoryCache
from services.common.runtime import ConsumerSpec, Service
from services.common.settings import Settings
from services.notifier.delivery import DeliveryWorker
from services.notifier.payload import webhook_body

GROUP = "notifier"


def routed_handler(cur: db.Cursor, records: list[Incoming]) -> list[envelope.Message]:
    """One pending delivery per (case, recipient); the delivery worker sends them."""
    rows = []
    for rec in records:
        event = envelope.decode(topics.ROUTED, rec.value or b"")
        for recipient in event.recipients:
            delivery_id = "dlv_" + envelope.event_id("delivery", event.case_ref, recipient.partner_id)
            rows.append((event.case_ref, recipient.partner_id, "webhook",
                         Json(webhook_body(event, recipient, delivery_id))))
    # The unique (case_ref, recipient) key is the "never notify twice" guarantee across replays.
    created = psycopg2.extras.execute_values(
        cur, "INSERT INTO notifier.deliveries (case_ref, recipient, channel, payload) VALUES %s"
        " ON CONFLICT (case_ref, recipient) DO NOTHING RETURNING case_ref, recipient", rows, fetch=True)
    for case_ref, recipient, *_ in {r[:2] for r in rows} - {tuple(r) for r in created}:
        log.get().info("duplicate_dropped", reason="delivery already exists", case_ref=case_ref, recipient=recipient)
    return []


def build(settings: Settings) -> Service:
    partners = DirectoryCache(settings.database_url).get
    service = Service("notifier", settings, consumers=[ConsumerSpec(GROUP, [topics.ROUTED.name], routed_handler)])
    worker = DeliveryWorker(settings, partners, service.stop, on_commit=service.relay.wake.set)
    worker.on_fatal = service.fail
    service.workers.append(lambda _svc: worker)
    # Wake the delivery worker as soon as new deliveries are committed.
    for loop in service.loops:
        loop.on_commit = lambda: (service.relay.wake.set(), worker.wake.set())
    return service
