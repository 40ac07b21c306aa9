"""The dashboard's projector against a real PostgreSQL: events of a case in any order, repeated, with a late
older step, make one case row and one timeline entry per event; the dead-letter reader keeps poison as it
is; the views' queries answer from what was projected."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from schemas import envelope, topics
from schemas.models import (
    CaseRouted,
    CaseUpdated,
    CaseView,
    Evidence,
    Excluded,
    GrievanceReceived,
    GrievanceTriaged,
    NotificationDelivered,
    NotificationFailed,
    OperatorAlert,
    Recipient,
    Sla,
    Urgency,
    WorkerMessage,
)
from services.common import db
from services.common.consumer import Incoming
from services.dashboard import dlq_reader, projector, queries, read_store
from services.dashboard.filters import Filters

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


def incoming(msg: envelope.Message, offset: int = 0) -> Incoming:
    return Incoming(msg.topic, 0, offset, msg.key, msg.value, msg.headers)


def case_events(case_ref: str) -> list[envelope.Message]:
    sla = Sla(deliver_by=T0 + timedelta(minutes=15), acknowledge_by=T0 + timedelta(hours=1))
    received = GrievanceReceived(
        case_ref=case_ref, partner_id="ngo-np", external_id="x-1", subject_ref="subj", text="They took my passport",
        language="en", country_of_work="MY", country_of_origin="NP", sector="construction", employer="Acme Build",
        recruiter="Fast Jobs", channel="app", urgency_hint=None, minor_involved=False, consent_share_contact=True,
        has_contact=True, received_at=T0)
    triaged = GrievanceTriaged(
        case_ref=case_ref, partner_id="ngo-np", urgency=Urgency.critical, categories=["forced_labour"],
        indicators=["retention_of_identity_documents"], iris_principles=[], language="en", needs_review=False,
        reasons=["passport held"], evidence=[Evidence(term="took my passport", start=5, end=21, concept="passport")],
        ruleset="r1", summary="Passport withheld", sla=sla, triaged_at=T0 + timedelta(seconds=1))
    routed = CaseRouted(
        case_ref=case_ref, rule="corridor", routed_at=T0 + timedelta(seconds=2),
        recipients=[Recipient(partner_id="ngo-my", kind="ngo", role="primary", disclosure="full", reason="corridor")],
        excluded=[Excluded(partner_id="acme", reason="named employer")],
        case=CaseView(case_ref=case_ref, subject_ref="subj", submitted_by="ngo-np", text="They took my passport",
                      language="en", urgency=Urgency.critical, categories=["forced_labour"], indicators=[],
                      summary="Passport withheld", country_of_work="MY", country_of_origin="NP", sector=None,
                      employer="Acme Build", recruiter="Fast Jobs", sla=sla))
    failed = NotificationFailed(case_ref=case_ref, recipient="ngo-my", channel="webhook", attempts=1,
                                error="HTTP 500", final=False, next_attempt_at=T0 + timedelta(seconds=5),
                                failed_at=T0 + timedelta(seconds=3))
    delivered = NotificationDelivered(case_ref=case_ref, recipient="ngo-my", channel="webhook", attempts=2,
                                      status_code=200, delivered_at=T0 + timedelta(seconds=6))
    ack = CaseUpdated(case_ref=case_ref, partner_id="ngo-my", step="acknowledged", previous_state="delivered",
                      state="acknowledged", case_state="acknowledged", sequence=1, at=T0 + timedelta(minutes=3),
                      recorded_at=T0 + timedelta(minutes=3), worker_message=WorkerMessage(language="en", text="seen"))
    accepted = ack.model_copy(update={"step": "accepted", "state": "accepted", "case_state": "accepted",
                                      "sequence": 2, "at": T0 + timedelta(minutes=9)})
    alert = OperatorAlert(case_ref=case_ref, kind="critical_case", urgency=Urgency.critical, message="critical case",
                          raised_at=T0 + timedelta(seconds=1), service="triage")
    pairs = [(topics.RECEIVED, received), (topics.TRIAGED, triaged), (topics.ROUTED, routed), (topics.FAILED, failed),
             (topics.DELIVERED, delivered), (topics.CASE_UPDATED, ack), (topics.CASE_UPDATED, accepted),
             (topics.ALERTS, alert)]
    return [envelope.encode(t, e, source="test", id=f"{case_ref}-{i}") for i, (t, e) in enumerate(pairs)]


@pytest.fixture()
def cur(conn):
    with db.transaction(conn) as c:
        yield c
        c.connection.rollback()


def test_events_in_any_order_and_repeated_make_one_case_with_its_timeline(cur):
    case_ref = "GRV-" + secrets.token_hex(6).upper()
    events = case_events(case_ref)
    # Steps first and the later step before the earlier one, then everything again (a replay).
    order = [events[6], events[5], events[4], events[3], events[2], events[1], events[0], events[7]]
    for _ in range(2):
        projector.handle(cur, [incoming(m, i) for i, m in enumerate(order)])

    cur.execute("SELECT partner_id, urgency, categories, primary_partner, recipients, first_delivered_at,"
                " acknowledged_at, case_state, employer FROM dashboard.cases WHERE case_ref = %s", (case_ref,))
    assert cur.fetchone() == ("ngo-np", "critical", ["forced_labour"], "ngo-my", ["ngo-my"],
                              T0 + timedelta(seconds=6), T0 + timedelta(minutes=3), "accepted", "Acme Build")
    found = queries.case(cur, case_ref)
    kinds = [e["kind"] for e in found["timeline"]]
    assert kinds == ["received", "triaged", "alert", "routed", "delivery_failed", "delivered", "step", "step"]
    triaged = found["timeline"][1]["detail"]
    assert triaged["evidence"] == [{"term": "took my passport", "concept": "passport"}]
    assert found["timeline"][3]["detail"]["excluded"] == [{"partner_id": "acme", "reason": "named employer"}]
    # The worker's words stay out of the read model; it never had contact details to keep.
    cur.execute("SELECT count(*) FROM dashboard.timeline WHERE case_ref = %s AND detail::text LIKE '%%passport%%'"
                " AND kind <> 'triaged'", (case_ref,))
    assert cur.fetchone()[0] == 0
    cur.execute("SELECT outcome, attempts FROM dashboard.deliveries WHERE case_ref = %s ORDER BY at", (case_ref,))
    assert cur.fetchall() == [("failed", 1), ("delivered", 2)]


def test_the_views_answer_from_the_projection(cur):
    case_ref = "GRV-" + secrets.token_hex(6).upper()
    events = case_events(case_ref)
    projector.handle(cur, [incoming(m) for m in events[:3] + events[7:]])  # not yet delivered or acknowledged
    now = T0 + timedelta(minutes=30)
    view = queries.now_view(cur, Filters(), now)
    assert case_ref in [c["case_ref"] for c in view["cases"]]
    assert case_ref in [a["case_ref"] for a in view["alerts"]]
    assert case_ref in [d["case_ref"] for d in view["due"]]  # acknowledge_by in 30 minutes
    assert case_ref not in [c["case_ref"] for c in queries.now_view(cur, Filters(country="QA"), now)["cases"]]

    projector.handle(cur, [incoming(m) for m in events[3:7]])
    view = queries.now_view(cur, Filters(), now)
    assert case_ref not in [c["case_ref"] for c in view["cases"]]  # acknowledged by its partner
    flow = queries.flow(cur, Filters(partner="ngo-my"), now)
    assert flow["total"] >= 1 and "critical" in flow["charts"]["urgency"]["series"]
    assert next(r for r in flow["latency"] if r["urgency"] == "critical")["n"] >= 1
    employers = queries.patterns(cur, Filters(), now)["employer"]
    assert any(r["name"] == "Acme Build" for r in employers)


def test_a_record_that_is_not_its_topics_event_raises_for_the_runtime_to_set_aside(cur):
    bad = Incoming(topics.TRIAGED.name, 0, 0, b"GRV-AAAAAAAAAAAA", b'{"case_ref": "GRV-AAAAAAAAAAAA"}', [])
    with pytest.raises(ValueError):
        projector.handle(cur, [bad])


def test_dead_letters_are_kept_as_they_came_even_when_malformed(cur):
    headers = [("ce_id", b"bad\x00id"), ("kafka_dlt-original-topic", b"case.routed"),
               ("kafka_dlt-original-partition", b"2"), ("kafka_dlt-original-offset", b"41"),
               ("kafka_dlt-original-consumer-group", b"notifier"), ("kafka_dlt-exception-fqcn", b"x.MalformedRecord"),
               ("kafka_dlt-exception-message", b"ce_id must be printable"), ("odd", b"\xff\xfe")]
    rows = [dlq_reader.row("notifier.dlq", 0, 7, 1_700_000_000_000, b"GRV-BBBBBBBBBBBB", b"\x00\xff", headers)]
    dlq_reader.store(cur, rows)
    dlq_reader.store(cur, rows)  # read again after a restart: kept once
    cur.execute("SELECT id, original_topic, original_offset, case_ref, error_message FROM dashboard.dlq_records"
                " WHERE dlq_topic = 'notifier.dlq' AND kafka_offset = 7")
    [(record_id, topic, offset, case_ref, error)] = cur.fetchall()
    assert (topic, offset, case_ref, error) == ("case.routed", 41, "GRV-BBBBBBBBBBBB", "ce_id must be printable")
    assert queries.dead_letter(cur, record_id)["value_bytes"] == 2


def test_clear_empties_the_projection_but_keeps_acknowledgements_and_the_audit(cur):
    case_ref = "GRV-" + secrets.token_hex(6).upper()
    events = case_events(case_ref)
    projector.handle(cur, [incoming(m) for m in events])
    cur.execute("INSERT INTO dashboard.alert_acks (event_id, acknowledged_by) VALUES (%s, 'op')", (events[7].id,))
    read_store.clear(cur, ["dashboard"])
    cur.execute("SELECT (SELECT count(*) FROM dashboard.cases), (SELECT count(*) FROM dashboard.alert_acks)")
    assert cur.fetchone() == (0, 1)
    projector.handle(cur, [incoming(m) for m in events])  # the rebuild: acknowledged alerts stay acknowledged
    assert case_ref not in [a["case_ref"] for a in queries.now_view(cur, Filters(range="30d"), T0)["alerts"]]
