"""Starting and stopping SLA clocks as the notifier hears of cases: case.routed starts the primary's
clocks, case.updated stops the holder's and starts the one its new state waits on (sla_rules). Called
inside the consumer's transaction; the directory (working hours) is read by the caller beforehand."""

from __future__ import annotations

from datetime import datetime

from schemas.models import CaseRouted, CaseUpdated, Urgency
from services.common import db
from services.common import logging as log
from services.common.directory import Directory
from services.common.sla import SlaPolicy
from services.notifier import sla_rules, sla_store
from services.notifier.sla_store import ClockRow


def clock_rows(policy: SlaPolicy, urgency: Urgency, case_ref: str, recipient: str, clocks: list, round_: int,
               start: datetime, directory: Directory, fixed: dict[str, datetime] | None = None) -> list[ClockRow]:
    """Rows for `clocks` started at `start` in the recipient's working hours (`fixed`: deadlines already
    set, e.g. the case's own in case.routed)."""
    partner, fixed = directory.get(recipient), fixed or {}
    return [(case_ref, recipient, c, round_, start, fixed.get(c) or policy.due(urgency, c, start, partner))
            for c in clocks]


def on_routed(cur: db.Cursor, events: list[CaseRouted], policy: SlaPolicy, directory: Directory) -> None:
    """The primary of each newly routed case starts its clocks; the case's deadlines (case.routed's
    case.sla, which the recipient was sent) are its delivery and acknowledgement deadlines."""
    fresh = sla_store.open_cases(cur, events)
    events = [e for e in events if e.case_ref in fresh]
    if not events:
        return
    heard = sla_store.states(cur, [e.case_ref for e in events])
    rows: list[ClockRow] = []
    for e in events:
        sla = {"delivery": e.case.sla.deliver_by, "acknowledgement": e.case.sla.acknowledge_by}
        for r in e.recipients:
            if r.role == "primary":
                clocks = sla_rules.first_clocks(heard.get((e.case_ref, r.partner_id)))
                rows += clock_rows(policy, e.case.urgency, e.case_ref, r.partner_id, clocks, 0, e.routed_at,
                                   directory, sla)
    sla_store.start(cur, rows)


def on_steps(cur: db.Cursor, events: list[CaseUpdated], policy: SlaPolicy, directory: Directory) -> None:
    """A holder's step stops its running clocks and starts the one its new state waits on. Steps of
    recipients holding no clock (copies) are only remembered, in case their routing is still to come."""
    for e in sorted(events, key=lambda e: (e.case_ref, e.sequence)):
        if not sla_store.record_step(cur, e):
            continue
        urgency = sla_store.holder_case(cur, e.case_ref, e.partner_id)
        if urgency is None:
            continue
        stopped = sla_store.stop(cur, e.case_ref, e.partner_id, e.recorded_at)
        clock = sla_rules.waits_on(e.state)
        if clock is not None:
            sla_store.start(cur, clock_rows(policy, Urgency(urgency), e.case_ref, e.partner_id, [clock], e.sequence,
                                            e.recorded_at, directory))
        log.get().info("sla_clock_step", case_ref=e.case_ref, recipient=e.partner_id, step=e.step, stopped=stopped,
                       started=clock)
