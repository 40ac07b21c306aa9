"""The notifier service: case.routed → one delivery per recipient → signed webhooks, with retries."""

from __future__ import annotations

from collections.abc import Callable

import psycopg2.extras
from psycopg2.extras import Json

from schemas import envelope, topics
from services.common import db
from services.common import logging as log
from services.common.consumer import Incoming
from services.common.directory_cache import DirectoryCache
from services.common.runtime import ConsumerSpec, Service
from services.common.settings import Settings
from services.notifier import admin, retry
from services.notifier.delivery import DeliveryWorker, policy_for
from services.notifier.payload import webhook_body

GROUP = "notifier"


def routed_handler_for(policy: retry.Policy) -> Callable[[db.Cursor, list[Incoming]], list[envelope.Message]]:
    def routed_handler(cur: db.Cursor, records: list[Incoming]) -> list[envelope.Message]:
        """One pending delivery per (case, recipient), with the case's urgency and delivery deadline (the
        claim's order) and its retry horizon; the delivery worker sends them."""
        rows = []
        for rec in records:
            event = envelope.decode(topics.ROUTED, rec.value or b"")
            urgency = event.case.urgency.value
            for recipient in event.recipients:
                delivery_id = "dlv_" + envelope.event_id("delivery", event.case_ref, recipient.partner_id)
                rows.append((event.case_ref, recipient.partner_id, "webhook",
                             Json(webhook_body(event, recipient, delivery_id)), urgency, retry.priority(urgency),
                             event.case.sla.deliver_by, policy.for_urgency(urgency).horizon_s))
        # The unique (case_ref, recipient) key is the "never notify twice" guarantee across replays.
        created = psycopg2.extras.execute_values(
            cur, "INSERT INTO notifier.deliveries (case_ref, recipient, channel, payload, urgency, priority,"
            " deliver_by, give_up_at) VALUES %s ON CONFLICT (case_ref, recipient) DO NOTHING"
            " RETURNING case_ref, recipient", rows, fetch=True,
            template="(%s, %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s))")
        for case_ref, recipient, *_ in {r[:2] for r in rows} - {tuple(r) for r in created}:
            log.get().info("duplicate_dropped", reason="delivery already exists", case_ref=case_ref,
                           recipient=recipient)
        return []
    return routed_handler


def build(settings: Settings) -> Service:
    partners = DirectoryCache(settings.database_url).get
    policy = policy_for(settings)
    service = Service("notifier", settings,
                      consumers=[ConsumerSpec(GROUP, [topics.ROUTED.name], routed_handler_for(policy))])
    worker = DeliveryWorker(settings, partners, service.stop, on_commit=service.relay.wake.set, policy=policy)
    worker.on_fatal = service.fail
    service.workers.append(lambda _svc: worker)
    service.routers.append(admin.router(settings, db.Pool(settings.database_url), policy, worker.wake.set))
    # Wake the delivery worker as soon as new deliveries are committed.
    for loop in service.loops:
        loop.on_commit = lambda: (service.relay.wake.set(), worker.wake.set())
    return service
