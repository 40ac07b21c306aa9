"""A client that reaches the broker publishes forged, tampered, mis-signed and replayed events on every
internal topic: none changes a case, none discloses anything, each forgery is set aside and alerted."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import httpx
from kafka import KafkaProducer

from schemas import envelope, topics
from schemas.models import CaseRouted, NotificationDelivered, Recipient
from services.common import db
from services.common.event_auth import EventSigner, generate

from .conftest import as_json, complaint, read_topic, submit_http, wait_delivered, wait_for

FORGED_RECIPIENT = "ngo-gulf"


def publish(stack, records) -> None:
    producer = KafkaProducer(bootstrap_servers=stack.kafka)
    for topic, key, value, headers in records:
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush(30)
    producer.close()


def genuine_routed(stack, case_ref: str):
    return read_topic(stack, topics.ROUTED.name, lambda r: as_json(r)["case_ref"] == case_ref)


def test_forged_tampered_and_replayed_events_change_nothing(stack, conn):
    body = complaint()
    case_ref = submit_http(stack, body).json()["case_ref"]
    before = wait_delivered(stack, body["external_id"])
    real = genuine_routed(stack, case_ref)
    real_event = CaseRouted.model_validate_json(real.value)
    now = datetime.now(UTC)

    # A routing that sends the worker's contact details to an organisation triage never chose.
    forged = real_event.model_copy(update={"recipients": [Recipient(
        partner_id=FORGED_RECIPIENT, kind="ngo", role="primary", disclosure="full", reason="forged")]})
    forged_msg = envelope.encode(topics.ROUTED, forged, id=str(uuid.uuid4()), source="triage")
    attacker = EventSigner("triage", generate()[0])  # a key pair of the attacker's own, claiming triage
    wrong_service = EventSigner("notifier", stack.event_keys["notifier"][0])  # a real key, not triage's
    delivered = NotificationDelivered(case_ref=case_ref, recipient=FORGED_RECIPIENT, channel="webhook", attempts=1,
                                      status_code=200, delivered_at=now)
    delivered_msg = envelope.encode(topics.DELIVERED, delivered, id=str(uuid.uuid4()), source="notifier")
    real_headers = list(real.headers)
    tampered_value = json.dumps({**json.loads(real.value), "recipients": [json.loads(forged.model_dump_json())[
        "recipients"][0]]}).encode()
    marker = uuid.uuid4().hex[:8].encode()

    def key(label: str) -> bytes:
        return case_ref.encode() if label == "case" else b"forgery-" + marker + b"-" + label.encode()

    records = [
        (topics.ROUTED.name, key("case"), forged_msg.value, forged_msg.headers),  # unsigned
        (topics.ROUTED.name, key("case"), forged_msg.value,
         attacker.headers(topics.ROUTED.name, key("case"), forged_msg.value, forged_msg.headers)),
        (topics.ROUTED.name, key("case"), forged_msg.value,
         wrong_service.headers(topics.ROUTED.name, key("case"), forged_msg.value, forged_msg.headers)),
        (topics.ROUTED.name, key("case"), tampered_value, real_headers),  # genuine signature, other content
        (topics.ROUTED.name, real.key, real.value, real_headers),  # a replay of the genuine event
        (topics.DELIVERED.name, key("case"), delivered_msg.value, delivered_msg.headers),
        (topics.DELIVERED.name, key("case"), delivered_msg.value,
         attacker.headers(topics.DELIVERED.name, key("case"), delivered_msg.value, delivered_msg.headers)),
    ]
    # Unsigned records on the other internal topics, each from a client that is not a service.
    for topic in (topics.RECEIVED, topics.TRIAGED, topics.FAILED):
        records.append((topic.name, key(topic.name), json.dumps({"case_ref": case_ref}).encode(),
                        [("ce_id", str(uuid.uuid4()).encode()), ("ce_type", topic.event_type.encode())]))
    publish(stack, records)

    # Every forgery is set aside by every group that reads its topic (the replay is a repeat, not a forgery).
    expected = {("intake-status", topics.ROUTED.name): 4, ("notifier", topics.ROUTED.name): 4,
                ("intake-status", topics.DELIVERED.name): 2, ("triage", topics.RECEIVED.name): 1,
                ("intake-status", topics.TRIAGED.name): 1, ("intake-status", topics.FAILED.name): 1}

    def set_aside():
        with db.transaction(conn) as cur:
            found = {}
            for schema in ("intake", "triage", "notifier"):
                cur.execute(f"SELECT consumer_group, topic, sum(attempts) FROM {schema}.dead_letters"
                            " WHERE error_class = 'UnsignedEvent' AND created_at > %s GROUP BY 1, 2", (now,))
                found.update({(g, t): n for g, t, n in cur.fetchall()})
        return found == expected or None
    wait_for(set_aside, 60, 0.5, what=f"forgeries set aside as {expected}")

    # Nothing changed: same recipients, no delivery or disclosure for the forged recipient, status as before.
    marker_case = complaint()
    submit_http(stack, marker_case)
    wait_delivered(stack, marker_case["external_id"])  # later events processed: the forgeries have been seen
    after = wait_delivered(stack, body["external_id"])
    assert [d["recipient"] for d in after["deliveries"]] == [d["recipient"] for d in before["deliveries"]]
    assert FORGED_RECIPIENT not in {d["recipient"] for d in after["deliveries"]}
    with db.transaction(conn) as cur:
        cur.execute("SELECT count(*) FROM notifier.deliveries WHERE case_ref = %s AND recipient = %s",
                    (case_ref, FORGED_RECIPIENT))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM intake.disclosures WHERE case_ref = %s AND recipient = %s",
                    (case_ref, FORGED_RECIPIENT))
        assert cur.fetchone()[0] == 0
    alerted = read_topic(stack, topics.ALERTS.name, lambda r: as_json(r)["kind"] == "dead_letter"
                         and "UnsignedEvent" in as_json(r)["message"] and as_json(r)["case_ref"] == case_ref
                         and as_json(r)["topic"] == topics.ROUTED.name)  # a grievance topic: urgency high
    assert "possible forgery" in as_json(alerted)["message"] and as_json(alerted)["urgency"] == "high"


def test_contact_details_only_for_a_recipient_triage_chose_at_full(stack, conn):
    """Even with the internal token (a compromised notifier), intake releases contact details only to a
    recipient that triage's signed routing named at `full`, under the consent held now."""
    body = complaint()
    case_ref = submit_http(stack, body).json()["case_ref"]
    status = wait_delivered(stack, body["external_id"])
    routed = {r.partner_id: r.disclosure.value for r in CaseRouted.model_validate_json(
        genuine_routed(stack, case_ref).value).recipients}
    auth = {"Authorization": f"Bearer {stack.internal_token}"}

    def ask(*recipients: str) -> list[dict]:
        response = httpx.post(f"{stack.url('intake')}/v1/internal/contacts", headers=auth, timeout=10,
                              json={"requests": [{"case_ref": case_ref, "recipient": r} for r in recipients]})
        assert response.status_code == 200, response.text
        return response.json()["answers"]

    started = time.monotonic()
    forged = ask(FORGED_RECIPIENT)  # never routed there: nothing to release, nothing recorded
    assert [(a["recipient"], a["status"], a["contact"]) for a in forged] == [(FORGED_RECIPIENT, "not_routed", None)]
    assert time.monotonic() - started >= 0.9  # waited for intake's projection before saying so
    full = [p for p, level in routed.items() if level == "full"]
    lower = [p for p, level in routed.items() if level != "full"]
    assert full and lower, routed
    released, refused = ask(full[0], lower[0])
    assert released["status"] == "released" and released["contact"]["phone"] == body["contact"]["phone"]
    assert refused["status"] == "refused" and refused["contact"] is None
    assert "triage routed the case to the recipient at" in refused["reason"]
    too_many = httpx.post(f"{stack.url('intake')}/v1/internal/contacts", headers=auth, timeout=10,
                          json={"requests": [{"case_ref": case_ref, "recipient": full[0]}] * 65})
    assert too_many.status_code == 422
    with db.transaction(conn) as cur:
        cur.execute("SELECT recipient, granted FROM intake.disclosures WHERE case_ref = %s", (case_ref,))
        audit = cur.fetchall()
    assert (FORGED_RECIPIENT, True) not in audit and (lower[0], True) not in audit
    assert len(status["deliveries"]) == len(routed)
