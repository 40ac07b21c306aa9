"""Routing, the identity shield and consent, end to end on the real broker, database and services."""

from __future__ import annotations

import httpx

from schemas import topics
from services.common import db

from .conftest import (
    AUTH,
    as_json,
    complaint,
    inbox,
    read_topic,
    status_by_external_id,
    submit_http,
    wait_delivered,
    wait_for,
)

ADMIN = {"Authorization": "Bearer demo-admin-key"}
WAGES = "The company has not paid our salary for 3 months and we work 15 hours a day."


def routing_of(conn, case_ref: str) -> dict:
    with db.transaction(conn) as cur:
        cur.execute("SELECT routing FROM triage.decisions WHERE case_ref = %s", (case_ref,))
        return cur.fetchone()[0]


def test_the_named_employer_never_receives_the_case_and_its_brand_gets_facts_only(stack, conn):
    body = complaint(text=WAGES, employer="GLOBAL GLOVES SDN. BHD.", sector="gloves")
    case_ref = submit_http(stack, body).json()["case_ref"]
    status = wait_delivered(stack, body["external_id"])
    received = {d["partner_id"]: d["body"] for d in inbox(stack, case_ref)}
    assert "globalgloves-channel" not in received and "globalgloves-channel" not in str(status["deliveries"])
    excluded = routing_of(conn, case_ref)["excluded"]
    assert [e["partner_id"] for e in excluded] == ["globalgloves-channel"]
    brand = received["brand-gloves"]
    assert brand["disclosure"] == "anonymised"
    assert not {"text", "subject_ref", "contact", "submitted_by"} & set(brand["case"])
    assert brand["case"]["employer"] == body["employer"]


def test_withdrawn_consent_governs_later_retries(stack, conn):
    body = complaint(text=WAGES, consent={"share_contact": True})
    stack.stop("inbox")
    try:
        case_ref = submit_http(stack, body).json()["case_ref"]
        wait_for(lambda: (s := status_by_external_id(stack, body["external_id"])) and s["deliveries"]
                 and all(d["attempts"] >= 1 for d in s["deliveries"]), 60, what="first failed attempts")
        r = httpx.post(stack.url("intake") + f"/v1/grievances/{case_ref}/consent", json={"share_contact": False},
                       headers=AUTH)
        assert r.status_code == 200, r.text
    finally:
        stack.start("inbox")
        stack.wait_ready("inbox")
    wait_delivered(stack, body["external_id"], timeout=60)
    for d in inbox(stack, case_ref):
        assert "contact" not in d["body"]["case"]
    primary = next(d["body"] for d in inbox(stack, case_ref) if d["body"]["role"] == "primary")
    assert primary["disclosure"] == "pseudonymous" and "consent" in primary["disclosure_note"]
    event = read_topic(stack, topics.CONSENT.name, lambda rec: as_json(rec)["case_ref"] == case_ref)
    assert as_json(event)["share_contact"] is False and as_json(event)["actor"] == "partner:ngo-np"
    with db.transaction(conn) as cur:
        cur.execute("SELECT granted, reason FROM intake.disclosures WHERE case_ref = %s", (case_ref,))
        assert any(not granted and reason.startswith("refused: no consent to share contact details; role: ")
                   for granted, reason in cur.fetchall())


def test_consent_can_only_be_changed_by_the_submitting_partner(stack):
    case_ref = submit_http(stack, complaint()).json()["case_ref"]
    other = {"Authorization": "Bearer demo-key-ngo-my"}
    url = stack.url("intake") + f"/v1/grievances/{case_ref}/consent"
    assert httpx.post(url, json={"share_contact": False}, headers=other).status_code == 404
    assert httpx.post(stack.url("intake") + "/v1/internal/contacts",
                      json={"requests": [{"case_ref": case_ref, "recipient": "ngo-my"}]}).status_code == 401


def test_directory_changes_through_the_admin_api_are_audited_events_and_route_new_cases(stack, conn):
    triage = stack.url("triage") + "/v1/admin/partners"
    partner = {"name": "Migrant workers' NGO, Korea (test)", "kind": "ngo", "countries_of_work": ["KR"],
               "webhook": {"url": stack.url("inbox") + "/webhooks/ngo-kr", "secret": "x" * 20}}
    assert httpx.put(triage + "/ngo-kr", json=partner).status_code == 401
    assert httpx.put(triage + "/ngo-kr", json={**partner, "kind": "pirate"}, headers=ADMIN).status_code == 422
    bad_zone = httpx.put(triage + "/ngo-kr", json={**partner, "working_hours": {"timezone": "Europe/Geneva"}},
                         headers=ADMIN)
    assert bad_zone.status_code == 422
    assert [(e["loc"], "Europe/Geneva" in e["msg"]) for e in bad_zone.json()["detail"]] == [
        ("working_hours.timezone", True)]
    r = httpx.put(triage + "/ngo-kr", json=partner, headers=ADMIN)
    assert r.status_code == 200 and r.json()["changed"] is True
    assert httpx.get(triage + "/ngo-kr", headers=ADMIN).json()["webhook"]["secret"] == "***"
    event = read_topic(stack, topics.DIRECTORY.name, lambda rec: as_json(rec)["partner_id"] == "ngo-kr")
    assert as_json(event)["actor"] == "admin:demo-admin" and as_json(event)["action"] == "created"
    assert "secret" not in str(as_json(event)["record"]["webhook"]).replace("'secret': '***'", "")
    changes = httpx.get(triage + "/ngo-kr/changes", headers=ADMIN).json()
    assert [(c["action"], c["actor"]) for c in changes] == [("created", "admin:demo-admin")]

    body = complaint(text=WAGES, country_of_work="KR")
    case_ref = submit_http(stack, body).json()["case_ref"]
    wait_for(lambda: routing_of_or_none(conn, case_ref), 30, what="the KR case routed")
    assert routing_of(conn, case_ref)["recipients"][0]["partner_id"] == "ngo-kr"


def routing_of_or_none(conn, case_ref):
    with db.transaction(conn) as cur:
        cur.execute("SELECT 1 FROM triage.decisions WHERE case_ref = %s", (case_ref,))
        return cur.fetchone()


def test_recruiter_named_differently_by_different_partners_is_one_entity(stack):
    spellings = [("demo-key-ngo-np", "Sunrise Manpower Pvt. Ltd."), ("demo-key-voice-app", "SUNRISE MANPOWER"),
                 ("demo-key-ngo-bd", "Sunrise  Manpower (P) Ltd")]
    for key, name in spellings:
        r = submit_http(stack, complaint(text="The agent charged me a recruitment fee of 3 lakh", recruiter=name),
                        headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 202
    def entity():
        found = httpx.get(stack.url("triage") + "/v1/admin/entities", params={"role": "recruiter"},
                          headers=ADMIN).json()
        return next((e for e in found if e["entity_key"] == "sunrisemanpower" and e["cases"] >= 3), None)
    sunrise = wait_for(entity, 30, what="three cases linked to one recruiter")
    assert sunrise["partners"] >= 3 and sunrise["iris_certified"] is True
    assert {"SUNRISE MANPOWER", "Sunrise Manpower Pvt. Ltd."} <= set(sunrise["names"])


def test_a_critical_case_raises_an_operator_alert(stack):
    body = complaint(text="Please help, my employer beat me and locked me in the room.")
    case_ref = submit_http(stack, body).json()["case_ref"]
    alert = read_topic(stack, topics.ALERTS.name, lambda rec: as_json(rec)["case_ref"] == case_ref)
    assert as_json(alert)["kind"] == "critical_case" and as_json(alert)["urgency"] == "critical"
