"""The notifier service: case.routed → one delivery per recipient → signed webhooks, with retries; SLA clocks
(case.routed and case.updated) watched, breaches escalated."""

from __future__ import annotations

from collections.abc import Callable

from schemas import envelope, topics
from services.common import db
from services.common import logging as log
from services.common.consumer import Incoming
from services.common.directory import Directory
from services.common.directory_cache import DirectoryCache
from services.common.runtime import ConsumerSpec, Service
from services.common.settings import Settings
from services.common.sla import SlaPolicy
from services.notifier import admin, retry, routed, sla_clocks
from services.notifier.delivery import DeliveryWorker, policy_for
from services.notifier.sla_watcher import SlaWatcher

GROUP = "notifier"


def routed_handler_for(policy: retry.Policy, partners: Callable[[], Directory]
                       ) -> Callable[[db.Cursor, list[Incoming]], list[envelope.Message]]:
    def routed_handler(cur: db.Cursor, records: list[Incoming]) -> list[envelope.Message]:
        """One pending delivery per (case, recipient), with the case's urgency and delivery deadline (the
        claim's order) and its retry horizon; the delivery worker sends them."""
        rows, directory = [], partners()
        for rec in records:
            event = envelope.decode(topics.ROUTED, rec.value or b"")
            horizon_s = policy.for_urgency(event.case.urgency.value).horizon_s
            rows += [routed.delivery_row(event, r, event.case.sla.deliver_by, horizon_s, directory)
                     for r in event.recipients]
        created = routed.create(cur, rows)
        for case_ref, recipient in {r[:2] for r in rows} - created:
            log.get().info("duplicate_dropped", reason="delivery already exists", case_ref=case_ref,
                           recipient=recipient)
        return []
    return routed_handler


def handler_for(policy: retry.Policy, sla: SlaPolicy, partners: Callable[[], Directory]):
    """case.routed → deliveries and the primary's SLA clocks; case.updated → the holder's clocks."""
    deliveries = routed_handler_for(policy, partners)

    def handle(cur: db.Cursor, records: list[Incoming]) -> list[envelope.Message]:
        cases = [r for r in records if r.topic == topics.ROUTED.name]
        steps = [envelope.decode(topics.CASE_UPDATED, r.value or b"") for r in records
                 if r.topic == topics.CASE_UPDATED.name]
        out = deliveries(cur, cases) if cases else []
        if cases:
            sla_clocks.on_routed(cur, [envelope.decode(topics.ROUTED, r.value or b"") for r in cases], sla, partners())
        if steps:
            sla_clocks.on_steps(cur, steps, sla, partners())
        return out
    return handle


def build(settings: Settings) -> Service:
    partners = DirectoryCache(settings.database_url).get
    policy = policy_for(settings)
    sla = SlaPolicy.load(settings.config_dir / "sla.yaml")
    service = Service("notifier", settings, consumers=[
        ConsumerSpec(GROUP, [topics.ROUTED.name, topics.CASE_UPDATED.name], handler_for(policy, sla, partners))])
    worker = DeliveryWorker(settings, partners, service.stop, on_commit=service.relay.wake.set, policy=policy)
    worker.on_fatal = service.fail
    service.workers.append(lambda _svc: worker)
    watcher = SlaWatcher(settings, partners, service.stop, sla, policy,
                         on_commit=lambda: (service.relay.wake.set(), worker.wake.set()))
    watcher.on_fatal = service.fail
    service.workers.append(lambda _svc: watcher)
    service.routers.append(admin.router(settings, db.Pool(settings.database_url), policy, worker.wake.set))
    # Wake the delivery worker as soon as new deliveries are committed.
    for loop in service.loops:
        loop.on_commit = lambda: (service.relay.wake.set(), worker.wake.set())
    return service
