"""Who may do what, end to end: scoped and rotatable partner keys, rate limits, 404 for other partners'
cases on every endpoint, companies hearing only of their own supply chain, and consent honoured at every
send (given late, withdrawn, contact_back false)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from services.common import db
from services.common.directory import ApiKey, Directory, Partner, hash_api_key
from services.triage import directory_store

from .conftest import AUTH, complaint, inbox, status_by_external_id, submit_http, wait_delivered, wait_for

ADMIN = {"Authorization": "Bearer demo-admin-key"}
WAGES = "The company has not paid our salary for 3 months and we work 15 hours a day."


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def accepted_by_intake(stack, key: str, expected: int) -> bool:
    """Whether intake answers a lookup with this key as expected (its directory cache refreshes within 5 s)."""
    r = httpx.get(stack.url("intake") + "/v1/grievances", params={"external_id": "nothing-here"},
                  headers=bearer(key), timeout=10)
    return r.status_code == expected


# ------------------------------------------------------------------ scopes


def test_brands_and_agencies_cannot_submit_the_employers_own_channel_can(stack):
    for partner in ("agency-sunrise", "agency-goldenbridge", "brand-gloves"):
        r = submit_http(stack, complaint(), headers=bearer(f"demo-key-{partner}"))
        assert r.status_code == 403 and "'submit' scope" in r.json()["error"], (partner, r.text)
        # they may still read (nothing of theirs exists) and are not locked out
        assert accepted_by_intake(stack, f"demo-key-{partner}", 404)
    channel = submit_http(stack, complaint(employer="Global Gloves Sdn Bhd"),
                          headers=bearer("demo-key-globalgloves-channel"))
    assert channel.status_code == 202, channel.text


def test_another_partners_case_is_a_404_exactly_like_a_missing_one_on_every_endpoint(stack):
    body = complaint()
    case_ref = submit_http(stack, body).json()["case_ref"]
    missing = "GRV-" + "0" * 12
    other = bearer("demo-key-ngo-my")
    base = stack.url("intake") + "/v1/grievances"

    def answer(method: str, url: str, **kw) -> tuple[int, str]:
        r = httpx.request(method, url, headers=other, timeout=10, **kw)
        return r.status_code, r.json()["error"]

    for ref_a, ref_b in ((case_ref, missing),):
        for method, suffix, kw in (("GET", "", {}), ("POST", "/consent", {"json": {"share_contact": True}})):
            real = answer(method, f"{base}/{ref_a}{suffix}", **kw)
            absent = answer(method, f"{base}/{ref_b}{suffix}", **kw)
            assert real[0] == absent[0] == 404
            assert real[1].replace(ref_a, "X") == absent[1].replace(ref_b, "X"), (real, absent)
    by_id = answer("GET", base, params={"external_id": body["external_id"]})
    nothing = answer("GET", base, params={"external_id": "no-such-id"})
    assert by_id[0] == nothing[0] == 404
    assert by_id[1].replace(body["external_id"], "X") == nothing[1].replace("no-such-id", "X")
    # The submitter still sees and changes its own case.
    assert httpx.get(f"{base}/{case_ref}", headers=AUTH, timeout=10).status_code == 200
    assert httpx.post(f"{base}/{case_ref}/consent", json={"share_contact": True}, headers=AUTH,
                      timeout=10).status_code == 200


# ------------------------------------------------------------------ rotation and rate limits


def new_partner(stack, **extra) -> str:
    partner_id = f"ngo-kt-{uuid.uuid4().hex[:6]}"
    r = httpx.put(stack.url("triage") + f"/v1/admin/partners/{partner_id}", headers=ADMIN, timeout=10,
                  json={"name": "Key test NGO", "kind": "ngo", "receives_cases": False, **extra})
    assert r.status_code == 200, r.text
    return partner_id


def test_keys_are_issued_once_rotated_with_two_valid_at_once_revoked_and_audited(stack):
    partner_id = new_partner(stack)
    keys = stack.url("triage") + f"/v1/admin/partners/{partner_id}/keys"
    assert httpx.post(keys, json={}, timeout=10).status_code == 401
    first = httpx.post(keys, json={"label": "first"}, headers=ADMIN, timeout=10)
    assert first.status_code == 201, first.text
    issued = first.json()
    assert issued["key"] and issued["scopes"] == ["read", "submit", "update"] and "once" in issued["note"]
    assert httpx.post(keys, json={"label": "first"}, headers=ADMIN, timeout=10).status_code == 409
    stored = httpx.get(stack.url("triage") + f"/v1/admin/partners/{partner_id}", headers=ADMIN, timeout=10).json()
    assert [(k["label"], k["sha256"]) for k in stored["api_keys"]] == [("first", "***")]
    assert issued["key"] not in str(stored) and hash_api_key(issued["key"]) not in str(stored)
    wait_for(lambda: accepted_by_intake(stack, issued["key"], 404), 20, what="the new key accepted by intake")
    assert submit_http(stack, complaint(), headers=bearer(issued["key"])).status_code == 202

    # Without the admin scope a partner key cannot issue keys; with it, for its own partner only.
    assert httpx.post(keys, json={}, headers=bearer(issued["key"]), timeout=10).status_code == 401
    manager = httpx.post(keys, json={"label": "manager", "scopes": ["admin"]}, headers=ADMIN, timeout=10).json()
    second = httpx.post(keys, json={"label": "second"}, headers=bearer(manager["key"]), timeout=10)
    assert second.status_code == 201, second.text
    elsewhere = stack.url("triage") + "/v1/admin/partners/ngo-np/keys"
    assert httpx.post(elsewhere, json={}, headers=bearer(manager["key"]), timeout=10).status_code == 401
    # A read-only key reads but cannot submit or change consent; an expired one is refused.
    reader = httpx.post(keys, json={"label": "reader", "scopes": ["read"]}, headers=ADMIN, timeout=10).json()
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    expired = httpx.post(keys, json={"label": "expired", "expires_at": past}, headers=ADMIN, timeout=10).json()

    wait_for(lambda: accepted_by_intake(stack, second.json()["key"], 404), 20, what="the second key accepted")
    assert accepted_by_intake(stack, issued["key"], 404)  # both valid at once
    assert accepted_by_intake(stack, reader["key"], 404) and accepted_by_intake(stack, expired["key"], 401)
    assert submit_http(stack, complaint(), headers=bearer(reader["key"])).status_code == 403
    r = httpx.post(stack.url("intake") + "/v1/grievances/GRV-000000000000/consent", json={"share_contact": True},
                   headers=bearer(reader["key"]), timeout=10)
    assert r.status_code == 403 and "'update' scope" in r.json()["error"]

    assert httpx.delete(f"{keys}/first", headers=bearer(manager["key"]), timeout=10).status_code == 200
    assert httpx.delete(f"{keys}/first", headers=ADMIN, timeout=10).status_code == 404
    wait_for(lambda: accepted_by_intake(stack, issued["key"], 401), 20, what="the revoked key refused")
    assert accepted_by_intake(stack, second.json()["key"], 404)

    changes = httpx.get(stack.url("triage") + f"/v1/admin/partners/{partner_id}/changes", headers=ADMIN,
                        timeout=10).json()
    assert [(c["action"], c["actor"]) for c in changes] == [
        ("created", "admin:demo-admin"), ("updated", "admin:demo-admin"), ("updated", "admin:demo-admin"),
        ("updated", f"partner:{partner_id}/manager"), ("updated", "admin:demo-admin"),
        ("updated", "admin:demo-admin"), ("updated", f"partner:{partner_id}/manager")]
    assert all(k["sha256"] == "***" for c in changes for k in ((c["after"] or {}).get("api_keys") or []))
    assert [k["label"] for k in changes[-1]["after"]["api_keys"]] == ["manager", "second", "reader", "expired"]


def test_a_key_over_its_rate_is_answered_429_with_retry_after(stack):
    partner_id = new_partner(stack, rate_limit={"per_second": 0.2, "burst": 2})
    key = httpx.post(stack.url("triage") + f"/v1/admin/partners/{partner_id}/keys", json={}, headers=ADMIN,
                     timeout=10).json()["key"]
    wait_for(lambda: accepted_by_intake(stack, key, 404), 20, what="the key accepted")  # takes the first token
    answers = [httpx.get(stack.url("intake") + "/v1/grievances", params={"external_id": "x"}, headers=bearer(key),
                         timeout=10) for _ in range(3)]
    limited = [r for r in answers if r.status_code == 429]
    assert limited and all(1 <= int(r.headers["retry-after"]) <= 5 for r in limited)
    assert "too many requests" in limited[0].json()["error"]
    assert accepted_by_intake(stack, "demo-key-ngo-bd", 404)  # other keys are not held back


def test_keys_issued_through_the_api_survive_a_directory_load(conn):
    """`grievance directory load` makes a partner equal to the file, but keeps the keys the API issued."""
    partner_id = f"ngo-load-{uuid.uuid4().hex[:6]}"
    in_file = Partner.model_validate({"id": partner_id, "name": "Load test", "kind": "ngo",
                                      "api_keys": [{"label": "file", "sha256": hash_api_key("file-key")}]})
    issued = ApiKey(label="issued", sha256=hash_api_key("issued-key"), issued_by="admin:demo-admin")
    with db.transaction(conn) as cur:
        directory_store.sync(cur, Directory(partners=[in_file]), "loader")
        directory_store.add_key(cur, partner_id, issued, "admin:demo-admin")
        assert directory_store.sync(cur, Directory(partners=[in_file]), "loader") == []  # nothing changed
        rotated = in_file.model_copy(update={"api_keys": [ApiKey(label="file2", sha256=hash_api_key("k2"))]})
        directory_store.sync(cur, Directory(partners=[rotated]), "loader")
        assert [k.label for k in directory_store.get(cur, partner_id).api_keys] == ["file2", "issued"]
        directory_store.revoke_key(cur, partner_id, "issued", "admin:demo-admin")
        assert [k.label for k in directory_store.get(cur, partner_id).api_keys] == ["file2"]
        directory_store.delete(cur, partner_id, "test")


# ------------------------------------------------------------------ companies and consent


def disclosures(conn, case_ref: str) -> list[tuple[str, bool, str]]:
    with db.transaction(conn) as cur:
        cur.execute("SELECT recipient, granted, reason FROM intake.disclosures WHERE case_ref = %s ORDER BY id",
                    (case_ref,))
        return cur.fetchall()


def test_consent_given_late_reaches_the_next_send_withdrawn_stops_it_contact_back_false_never(stack, conn):
    contact = {"name": "R. Tamang", "phone": "+977 980 000 0000"}
    late = complaint(text=WAGES, contact=contact, consent={"share_contact": False})
    no_back = complaint(text=WAGES, contact=contact, consent={"share_contact": True, "contact_back": False})
    withdrawn = complaint(text=WAGES, contact=contact, consent={"share_contact": True})
    intake = stack.url("intake") + "/v1/grievances"
    stack.stop("inbox")
    try:
        refs = {name: submit_http(stack, body).json()["case_ref"]
                for name, body in (("late", late), ("no_back", no_back), ("withdrawn", withdrawn))}
        for body in (late, no_back, withdrawn):
            wait_for(lambda body=body: (s := status_by_external_id(stack, body["external_id"])) and s["deliveries"]
                     and all(d["attempts"] >= 1 for d in s["deliveries"]), 60, what="first failed attempts")
        given = httpx.post(f"{intake}/{refs['late']}/consent", json={"share_contact": True}, headers=AUTH, timeout=10)
        assert given.json() == {"case_ref": refs["late"], "share_contact": True, "contact_back": True}
        assert httpx.post(f"{intake}/{refs['withdrawn']}/consent", json={"share_contact": False}, headers=AUTH,
                          timeout=10).status_code == 200
        # share_contact alone leaves contact_back as it was: still no
        kept = httpx.post(f"{intake}/{refs['no_back']}/consent", json={"share_contact": True}, headers=AUTH,
                          timeout=10)
        assert kept.json()["contact_back"] is False
    finally:
        stack.start("inbox")
        stack.wait_ready("inbox")
    for body in (late, no_back, withdrawn):
        wait_delivered(stack, body["external_id"], timeout=60)

    got = {name: {d["partner_id"]: d["body"] for d in inbox(stack, ref)} for name, ref in refs.items()}
    # A Malaysian labour case naming no employer: no company hears of it.
    assert not {"globalgloves-channel", "brand-gloves"} & set(got["late"])
    full_by_role = {"ngo-my", "ngo-np"}
    assert full_by_role <= set(got["late"])
    for pid, sent in got["late"].items():
        assert (sent["case"].get("contact") == contact) == (pid in full_by_role), pid
        assert sent["disclosure"] == ("full" if pid in full_by_role else "anonymised"), pid
    for name in ("no_back", "withdrawn"):
        for pid, sent in got[name].items():
            assert "contact" not in sent["case"], (name, pid)
            if pid in full_by_role:
                assert sent["disclosure"] == "pseudonymous", (name, pid)
    assert "contacted back" in got["no_back"]["ngo-my"]["disclosure_note"]

    # Every request is audited with the recipient's role and the consent held at that moment.
    late_rows = disclosures(conn, refs["late"])
    assert ("ngo-my", False, "refused: no consent to share contact details; role: ngo-my (ngo) full; consent: "
            "share_contact no, contact_back yes, as submitted") in late_rows
    granted = [reason for pid, ok, reason in late_rows if ok and pid == "ngo-my"]
    assert granted and granted[-1].startswith("released; role: ngo-my (ngo) full; consent: share_contact yes, "
                                              "contact_back yes, changed ")
    no_back_rows = disclosures(conn, refs["no_back"])
    assert no_back_rows and not any(ok for _, ok, _ in no_back_rows)
    assert any(reason.startswith("refused: the worker does not want to be contacted back; role: ngo-np (ngo) full")
               for _, _, reason in no_back_rows)
    # Released while consent held (the webhook then failed), refused on the retries after it was withdrawn.
    last = {pid: (ok, reason) for pid, ok, reason in disclosures(conn, refs["withdrawn"])}
    assert set(last) == full_by_role and not any(ok for ok, _ in last.values())
    assert last["ngo-my"][1].startswith("refused: no consent to share contact details; role: ngo-my (ngo) full; "
                                        "consent: share_contact no, contact_back yes, changed ")
