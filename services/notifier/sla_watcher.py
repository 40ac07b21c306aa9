"""The SLA watcher: a notifier thread that breaches clocks whose deadline passed and escalates their cases.

Its state is in PostgreSQL (notifier.sla_*), so a restart picks up where it was; several notifiers can run
it at once (claims skip locked rows). One transaction per batch of due clocks: each is stopped (a
delivery clock whose delivery did succeed) or breached: case.sla_breached, a delivery of the case to the
next partner on its escalation list with that partner's own clocks, or an `sla_breached` alert when
nobody is left. Event ids derive from the clock, so a batch retried after a crash publishes nothing twice.
The clock (`now`) is a constructor argument: tests drive it; the service uses real time."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime

from schemas import envelope, topics
from schemas.models import CaseRouted, CaseSlaBreached, OperatorAlert, Recipient, Sla, Urgency
from services.common import db
from services.common import logging as log
from services.common.clock import real_time
from services.common.directory import Directory
from services.common.errors import is_transient, safe_text
from services.common.health import LoopHealth
from services.common.outbox import enqueue
from services.common.settings import Settings
from services.common.sla import SlaPolicy
from services.notifier import retry, routed, sla_rules, sla_store
from services.notifier.sla_clocks import clock_rows
from services.notifier.sla_store import Due

SOURCE = "notifier"


class SlaWatcher(threading.Thread):
    def __init__(self, settings: Settings, directory: Callable[[], Directory], stop: threading.Event,
                 policy: SlaPolicy, delivery_policy: retry.Policy, clock: Callable[[], datetime] = real_time,
                 on_commit: Callable[[], None] = lambda: None, interval_s: float = 1.0, batch: int = 200):
        super().__init__(name="notifier-sla", daemon=True)
        self.settings, self.directory, self.stop, self.policy = settings, directory, stop, policy
        self.delivery_policy, self.clock, self.on_commit = delivery_policy, clock, on_commit
        self.interval_s, self.batch = interval_s, batch
        self.health = LoopHealth(self.name)
        self.on_fatal: Callable[[str], None] = lambda reason: None
        self.breached = 0
        self.logger = log.get().bind(component="sla")

    def run(self) -> None:
        conn = None
        while not self.stop.is_set():
            try:
                conn = conn or db.connect(self.settings.database_url, retries=1)
                settled = self.tick(conn)
                self.health.ok()
            except Exception as exc:  # the watcher must outlive any exception; its state is in the database
                self.logger.warning("sla_loop_error", error=safe_text(repr(exc), 500), transient=is_transient(exc))
                conn = _closed(conn)
                wait = self.health.survive(exc, self.settings.loop_max_failures)
                if wait is None:
                    self.on_fatal(f"{self.name}: {type(exc).__name__}: {safe_text(exc, 300)}")
                    break
                self.stop.wait(wait)
                continue
            if settled < self.batch:
                self.stop.wait(self.interval_s)
        _closed(conn)
        self.health.stopped()

    def tick(self, conn: db.Connection) -> int:
        """Settle the clocks due now, in one transaction; how many were settled."""
        directory, now = self.directory(), self.clock()  # read before the transaction
        with db.transaction(conn) as cur:
            due = sla_store.claim_due(cur, now, self.batch)
            if not due:
                return 0
            refs = sorted({d.case_ref for d in due})
            handled, holding = sla_store.escalated_holders(cur, refs), sla_store.holding(cur, refs)
            escalated = {d.case_ref: d.escalated for d in due}
            stopped, breached, deliveries, clocks, messages = [], [], [], [], []
            for d in due:
                if d.clock == "delivery" and d.delivered_at is not None:
                    stopped.append((d.id, d.delivered_at))  # delivered; the step that says so is yet to come
                    continue
                step = sla_rules.escalate(d.escalation, escalated[d.case_ref], holding.setdefault(d.case_ref, set()),
                                          (d.case_ref, d.recipient) in handled)
                handled.add((d.case_ref, d.recipient))
                escalated[d.case_ref] = step.escalated
                to = step.to["partner_id"] if step.to else None
                breached.append((d.id, now, to))
                if step.to is not None:
                    holding[d.case_ref].add(to)
                    new_deliveries, new_clocks = self.hand_over(d, Recipient.model_validate(step.to), now, directory)
                    deliveries += new_deliveries
                    clocks += new_clocks
                messages += self.breach_events(d, to, step.alert, now)
            routed.create(cur, deliveries)
            sla_store.start(cur, clocks)
            sla_store.settle(cur, stopped, breached, escalated)
            enqueue(cur, SOURCE, messages)
        self.breached += len(breached)
        self.on_commit()
        return len(due)

    def hand_over(self, d: Due, to: Recipient, now: datetime, directory: Directory) -> tuple[list, list]:
        """The escalation partner's delivery (sent the deadlines its own clocks run to) and clocks."""
        urgency = Urgency(d.urgency)
        clocks = clock_rows(self.policy, urgency, d.case_ref, to.partner_id, ["delivery", "acknowledgement"], 0, now,
                            directory)
        due = {c[2]: c[5] for c in clocks}
        event = CaseRouted.model_validate(d.routed)
        event = event.model_copy(update={"case": event.case.model_copy(update={"sla": Sla(
            deliver_by=due["delivery"], acknowledge_by=due["acknowledgement"])})})
        horizon_s = self.delivery_policy.for_urgency(d.urgency).horizon_s
        return [routed.delivery_row(event, to, due["delivery"], horizon_s, directory)], clocks

    def breach_events(self, d: Due, to: str | None, alert: bool, now: datetime) -> list[envelope.Message]:
        self.logger.warning("sla_breached", case_ref=d.case_ref, recipient=d.recipient, clock=d.clock,
                            deadline=d.due_at.isoformat(), escalated_to=to, operators_alerted=alert)
        ids = (d.case_ref, d.recipient, d.clock, str(d.round))
        event = CaseSlaBreached(case_ref=d.case_ref, recipient=d.recipient, clock=d.clock, deadline=d.due_at,
                                breached_at=now, escalated_to=to, urgency=Urgency(d.urgency))
        out = [envelope.encode(topics.SLA_BREACHED, event, source=SOURCE, id=envelope.event_id("sla-breached", *ids))]
        if alert:
            message = (f"{d.recipient} missed the {d.clock} deadline ({d.due_at.isoformat()}) and no partner is left"
                       " to escalate the case to: find someone to act on it")
            out.append(envelope.encode(topics.ALERTS, OperatorAlert(
                case_ref=d.case_ref, kind="sla_breached", urgency=Urgency(d.urgency), message=message,
                raised_at=now, service=SOURCE), source=SOURCE, id=envelope.event_id("sla-breached-alert", *ids)))
        return out


def _closed(conn: db.Connection | None) -> None:
    with contextlib.suppress(Exception):
        conn and conn.close()
