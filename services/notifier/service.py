"""The notifier service: case.routed → one delivery per recipient → signed webhooks, with retries."""

from __future__ import annotations

from psycopg2.extras import Json

from schemas import envelope, topics
from services.common import db, directory
from services.common import logging as log
from services.common.consumer import Incoming
from services.common.runtime import ConsumerSpec, Service
from services.common.settings import Settings
from services.notifier.delivery import DeliveryWorker
from services.notifier.payload import webhook_body

GROUP = "notifier"


def routed_handler(cur: db.Cursor, rec: Incoming) -> list[envelope.Message]:
    event = envelope.decode(topics.ROUTED, rec.value or b"")
    log.bind(case_ref=event.case_ref)
    for recipient in event.recipients:
        delivery_id = "dlv_" + envelope.event_id("delivery", event.case_ref, recipient.partner_id)
        # The unique (case_ref, recipient) key is the "never notify twice" guarantee across replays.
        cur.execute(
            "INSERT INTO notifier.deliveries (case_ref, recipient, channel, payload) VALUES (%s,%s,'webhook',%s)"
            " ON CONFLICT (case_ref, recipient) DO NOTHING",
            (event.case_ref, recipient.partner_id, Json(webhook_body(event, recipient, delivery_id))),
        )
    return []


def build(settings: Settings) -> Service:
    partners = directory.load(settings.config_dir)
    service = Service("notifier", settings, consumers=[ConsumerSpec(GROUP, [topics.ROUTED.name], routed_handler)])
    worker = DeliveryWorker(settings, partners, service.stop, on_commit=service.relay.wake.set)
    service.workers.append(lambda _svc: worker)
    # Wake the delivery worker as soon as new deliveries are committed.
    for loop in service.loops:
        loop.on_commit = lambda: (service.relay.wake.set(), worker.wake.set())
    return service
