"""The SLA watcher against real PostgreSQL, its clock driven by the test: the notifier's own consumer handler
starts and stops clocks from case.routed and case.updated records; each `tick` settles what is due then.
What would be published is read from the notifier's outbox."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime, timedelta

import pytest

from schemas import envelope, topics
from schemas.models import CaseRouted, CaseUpdated, CaseView, Recipient, Urgency, WorkerMessage
from services.common import db
from services.common.consumer import Incoming
from services.common.directory import Directory
from services.common.settings import Settings
from services.common.sla import SlaPolicy
from services.notifier.delivery import policy_for
from services.notifier.service import handler_for
from services.notifier.sla_watcher import SlaWatcher

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Kuala Lumpur
POLICY = SlaPolicy.parse({u.value: {"deliver_within": "5m", "acknowledge_within": "1h", "accept_within": "2bh",
                                    "progress_within": "1bd"} for u in Urgency})
DIRECTORY = Directory.model_validate({"partners": [
    {"id": "sla-primary", "name": "Primary", "kind": "ngo", "available_24_7": True},
    {"id": "sla-office", "name": "Office", "kind": "ngo",
     "working_hours": {"timezone": "Asia/Kuala_Lumpur", "start": "09:00", "end": "17:00"}},
    {"id": "sla-esc-1", "name": "First escalation", "kind": "ngo", "available_24_7": True},
    {"id": "sla-esc-2", "name": "Second escalation", "kind": "hotline", "available_24_7": True},
]})


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def recipient(pid: str, role: str) -> Recipient:
    return Recipient(partner_id=pid, kind="ngo", role=role, disclosure="pseudonymous", reason="test")


def routed(primary: str = "sla-primary", escalation=("sla-esc-1", "sla-esc-2"), urgency=Urgency.critical) -> CaseRouted:
    case_ref = "GRV-" + secrets.token_hex(6).upper()
    sla = POLICY.deadlines(urgency, T0, DIRECTORY.get(primary))
    return CaseRouted(
        case_ref=case_ref, rule="test", routed_at=T0, recipients=[recipient(primary, "primary"),
                                                                  recipient("sla-esc-2", "copy")],
        escalation=[recipient(p, "escalation") for p in escalation],
        case=CaseView(case_ref=case_ref, subject_ref="subj", submitted_by="ngo-np", text="test", language="en",
                      urgency=urgency, categories=[], indicators=[], summary="test", country_of_work="MY",
                      country_of_origin="NP", sector=None, employer=None, recruiter=None, sla=sla))


def step(case_ref: str, partner: str, step_: str, sequence: int, at: datetime) -> CaseUpdated:
    return CaseUpdated(case_ref=case_ref, partner_id=partner, step=step_, previous_state="routed", state=step_,
                       case_state=step_, sequence=sequence, at=at, recorded_at=at,
                       worker_message=WorkerMessage(language="en", text="x"))


@pytest.fixture()
def env(database_url):
    settings = Settings(database_url=database_url)
    handle = handler_for(policy_for(settings), POLICY, lambda: DIRECTORY)
    clock = Clock(T0)
    conn = db.connect(database_url)
    with db.transaction(conn) as cur:  # every test's cases start at T0: leave no clock of another running
        cur.execute("UPDATE notifier.sla_clocks SET status = 'stopped' WHERE status = 'running'")

    def consume(*events) -> None:
        records = []
        for e in events:
            m = envelope.encode(topics.for_model(type(e)), e, source="test",
                                id=envelope.event_id("t", e.case_ref, str(getattr(e, "sequence", 0))))
            records.append(Incoming(m.topic, 0, 0, m.key, m.value, m.headers))
        with db.transaction(conn) as cur:
            handle(cur, records)

    def watcher() -> SlaWatcher:
        return SlaWatcher(settings, lambda: DIRECTORY, threading.Event(), POLICY, policy_for(settings), clock=clock)

    def query(sql: str, *params) -> list[tuple]:
        with db.transaction(conn) as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    yield consume, watcher, clock, query, conn
    conn.close()


def clocks(query, case_ref: str) -> list[tuple]:
    return query("SELECT recipient, clock, round, status, escalated_to FROM notifier.sla_clocks WHERE case_ref = %s"
                 " ORDER BY id", case_ref)


def published(query, case_ref: str, topic: str) -> list[dict]:
    return [json.loads(bytes(v)) for (v,) in query("SELECT value FROM notifier.outbox WHERE key = %s AND topic = %s"
                                                   " ORDER BY id", case_ref.encode(), topic)]


def deliver(query, case_ref: str, recipient_: str, at: datetime) -> None:
    query("UPDATE notifier.deliveries SET status = 'delivered', delivered_at = %s WHERE case_ref = %s"
          " AND recipient = %s RETURNING id", at, case_ref, recipient_)


def test_a_case_nobody_acknowledges_is_escalated_down_its_list_then_to_the_operators(env):
    consume, watcher, clock, query, conn = env
    case = routed()
    consume(case)
    w = watcher()
    # Only the primary holds the case: a copy runs no clock.
    assert clocks(query, case.case_ref) == [("sla-primary", "delivery", 0, "running", None),
                                            ("sla-primary", "acknowledgement", 0, "running", None)]
    deliver(query, case.case_ref, "sla-primary", T0 + timedelta(minutes=1))
    clock.at = T0 + timedelta(minutes=59)
    assert w.tick(conn) == 1  # the delivery clock: stopped, the delivery made it in time
    assert published(query, case.case_ref, "case.sla_breached") == []

    clock.at = T0 + timedelta(minutes=61)
    assert w.tick(conn) == 1
    [breach] = published(query, case.case_ref, "case.sla_breached")
    assert (breach["recipient"], breach["clock"], breach["escalated_to"], breach["urgency"]) == (
        "sla-primary", "acknowledgement", "sla-esc-1", "critical")
    assert breach["deadline"] == case.case.sla.acknowledge_by.isoformat().replace("+00:00", "Z")
    # The first escalation partner has its own delivery, sent the deadlines its own clocks run to.
    [(payload, deliver_by)] = query("SELECT payload, deliver_by FROM notifier.deliveries WHERE case_ref = %s"
                                    " AND recipient = 'sla-esc-1'", case.case_ref)
    assert payload["role"] == "escalation" and deliver_by == clock.at + timedelta(minutes=5)
    assert payload["case"]["sla"]["acknowledge_by"].startswith((clock.at + timedelta(hours=1)).isoformat()[:19])
    assert published(query, case.case_ref, "operator.alerts") == []

    # It is never delivered: its delivery breach sends the case on; the last one's breach goes to operators.
    # (sla-esc-2 already has a copy of the case, so it is skipped: nobody is left.)
    clock.at += timedelta(minutes=6)
    assert w.tick(conn) == 1
    breaches = published(query, case.case_ref, "case.sla_breached")
    assert [(b["recipient"], b["clock"], b["escalated_to"]) for b in breaches] == [
        ("sla-primary", "acknowledgement", "sla-esc-1"), ("sla-esc-1", "delivery", None)]
    [alert] = published(query, case.case_ref, "operator.alerts")
    assert alert["kind"] == "sla_breached" and "sla-esc-1" in alert["message"]
    # A second breach by the same holder (its acknowledgement) does not alert again.
    clock.at += timedelta(hours=2)
    assert w.tick(conn) == 1
    assert len(published(query, case.case_ref, "operator.alerts")) == 1
    assert [c[3] for c in clocks(query, case.case_ref)] == ["stopped", "breached", "breached", "breached"]


def test_an_acknowledgement_in_time_stops_the_clock_and_starts_the_next_stage(env):
    consume, watcher, clock, query, conn = env
    case = routed(primary="sla-office")
    consume(case)
    deliver(query, case.case_ref, "sla-office", T0)
    consume(step(case.case_ref, "sla-office", "acknowledged", 1, T0 + timedelta(minutes=30)))
    w = watcher()
    clock.at = T0 + timedelta(hours=2)  # past the acknowledgement deadline: it was met
    w.tick(conn)
    assert published(query, case.case_ref, "case.sla_breached") == []
    # The acceptance clock runs in the office's hours: 2 business hours from 10:30 local is 12:30.
    [(due,)] = query("SELECT due_at FROM notifier.sla_clocks WHERE case_ref = %s AND clock = 'acceptance'",
                     case.case_ref)
    assert due == T0 + timedelta(hours=2, minutes=30)
    clock.at = T0 + timedelta(hours=3)
    assert w.tick(conn) == 1
    assert [b["clock"] for b in published(query, case.case_ref, "case.sla_breached")] == ["acceptance"]
    assert [c for c in clocks(query, case.case_ref) if c[1] == "acceptance"] == [
        ("sla-office", "acceptance", 1, "breached", "sla-esc-1")]
    # Accepting later starts the progress clock; a stale repeat of the acknowledgement changes nothing.
    consume(step(case.case_ref, "sla-office", "accepted", 2, clock.at))
    consume(step(case.case_ref, "sla-office", "acknowledged", 1, T0 + timedelta(minutes=30)))
    running = [c for c in clocks(query, case.case_ref) if c[3] == "running" and c[0] == "sla-office"]
    assert running == [("sla-office", "progress", 2, "running", None)]
    consume(step(case.case_ref, "sla-office", "closed", 3, clock.at))
    assert not [c for c in clocks(query, case.case_ref) if c[3] == "running" and c[0] == "sla-office"]


def test_a_replayed_routing_starts_no_second_clock_and_a_restart_breaches_nothing_twice(env):
    consume, watcher, clock, query, conn = env
    case = routed(escalation=("sla-esc-1",))
    consume(case)
    consume(case)
    assert len(clocks(query, case.case_ref)) == 2
    clock.at = T0 + timedelta(hours=2)
    assert watcher().tick(conn) == 2  # delivery and acknowledgement, both missed
    consume(case)  # a replay after the breach
    assert watcher().tick(conn) == 0  # a restarted watcher: nothing due
    breaches = published(query, case.case_ref, "case.sla_breached")
    assert [(b["clock"], b["escalated_to"]) for b in breaches] == [("delivery", "sla-esc-1"),
                                                                   ("acknowledgement", None)]
    assert query("SELECT count(*) FROM notifier.deliveries WHERE case_ref = %s", case.case_ref) == [(3,)]
    assert query("SELECT escalated FROM notifier.sla_cases WHERE case_ref = %s", case.case_ref) == [(1,)]


def test_a_step_heard_before_its_routing_decides_the_first_clock(env):
    consume, _, _, query, _ = env
    case = routed()
    consume(step(case.case_ref, "sla-primary", "acknowledged", 1, T0))
    consume(case)
    assert clocks(query, case.case_ref) == [("sla-primary", "acceptance", 0, "running", None)]


def test_two_watchers_at_once_breach_each_clock_once(env, database_url):
    consume, watcher, clock, query, _ = env
    cases = [routed(escalation=()) for _ in range(30)]
    consume(*cases)
    clock.at = T0 + timedelta(hours=2)
    watchers = [watcher() for _ in range(2)]
    conns = [db.connect(database_url) for _ in watchers]
    threads = [threading.Thread(target=lambda w=w, c=c: [w.tick(c) for _ in range(5)])
               for w, c in zip(watchers, conns, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    refs = [c.case_ref for c in cases]
    rows = query("SELECT key, count(*) FROM notifier.outbox WHERE topic = 'case.sla_breached' AND key = ANY(%s)"
                 " GROUP BY key", [r.encode() for r in refs])
    assert len(rows) == 30 and all(n == 2 for _, n in rows)
    assert sum(w.breached for w in watchers) == 60
