"""Partner feedback end to end: a recipient acknowledges and updates a case routed to it
(POST /v1/cases/{case_ref}/events), impossible steps are refused with 409, resends are the same step,
the submitting partner sees the lifecycle, and each step is on case.updated with the worker's status
in their language and nothing about anyone else."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import yaml

from services.common.settings import REPO_ROOT
from services.intake.lifecycle import State, case_state

from .conftest import AUTH, PARTNER, as_json, complaint, read_topic, submit_http, wait_delivered, wait_for

ADMIN = {"Authorization": "Bearer demo-admin-key"}
TEMPLATES = yaml.safe_load((REPO_ROOT / "config" / "worker_messages.yaml").read_text(encoding="utf-8"))["messages"]
FRENCH = ("Mon employeur a confisqué mon passeport et ne m'a pas payé mon salaire depuis trois mois. "
          "Je travaille quinze heures par jour.")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post(stack, case_ref: str, body: dict, key: str, **headers) -> httpx.Response:
    return httpx.post(stack.url("intake") + f"/v1/cases/{case_ref}/events", json=body,
                      headers=bearer(key) | headers, timeout=10)


def test_a_recipient_moves_its_case_through_the_lifecycle_and_the_worker_hears_of_it(stack):
    body = complaint(text=FRENCH, language="fr", external_id=f"life-{uuid.uuid4().hex[:10]}")
    case_ref = submit_http(stack, body).json()["case_ref"]
    status = wait_delivered(stack, body["external_id"])
    recipients = sorted(d["recipient"] for d in status["deliveries"])
    others = [r for r in recipients if r != PARTNER]
    assert others, recipients
    me = others[0]
    key = f"demo-key-{me}"
    assert status["lifecycle"] == {"state": "routed", "recipients": dict.fromkeys(recipients, "routed"), "steps": []}

    # Only a recipient: the submitter (not routed the case) and a missing case get the same 404.
    missing = "GRV-" + "0" * 12
    if PARTNER not in recipients:
        mine = post(stack, case_ref, {"type": "acknowledged"}, "demo-key-ngo-np")
        gone = post(stack, missing, {"type": "acknowledged"}, "demo-key-ngo-np")
        assert mine.status_code == gone.status_code == 404
        assert mine.json()["error"].replace(case_ref, missing) == gone.json()["error"]
    assert post(stack, missing, {"type": "acknowledged"}, key).status_code == 404

    at = "2026-03-01T08:00:00+07:00"
    ack = post(stack, case_ref, {"type": "acknowledged", "at": at}, key)
    assert ack.status_code == 201, ack.text
    step = ack.json()
    assert (step["partner_id"], step["previous_state"], step["state"], step["sequence"], step["duplicate"]) == (
        me, "routed", "acknowledged", 1, False)
    assert step["allowed_next"] == ["accepted", "referred_back"]
    again = post(stack, case_ref, {"type": "acknowledged", "at": at}, key)
    assert again.status_code == 200 and again.json() == step | {"duplicate": True}

    # An impossible step: 409 naming the current state and what may come next.
    jump = post(stack, case_ref, {"type": "remediation_done"}, key)
    assert jump.status_code == 409, jump.text
    assert jump.json()["detail"] == {"current_state": "acknowledged", "allowed_next": ["accepted", "referred_back"]}
    assert "acknowledged" in jump.json()["error"] and "accepted, referred_back" in jump.json()["error"]
    # What a step needs is a 422 naming it.
    no_reason = post(stack, case_ref, {"type": "referred_back"}, key)
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    assert post(stack, case_ref, {"type": "accepted", "at": "2026-03-01T08:00:00"}, key).status_code == 422

    idem = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    accepted = post(stack, case_ref, {"type": "accepted", "note": "caseworker Mina, call Tuesday"}, key, **idem)
    assert accepted.status_code == 201 and accepted.json()["note"] == "caseworker Mina, call Tuesday"
    assert post(stack, case_ref, {"type": "accepted", "note": "caseworker Mina, call Tuesday"}, key,
                **idem).json() == accepted.json() | {"duplicate": True}
    reused = post(stack, case_ref, {"type": "investigating"}, key, **idem)
    assert reused.status_code == 409 and reused.json()["errors"][0]["type"] == "idempotency_key_reused"

    for step_body in ({"type": "investigating"}, {"type": "remediation_planned", "note": "wages repaid in May"},
                      {"type": "remediation_done"}, {"type": "closed", "outcome": "remedied"}):
        r = post(stack, case_ref, step_body, key)
        assert r.status_code == 201, (step_body, r.text)
    assert post(stack, case_ref, {"type": "investigating"}, key).json()["detail"] == {
        "current_state": "closed", "allowed_next": []}

    # The submitting partner's view: every step with who and when, no other party's notes.
    view = httpx.get(stack.url("intake") + f"/v1/grievances/{case_ref}", headers=AUTH, timeout=10).json()
    life = view["lifecycle"]
    expected = {r: "routed" for r in recipients} | {me: "closed"}
    assert life["recipients"] == expected
    assert life["state"] == case_state({r: State(s) for r, s in expected.items()}).value
    assert [s["type"] for s in life["steps"]] == ["acknowledged", "accepted", "investigating", "remediation_planned",
                                                  "remediation_done", "closed"]
    assert {s["partner_id"] for s in life["steps"]} == {me}
    assert life["steps"][0]["at"] == datetime.fromisoformat(at).astimezone(UTC).isoformat()
    assert life["steps"][-1]["outcome"] == "remedied"
    assert all(s["note"] is None for s in life["steps"])
    by_external = httpx.get(stack.url("intake") + "/v1/grievances", params={"external_id": body["external_id"]},
                            headers=AUTH, timeout=10).json()
    assert by_external["lifecycle"] == life

    # Each step is on case.updated, signed by intake, with the worker's status in their language.
    def events() -> list[dict]:
        found = []
        read_topic(stack, "case.updated", lambda r: r.key == case_ref.encode() and found.append(r) is None
                   and len(found) == 6)
        return found

    records = events()
    assert all(dict(r.headers).get("grievance-signature", b"").startswith(b"ed25519;intake;") for r in records)
    updates = [as_json(r) for r in records]
    assert [u["sequence"] for u in updates] == [1, 2, 3, 4, 5, 6]
    assert [u["case_state"] for u in updates] == [s["case_state"] for s in life["steps"]]
    for u in updates:
        message = u["worker_message"]
        assert message["language"] == "fr", message
        assert message["text"] == TEMPLATES["fr"][u["case_state"]]
        for party in (*recipients, "Mina", "wages repaid"):
            assert party not in message["text"]
        assert "note" not in u and "Mina" not in str(u)


def test_a_key_without_the_update_scope_cannot_report_a_step(stack):
    body = complaint(external_id=f"life-{uuid.uuid4().hex[:10]}")
    case_ref = submit_http(stack, body).json()["case_ref"]
    status = wait_delivered(stack, body["external_id"])
    me = next(d["recipient"] for d in status["deliveries"] if d["recipient"] != PARTNER)
    issued = httpx.post(stack.url("triage") + f"/v1/admin/partners/{me}/keys",
                        json={"label": f"ro-{uuid.uuid4().hex[:8]}", "scopes": ["read"]}, headers=ADMIN, timeout=10)
    assert issued.status_code == 201, issued.text
    reader = issued.json()["key"]
    answer = wait_for(lambda: (r := post(stack, case_ref, {"type": "acknowledged"}, reader)).status_code != 401 and r,
                      20, what="the new key accepted by intake")
    assert answer.status_code == 403 and "'update' scope" in answer.json()["error"]
    assert post(stack, case_ref, {"type": "acknowledged"}, f"demo-key-{me}").status_code == 201
