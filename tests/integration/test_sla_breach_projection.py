"""Intake's status consumer keeps SLA breaches (case.sla_breached) for the case's status, against PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from schemas import envelope, topics
from schemas.models import CaseRouted, CaseSlaBreached, CaseView, Recipient, Sla, Urgency
from services.common import db
from services.common.consumer import Incoming
from services.intake import store
from services.intake.identity import Vault
from services.intake.service import status_handler
from services.intake.validation import parse_submission

VAULT = Vault(Vault.generate_key())
AT = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def breach(case_ref: str, clock: str, escalated_to: str | None) -> Incoming:
    event = CaseSlaBreached(case_ref=case_ref, recipient="ngo-my", clock=clock, deadline=AT,
                            breached_at=AT + timedelta(seconds=2), escalated_to=escalated_to, urgency=Urgency.critical)
    m = envelope.encode(topics.SLA_BREACHED, event, source="notifier", id=envelope.event_id("t", case_ref, clock))
    return Incoming(m.topic, 0, 0, m.key, m.value, m.headers)


def test_breaches_show_in_the_status_once_each_and_never_for_an_unknown_case(conn):
    body = json.dumps({"text": "They took my passport", "external_id": f"sla-{uuid.uuid4().hex[:8]}"}).encode()
    with db.transaction(conn) as cur:
        ref = store.accept(cur, parse_submission(body, partner_id="ngo-np"), source="http", vault=VAULT).case_ref
    records = [breach(ref, "acknowledgement", "iom-my"), breach(ref, "delivery", None),
               breach("GRV-" + "0" * 12, "delivery", None)]
    with db.transaction(conn) as cur:
        status_handler(cur, records)
        status_handler(cur, records[:1])  # a replay
        found = store.case_status(cur, ref, "ngo-np")
        cur.execute("SELECT count(*) FROM intake.sla_breaches WHERE case_ref = %s", ("GRV-" + "0" * 12,))
        assert cur.fetchone() == (0,)
    assert found["sla_breaches"] == [
        {"recipient": "ngo-my", "clock": "acknowledgement", "deadline": AT, "breached_at": AT + timedelta(seconds=2),
         "escalated_to": "iom-my"},
        {"recipient": "ngo-my", "clock": "delivery", "deadline": AT, "breached_at": AT + timedelta(seconds=2),
         "escalated_to": None}]
    with db.transaction(conn) as cur:
        store.erase_case(cur, ref)
        cur.execute("SELECT count(*) FROM intake.sla_breaches WHERE case_ref = %s", (ref,))
        assert cur.fetchone() == (0,)


def test_the_partner_a_case_is_escalated_to_becomes_a_recipient_at_the_level_triage_gave_it(conn):
    body = json.dumps({"text": "They took my passport", "external_id": f"sla-{uuid.uuid4().hex[:8]}"}).encode()
    with db.transaction(conn) as cur:
        ref = store.accept(cur, parse_submission(body, partner_id="ngo-np"), source="http", vault=VAULT).case_ref

    def who(pid: str, role: str, level: str) -> Recipient:
        return Recipient(partner_id=pid, kind="ngo", role=role, disclosure=level, reason="test")
    routed = CaseRouted(case_ref=ref, rule="test", routed_at=AT, recipients=[who("ngo-my", "primary", "full")],
                        escalation=[who("iom-my", "escalation", "full")],
                        case=CaseView(case_ref=ref, subject_ref="s", submitted_by="ngo-np", text="t", language="en",
                                      urgency=Urgency.critical, categories=[], indicators=[], summary="t",
                                      country_of_work="MY", country_of_origin="NP", sector=None, employer=None,
                                      recruiter=None, sla=Sla(deliver_by=AT, acknowledge_by=AT)))
    with db.transaction(conn) as cur:
        store.project_routed(cur, [routed])
        assert store.routed_disclosure(cur, ref, "iom-my") is None  # on the list, not a recipient yet
        status_handler(cur, [breach(ref, "acknowledgement", "iom-my")])
        # A breach naming a partner that is not on triage's list grants nothing.
        status_handler(cur, [breach(ref, "delivery", "ngo-tw")])
        assert store.routed_disclosure(cur, ref, "iom-my") == "full"
        assert store.routed_disclosure(cur, ref, "ngo-tw") is None
        assert "iom-my" in {d["recipient"] for d in store.case_status(cur, ref, "ngo-np")["deliveries"]}
