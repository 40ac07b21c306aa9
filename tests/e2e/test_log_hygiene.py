"""Logs never carry contact details or complaint text: a full run with distinctive markers (HTTP and Kafka
submissions delivered, rejections on both, dead letters on both an outer and an internal topic, one of
them failing validation on the marked text itself), then every log file the stack captured is searched."""

from __future__ import annotations

import json
import uuid

from schemas import topics
from services.common import db
from services.common.consumer import Incoming
from services.common.event_auth import EventSigner
from services.common.vault import DataVault

from .conftest import PARTNER, produce, submit_http, wait_delivered, wait_for
from .partner_kafka import signed as partner_signed


def markers() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    digits = str(uuid.uuid4().int)[:9]
    return {"text": f"Quillmoraine{tag}", "name": f"Ozymandra Vextelli{tag}", "phone": f"+977 9{digits}",
            "email": f"w{tag}@hygiene.example", "passport": f"PX{digits}", "handle": f"@vex{tag}"}


def submission(m: dict[str, str], **extra) -> dict:
    return {"external_id": f"hyg-{uuid.uuid4().hex[:10]}", "language": "en", "country_of_work": "MY",
            "country_of_origin": "NP",
            "text": f"My employer {m['text']} took my passport and has not paid me for 3 months.",
            "contact": {"name": m["name"], "phone": m["phone"], "email": m["email"],
                        "passport_number": m["passport"], "messaging_handle": m["handle"]},
            "consent": {"share_contact": True}, **extra}


def searched(m: dict[str, str]) -> list[str]:
    """What must not appear: each marker, and the phone number's digits however they are spaced."""
    return [*m.values(), m["phone"].replace(" ", "").lstrip("+")]


def test_no_log_line_carries_contact_details_or_complaint_text(stack, conn):
    http_m, kafka_m, reject_m, dead_m, internal_m = (markers() for _ in range(5))
    every = [http_m, kafka_m, reject_m, dead_m, internal_m]

    # Delivered over HTTP and over Kafka (full disclosure: the contact details are fetched and sent).
    good_http = submission(http_m)
    case_ref = submit_http(stack, good_http).json()["case_ref"]
    good_kafka = submission(kafka_m, partner_id=PARTNER)
    good_value = json.dumps(good_kafka).encode()
    produce(stack, topics.SUBMISSIONS.name, good_value, key=PARTNER.encode(),
            headers=partner_signed(good_value, PARTNER, ce=False))

    # Rejected: over HTTP (an unassigned country) and on Kafka (wrong types, one quoting the marker).
    rejected = submit_http(stack, submission(reject_m, country_of_work="XX"))
    assert rejected.status_code == 422
    bad_kafka = {**submission(reject_m, partner_id=PARTNER), "urgency_hint": reject_m["text"], "minor_involved":
                 reject_m["name"]}
    bad_value = json.dumps(bad_kafka).encode()
    produce(stack, topics.SUBMISSIONS.name, bad_value, key=PARTNER.encode(),
            headers=partner_signed(bad_value, PARTNER, ce=False))

    # Dead letters: a submission cut short, and a genuinely signed event that fails validation on its text.
    cut = json.dumps(submission(dead_m, partner_id=PARTNER)).encode()[:-5]
    produce(stack, topics.SUBMISSIONS.name, cut, key=PARTNER.encode(), headers=partner_signed(cut, PARTNER, ce=False))
    cut_id = Incoming(topics.SUBMISSIONS.name, 0, 0, PARTNER.encode(), cut, []).dedupe_key
    internal_key = f"GRV-HYG{uuid.uuid4().hex[:9].upper()}"[:16].encode()
    value = json.dumps({"case_ref": 12345, "text": [internal_m["text"]], "subject_ref": {"n": internal_m["name"]},
                        "contact": {"phone": internal_m["phone"], "email": internal_m["email"]}}).encode()
    headers = [("ce_specversion", b"1.0"), ("ce_id", uuid.uuid4().hex.encode()),
               ("ce_source", b"/grievance-pipeline/intake"), ("ce_type", topics.RECEIVED.event_type.encode()),
               ("ce_subject", internal_key)]
    signed = EventSigner("intake", stack.event_keys["intake"][0]).headers(topics.RECEIVED.name, internal_key, value,
                                                                         headers)
    produce(stack, topics.RECEIVED.name, value, key=internal_key, headers=signed)

    wait_delivered(stack, good_http["external_id"])
    wait_delivered(stack, good_kafka["external_id"])

    def kept() -> bool:
        with db.transaction(conn) as cur:
            cur.execute("SELECT count(*) FROM intake.rejected_submissions WHERE external_id = %s",
                        (bad_kafka["external_id"],))
            rejected_kafka = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM intake.dead_letters WHERE dedupe_key = %s", (cut_id,))
            cut_kept = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM triage.dead_letters WHERE key = %s", (internal_key,))
            return bool(rejected_kafka and cut_kept and cur.fetchone()[0])

    wait_for(kept, 60, 0.5, what="the Kafka rejection and both dead letters kept")

    # The kept copies hold them sealed, not in clear.
    vault = DataVault(stack.data_key)
    with db.transaction(conn) as cur:
        cur.execute("SELECT value, value_sealed, error_message FROM triage.dead_letters WHERE key = %s",
                    (internal_key,))
        sealed_value, sealed, error = cur.fetchone()
        cur.execute("SELECT string_agg(encode(body, 'escape') || errors::text, '') FROM intake.rejected_submissions")
        rejects = cur.fetchone()[0]
        cur.execute("SELECT string_agg(coalesce(encode(value, 'escape'), '') || error_message, '')"
                    " FROM intake.dead_letters")
        dead = cur.fetchone()[0]
    assert sealed and vault.decrypt_bytes(sealed_value) == value and "text" in error
    for m in every:
        for marker in searched(m):
            assert marker not in error and marker not in rejects and marker not in dead, marker

    # And no log file of any process the stack ran holds any of them.
    logs = {path.name: path.read_text(errors="replace") for path in sorted(stack.log_dir.glob("*.log"))}
    assert {"intake.log", "triage.log", "notifier.log"} <= set(logs)
    assert case_ref in logs["intake.log"] and "dead_lettered" in logs["triage.log"]  # the run was logged
    leaks = [(name, marker) for name, text in logs.items() for m in every for marker in searched(m)
             if marker in text]
    assert leaks == []
