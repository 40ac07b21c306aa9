"""Erasure proved by search: a case that went everywhere (delivered with contact details, a rejected
first attempt, a failed Kafka attempt and a dead letter naming it), erased with `grievance erase`; then
every row of every table of every schema, cast to text, and every sealed copy, opened, is searched for
its text, its contact details, its external id and its case reference. Only the audit row may remain."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import httpx

from schemas import topics
from services.common import db
from services.common.vault import SEALED_HEADER, DataVault

from .conftest import AUTH, PARTNER, produce, submit_http, wait_delivered, wait_for
from .partner_kafka import signed


def grievance(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=stack.env(), capture_output=True,
                          text=True, timeout=120)


def holders(conn, needles: list[str]) -> dict[str, list[str]]:
    """Every table (any schema) whose rows, as text, hold a needle, in clear or as bytea hex."""
    patterns = [f"%{n}%" for n in needles] + [f"%{n.encode().hex()}%" for n in needles]
    found: dict[str, list[str]] = {}
    with db.transaction(conn) as cur:
        cur.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
                    " AND table_schema NOT IN ('pg_catalog', 'information_schema')")
        for schema, table in cur.fetchall():
            cur.execute(f'SELECT t::text FROM "{schema}"."{table}" t WHERE t::text LIKE ANY(%s)', (patterns,))
            rows = [r[0] for r in cur.fetchall()]
            if rows:
                found[f"{schema}.{table}"] = rows
    return found


def opened(conn, vault: DataVault) -> list[bytes]:
    """Every sealed copy in the database, opened: contact details, rejected bodies, dead letters, outbox."""
    out = []
    with db.transaction(conn) as cur:
        cur.execute("SELECT ciphertext FROM intake.contacts")
        out += [vault.decrypt_bytes(r[0]) for r in cur.fetchall()]
        cur.execute("SELECT body FROM intake.rejected_submissions WHERE body_sealed")
        out += [vault.decrypt_bytes(r[0]) for r in cur.fetchall()]
        for schema in ("intake", "triage", "notifier"):
            cur.execute(f"SELECT value FROM {schema}.dead_letters WHERE value_sealed")
            out += [vault.decrypt_bytes(r[0]) for r in cur.fetchall()]
            cur.execute(f"SELECT value FROM {schema}.outbox WHERE headers @> %s",
                        (json.dumps([{"k": SEALED_HEADER}]),))
            out += [vault.decrypt_bytes(r[0]) for r in cur.fetchall()]
    return out


def test_an_erased_case_is_found_nowhere_but_in_the_audit(stack, conn):
    tag = uuid.uuid4().hex[:10]
    text_marker, name, email = f"Thessalyx{tag}", f"Ravindra Oquel{tag}", f"e{tag}@erasure.example"
    phone, passport = f"+977 98{str(uuid.uuid4().int)[:8]}", f"PE{tag.upper()}"
    external_id = f"erase-{tag}"
    body = {"external_id": external_id, "language": "en", "country_of_work": "MY", "country_of_origin": "NP",
            "employer": f"Globex{tag} Sdn Bhd",
            "text": f"{text_marker}: my employer took my passport and has not paid me for 3 months.",
            "contact": {"name": name, "phone": phone, "email": email, "passport_number": passport},
            "consent": {"share_contact": True}}

    # A first attempt rejected (kept, sealed), a Kafka attempt cut short (a dead letter), then the case.
    assert submit_http(stack, {**body, "country_of_work": "XX"}).status_code == 422
    cut = json.dumps({**body, "partner_id": PARTNER}).encode()[:-4]
    produce(stack, topics.SUBMISSIONS.name, cut, key=PARTNER.encode(), headers=signed(cut, PARTNER, ce=False))
    case_ref = submit_http(stack, body).json()["case_ref"]
    wait_delivered(stack, external_id)
    consent = httpx.post(stack.url("intake") + f"/v1/grievances/{case_ref}/consent", json={"share_contact": False},
                         headers=AUTH, timeout=10)
    assert consent.status_code == 200
    # A record naming the case that intake cannot take (not signed by triage): a dead letter and an alert.
    produce(stack, topics.TRIAGED.name, json.dumps({"case_ref": case_ref, "note": text_marker}).encode(),
            key=case_ref.encode())

    needles = [text_marker, name, email, phone, phone.replace(" ", ""), passport, external_id, case_ref]

    def everywhere() -> bool:
        found = holders(conn, needles)
        return {"intake.cases", "intake.contacts", "intake.disclosures", "intake.rejected_submissions",
                "intake.dead_letters", "triage.decisions", "triage.case_entities",
                "notifier.deliveries"} <= set(found)
    wait_for(everywhere, 60, 0.5, what="the case in every place it is kept")
    vault = DataVault(stack.data_key)
    assert any(text_marker.encode() in v for v in opened(conn, vault))

    out = grievance(stack, "erase", case_ref)
    assert out.returncode == 0, out.stderr
    assert f"erased {case_ref}:" in out.stdout and "triage.decisions 1" in out.stdout
    assert "retention" in out.stderr  # what it cannot reach is said: events already on the topics

    left = holders(conn, needles)
    # Processed-event ids (ids and the case reference only) stay, so old events replayed are repeats.
    kept_ids = {t for t in left if t.endswith(".processed_events")}
    assert all(n not in row for t in kept_ids for row in left[t] for n in needles if n != case_ref)
    left = {t: rows for t, rows in left.items() if t not in kept_ids}
    assert set(left) == {"intake.erasures"}, {t: rows[:2] for t, rows in left.items()}
    (audit,) = left["intake.erasures"]
    assert case_ref in audit and all(n not in audit for n in needles if n != case_ref)
    assert not [v for v in opened(conn, vault) if any(n.encode() in v for n in needles)]

    assert httpx.get(stack.url("intake") + f"/v1/grievances/{case_ref}", headers=AUTH, timeout=10).status_code == 404
    again = grievance(stack, "erase", case_ref)
    assert again.returncode == 0 and "already erased" in again.stderr
    assert grievance(stack, "erase", "GRV-").returncode == 2  # never a prefix that matches every case
