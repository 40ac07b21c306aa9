"""HTTP submit → triage → routing → signed webhook at a real receiver → status shows delivered."""

from __future__ import annotations

import httpx

from services.common import db

from .conftest import AUTH, complaint, inbox, submit_http, wait_delivered


def test_http_submission_is_delivered_by_signed_webhook(stack):
    body = complaint()
    r = submit_http(stack, body)
    assert r.status_code == 202, r.text
    case_ref = r.json()["case_ref"]

    status = wait_delivered(stack, body["external_id"])
    assert status["case_ref"] == case_ref
    assert status["urgency"] == "high"
    assert "document_retention" in status["categories"]
    assert status["deliveries"] and all(d["status"] == "delivered" for d in status["deliveries"])

    received = inbox(stack, case_ref)
    # The inbox only records deliveries whose Standard Webhooks signature verified.
    assert sorted(d["partner_id"] for d in received) == sorted(d["recipient"] for d in status["deliveries"])
    assert all(d["times_received"] == 1 for d in received)
    primary = next(d["body"] for d in received if d["body"]["role"] == "primary")
    assert primary["case"]["text"] == body["text"] and primary["reason"].startswith("rule ")
    for d in received:
        level = d["body"]["disclosure"]
        assert ("text" in d["body"]["case"]) == (level != "anonymised")
        # Consent was given: only recipients at the full level receive the contact details.
        assert (d["body"]["case"].get("contact") == body["contact"]) == (level == "full")


def test_contact_details_stay_encrypted_in_intake(stack, conn):
    body = complaint(contact={"name": "Sita Rai", "phone": "+977 981 111 2222", "passport_number": "PA1234567"},
                     consent={"share_contact": False})
    case_ref = submit_http(stack, body).json()["case_ref"]
    wait_delivered(stack, body["external_id"])
    with db.transaction(conn) as cur:
        cur.execute("SELECT ciphertext FROM intake.contacts WHERE case_ref = %s", (case_ref,))
        ciphertext = bytes(cur.fetchone()[0])
        cur.execute("SELECT payload::text FROM notifier.deliveries WHERE case_ref = %s", (case_ref,))
        payloads = " ".join(row[0] for row in cur.fetchall())
    for secret in ("Sita Rai", "981 111 2222", "PA1234567"):
        assert secret.encode() not in ciphertext
        assert secret not in payloads
    assert all(secret not in str(d["body"]) for d in inbox(stack, case_ref) for secret in ("Sita", "PA1234567"))


def test_duplicate_http_submission_returns_same_case_and_one_webhook(stack):
    body = complaint()
    first = submit_http(stack, body)
    second = submit_http(stack, body)
    assert first.status_code == 202 and second.status_code == 200
    assert second.json() == {**first.json(), "duplicate": True}
    status = wait_delivered(stack, body["external_id"])
    received = inbox(stack, status["case_ref"])
    assert len(received) == len(status["deliveries"])
    assert all(d["times_received"] == 1 for d in received)


def test_bad_http_input_gets_field_errors_and_is_kept(stack, conn):
    r = submit_http(stack, {"text": "", "country_of_work": "Malaysia", "contact": {"phone": "call me"}})
    assert r.status_code == 422
    locs = {e["loc"] for e in r.json()["errors"]}
    assert {"text", "country_of_work", "contact.phone"} <= locs
    garbage = httpx.post(stack.url("intake") + "/v1/grievances", content=b"\xff\x00not json", headers=AUTH)
    assert garbage.status_code == 400 and garbage.json()["errors"][0]["type"] == "json_invalid"
    with db.transaction(conn) as cur:
        cur.execute("SELECT source, errors FROM intake.rejected_submissions WHERE source_ref IN (%s, %s)",
                    (r.json()["rejection_ref"], garbage.json()["rejection_ref"]))
        rows = cur.fetchall()
    assert len(rows) == 2 and all(source == "http" for source, _ in rows)


def test_partner_sees_only_its_own_cases(stack):
    body = complaint()
    case_ref = submit_http(stack, body).json()["case_ref"]
    url = stack.url("intake") + f"/v1/grievances/{case_ref}"
    assert httpx.get(url, headers=AUTH).status_code == 200
    assert httpx.get(url, headers={"Authorization": "Bearer demo-key-ngo-my"}).status_code == 404
    assert httpx.get(url).status_code == 401
    assert submit_http(stack, body, headers={"Authorization": "Bearer wrong"}).status_code == 401
