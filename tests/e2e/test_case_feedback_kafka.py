"""Partner feedback on Kafka end to end: a recipient publishes its lifecycle steps on case.feedback, keyed by
its partner id and signed with its secret like a submission. Each step has the same effect as over HTTP
(case.updated, the status the submitter reads); a resend of the record is the same step; an impossible
step, a case not routed to the sender, a malformed step and a forged or unsigned one are answered on
grievance.rejected and change nothing."""

from __future__ import annotations

import json
import uuid

import httpx

from schemas import topics

from .conftest import PARTNER, as_json, complaint, produce, read_topic, submit_http, wait_delivered, wait_for
from .partner_kafka import signed


def publish_step(stack, partner: str, step: dict, event_id: str | None = None, *, sign_as: str | None = None) -> str:
    event_id = event_id or f"fb-{uuid.uuid4().hex}"
    value = json.dumps(step).encode()
    produce(stack, topics.FEEDBACK.name, value, key=partner.encode(), headers=signed(value, sign_as or partner,
                                                                                     event_id))
    return event_id


def lifecycle(stack, external_id: str) -> dict:
    return httpx.get(stack.url("intake") + "/v1/grievances", params={"external_id": external_id},
                     headers={"Authorization": f"Bearer demo-key-{PARTNER}"}, timeout=10).json()["lifecycle"]


def rejection(stack, event_id: str) -> dict:
    return as_json(read_topic(stack, topics.REJECTED.name, lambda r: as_json(r)["source_event_id"] == event_id))


def test_a_recipient_reports_steps_on_kafka_and_refusals_come_back_on_grievance_rejected(stack):
    body = complaint(external_id=f"fb-{uuid.uuid4().hex[:10]}")
    case_ref = submit_http(stack, body).json()["case_ref"]
    recipients = sorted(d["recipient"] for d in wait_delivered(stack, body["external_id"])["deliveries"])
    me = next(r for r in recipients if r != PARTNER)

    first = publish_step(stack, me, {"case_ref": case_ref, "type": "acknowledged"})
    wait_for(lambda: lifecycle(stack, body["external_id"])["recipients"].get(me) == "acknowledged", 30,
             what="the acknowledgement from Kafka in the case's lifecycle")
    updated = as_json(read_topic(stack, topics.CASE_UPDATED.name, lambda r: as_json(r)["case_ref"] == case_ref))
    assert (updated["partner_id"], updated["step"], updated["state"]) == (me, "acknowledged", "acknowledged")
    assert updated["worker_message"]["text"]

    publish_step(stack, me, {"case_ref": case_ref, "type": "acknowledged"}, first)  # the same record again
    # An impossible step: closed as remedied straight after acknowledging.
    impossible = publish_step(stack, me, {"case_ref": case_ref, "type": "closed", "outcome": "remedied"})
    refused = rejection(stack, impossible)
    assert refused["partner_id"] == me and refused["errors"][0]["loc"] == "type"
    assert "cannot go from acknowledged to closed" in refused["errors"][0]["msg"]
    assert "accepted" in refused["errors"][0]["msg"]  # the allowed next steps are named

    # Another partner's case, a malformed step, and a record signed by someone else than its key names.
    outsider = next(p for p in ("ngo-gulf", "ngo-th", "iom-hub") if p not in recipients)
    not_mine = publish_step(stack, outsider, {"case_ref": case_ref, "type": "acknowledged"})
    assert rejection(stack, not_mine)["errors"][0]["loc"] == "case_ref"
    malformed = publish_step(stack, me, {"case_ref": case_ref, "type": "referred_back"})  # no reason
    assert rejection(stack, malformed)["errors"]
    forged = publish_step(stack, me, {"case_ref": case_ref, "type": "referred_back", "reason": "not ours"},
                          sign_as=outsider)
    assert rejection(stack, forged)["errors"]
    hostile = publish_step(stack, me, {"case_ref": case_ref, "type": "accepted", "note": "a\x00b\ud800"})
    assert rejection(stack, hostile)["errors"]

    # A valid later step goes through after all that, and nothing else changed the case.
    publish_step(stack, me, {"case_ref": case_ref, "type": "accepted"})
    wait_for(lambda: lifecycle(stack, body["external_id"])["recipients"].get(me) == "accepted", 30,
             what="the accepted step")
    steps = lifecycle(stack, body["external_id"])["steps"]
    assert [(s["partner_id"], s["state"]) for s in steps] == [(me, "acknowledged"), (me, "accepted")]
