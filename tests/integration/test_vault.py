"""The data vault against real PostgreSQL: every kept copy of personal data sealed (contact details,
rejected bodies, dead letters, webhook secrets), key rotation with `grievance rekey`, and errors kept
without the input they quote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid

import psycopg2
import pytest
from cryptography.fernet import InvalidToken
from pydantic import ValidationError

from schemas.models import FieldError, PartnerSubmission
from services.common import db, signing
from services.common.consumer import ConsumerLoop, Incoming, dead_letter
from services.common.directory import Partner
from services.common.directory_cache import DirectoryCache
from services.common.outbox import enqueue, headers_to_json
from services.common.settings import REPO_ROOT, Settings
from services.common.vault import SEALED_HEADER, DataVault, clear_error
from services.devtools.replay import CannotOpen, target, value_for
from services.intake import store
from services.intake.identity import Vault
from services.intake.validation import parse_submission
from services.triage import directory_store

A, B = DataVault.generate_key(), DataVault.generate_key()
MARKER = "Zebulon-Quartzfield"
PHONE = "+977 981 234 5678"
SECRET = "whsec-" + "q" * 24


@pytest.fixture()
def own_db(database_url):
    """A database of its own: rekey visits every sealed value, and the session's holds other tests' keys."""
    url = db.with_database(database_url, f"grievance_vault_{uuid.uuid4().hex[:8]}")
    db.migrate(url)
    connection = db.connect(url)
    yield url, connection
    connection.close()
    db.drop_database(url)


def body(**extra) -> bytes:
    return json.dumps({"external_id": f"v-{uuid.uuid4().hex[:8]}", "text": f"{MARKER} took my passport",
                       "contact": {"name": MARKER, "phone": PHONE}, **extra}).encode()


def test_several_keys_newest_first_and_the_pseudonym_survives_rotation():
    token = DataVault(A).encrypt_bytes(b"x")
    assert DataVault(f"{B}, {A}").decrypt_bytes(token) == b"x"
    rotated = DataVault(f"{B},{A}").rotate(token)
    assert DataVault(B).decrypt_bytes(rotated) == b"x"
    with pytest.raises(InvalidToken):
        DataVault(A).decrypt_bytes(rotated)
    submission = parse_submission(body(), partner_id="ngo-np")
    assert (Vault(A).subject_ref("ngo-np", "e", submission.contact)
            == Vault(f"{B},{A}").subject_ref("ngo-np", "e", submission.contact))
    for bad in ("", " , ", "not-a-key"):
        with pytest.raises(ValueError, match="GRIEVANCE_DATA_KEY"):
            DataVault(bad)


def test_errors_are_kept_without_the_input_they_quote(conn):
    with pytest.raises(ValidationError) as info:
        PartnerSubmission.model_validate({"text": ["x"], "contact": {"phone": MARKER}})
    assert MARKER in str(info.value) and MARKER not in clear_error(info.value)
    assert "contact.phone" in clear_error(info.value)
    with pytest.raises(psycopg2.Error) as pg, db.transaction(conn) as cur:
        cur.execute("CREATE TEMP TABLE u (v text UNIQUE)")
        cur.execute("INSERT INTO u VALUES (%s), (%s)", (MARKER, MARKER))
    assert MARKER in str(pg.value) and MARKER not in clear_error(pg.value)


def test_a_rejected_body_is_sealed_and_an_operator_can_refile_it(conn):
    vault = Vault(A)
    sent = body(country_of_work="XX")
    ref = f"http/{uuid.uuid4()}"
    with db.transaction(conn) as cur:
        store.keep_rejected(cur, source="http", source_ref=ref, body=sent, vault=vault, partner_id="ngo-np",
                            external_id="ext-1", errors=[FieldError(loc="country_of_work", msg="bad", type="x")])
        cur.execute("SELECT body, body_sealed, body_size, errors::text FROM intake.rejected_submissions"
                    " WHERE source_ref = %s", (ref,))
        stored, sealed, size, errors = cur.fetchone()
    assert sealed and size == len(sent) and MARKER.encode() not in bytes(stored) and "country_of_work" in errors
    with db.transaction(conn) as cur:
        kept = store.read_rejected(cur, ref, vault)
        assert kept is not None and kept.body == sent
        repaired = json.loads(sent)
        repaired["country_of_work"] = "MY"
        accepted = store.refile_rejected(cur, kept, vault, json.dumps(repaired).encode())
    assert not accepted.duplicate and accepted.messages


def test_a_dead_letter_is_sealed_on_its_topic_and_opened_by_replay():
    record = Incoming("grievance.submissions", 1, 9, b"ngo-np", body(), [("ce_id", b"dl-1")])
    message = dead_letter("intake-submissions", record, ValueError("cut"), A)
    assert MARKER.encode() not in message.value
    assert (SEALED_HEADER, b"fernet") in message.headers
    line = {"topic": message.topic, "partition": 0, "offset": 3, "key": "ngo-np", "value": message.value.decode(),
            "headers": headers_to_json(message.headers)}
    topic, headers = target(line, "")
    assert topic == "grievance.submissions" and SEALED_HEADER not in dict(headers)
    assert value_for(line, DataVault(f"{B},{A}")) == record.value
    with pytest.raises(CannotOpen, match="GRIEVANCE_DATA_KEY"):
        value_for(line, None)
    with pytest.raises(CannotOpen, match="no key"):
        value_for(line, DataVault(B))
    assert dead_letter("g", record, ValueError("x")).value == record.value  # no key: as it came


def _set_aside(conn, url: str, key: str, value: bytes) -> None:
    """A record triage cannot read, set aside as the consumer loop does it, its messages in the outbox."""
    loop = ConsumerLoop(schema="triage", group="vault-test", topic_names=[], handler=lambda c, r: [],
                        settings=Settings(database_url=url, data_key=key), stop=threading.Event())
    record = Incoming("grievance.received", 0, 1, b"GRV-0000000000AA", value, [])
    with pytest.raises(ValidationError) as info:
        PartnerSubmission.model_validate({"text": [MARKER]})
    with db.transaction(conn) as cur:
        messages = loop._set_aside(cur, record, info.value)
        assert len(messages) == 2 and all(MARKER.encode() not in m.value for m in messages)
        enqueue(cur, "triage", messages)
        cur.execute("SELECT error_message, value FROM triage.dead_letters")
        error, stored = cur.fetchone()
    assert "text" in error and MARKER not in error and MARKER.encode() not in bytes(stored)


def test_rekey_moves_every_sealed_copy_to_the_newest_key(own_db, monkeypatch):
    url, conn = own_db
    vault_a = Vault(A)
    submission = parse_submission(body(), partner_id="ngo-np")
    with db.transaction(conn) as cur:
        case_ref = store.accept(cur, submission, source="http", vault=vault_a).case_ref
        store.keep_rejected(cur, source="http", source_ref="http/r1", body=body(), vault=vault_a,
                            partner_id="ngo-np", external_id=None, errors=[])
        # Kept before sealing existed: rekey seals these too.
        cur.execute("INSERT INTO intake.rejected_submissions (source, source_ref, body, errors)"
                    " VALUES ('http', 'http/legacy', %s, '[]')", (body(),))
        cur.execute("INSERT INTO triage.partners (id, record, updated_by) VALUES (%s, %s, 't')",
                    ("ngo-legacy", json.dumps({"id": "ngo-legacy", "name": "Legacy", "kind": "ngo",
                                               "webhook": {"url": "http://x.example", "secret": SECRET}})))
    _set_aside(conn, url, A, body())
    monkeypatch.setenv("GRIEVANCE_DATA_KEY", A)
    partner = Partner(id="ngo-sealed", name="Sealed", kind="ngo", webhook={"url": "http://x.example", "secret": SECRET})
    with db.transaction(conn) as cur:
        assert directory_store.upsert(cur, partner, "test") is not None
        assert directory_store.upsert(cur, partner, "test") is None  # sealed anew, still no change
        cur.execute("SELECT record->'webhook'->>'secret' FROM triage.partners WHERE id = 'ngo-sealed'")
        assert cur.fetchone()[0].startswith("fernet:")

    out = subprocess.run([sys.executable, "-m", "services.cli", "rekey", "--batch-size", "1"], cwd=REPO_ROOT,
                         env={**os.environ, "DATABASE_URL": url, "GRIEVANCE_DATA_KEY": f"{B},{A}"},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "intake.contacts: 1 re-encrypted, 0 sealed" in out.stdout
    assert "intake.rejected_submissions: 1 re-encrypted, 1 sealed" in out.stdout
    assert "triage.dead_letters: 1 re-encrypted" in out.stdout and "triage.outbox: 1 re-encrypted" in out.stdout
    assert "triage.partners: 1 re-encrypted, 1 sealed" in out.stdout

    vault_b = Vault(B)
    with db.transaction(conn) as cur:
        cur.execute("SELECT ciphertext FROM intake.contacts WHERE case_ref = %s", (case_ref,))
        token = bytes(cur.fetchone()[0])
        assert vault_b.decrypt(token).phone == PHONE
        with pytest.raises(InvalidToken):
            vault_a.decrypt(token)
        for ref in ("http/r1", "http/legacy"):
            assert MARKER.encode() in store.read_rejected(cur, ref, vault_b).body
        cur.execute("SELECT value, value_sealed FROM triage.dead_letters")
        value, sealed = cur.fetchone()
        assert sealed and MARKER.encode() in vault_b.decrypt_bytes(value)
    directory = DirectoryCache(url, data_key=B).get()
    opened = signing.as_whsec(SECRET)  # a plain-text secret loads in its Standard Webhooks form, same key
    assert {p.id: p.webhook.secret for p in directory.partners} == {"ngo-legacy": opened, "ngo-sealed": opened}
    assert DirectoryCache(url, data_key=A).get().partners == []  # the old key alone opens nothing now
    with db.transaction(conn) as cur:
        cur.execute("SELECT string_agg(record::text, '') FROM triage.partners")
        assert SECRET not in cur.fetchone()[0]


def test_an_operator_shows_and_refiles_a_rejection_with_the_cli(own_db, tmp_path):
    url, conn = own_db
    sent = body(country_of_work="XX")
    with db.transaction(conn) as cur:
        store.keep_rejected(cur, source="http", source_ref="http/cli-1", body=sent, vault=Vault(A),
                            partner_id="ngo-np", external_id=json.loads(sent)["external_id"], errors=[])
        cur.execute("INSERT INTO triage.partners (id, record, updated_by) VALUES ('ngo-np', %s, 't')",
                    (json.dumps({"id": "ngo-np", "name": "NGO NP", "kind": "ngo"}),))
    env = {**os.environ, "DATABASE_URL": url, "GRIEVANCE_DATA_KEY": f"{B},{A}"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "services.cli", "rejected", *args], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    shown = cli("show", "http/cli-1")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["body"] == sent.decode()
    still_bad = cli("replay", "http/cli-1")
    assert still_bad.returncode == 1 and "country_of_work" in still_bad.stderr
    repaired = {**json.loads(sent), "country_of_work": "MY"}
    path = tmp_path / "repaired.json"
    path.write_text(json.dumps(repaired))
    filed = cli("replay", "http/cli-1", "--body", str(path))
    assert filed.returncode == 0, filed.stderr
    with db.transaction(conn) as cur:
        cur.execute("SELECT c.case_ref, count(o.id) FROM intake.cases c LEFT JOIN intake.outbox o"
                    " ON o.key = convert_to(c.case_ref, 'UTF8') WHERE c.external_id = %s GROUP BY 1",
                    (repaired["external_id"],))
        case_ref, events = cur.fetchone()
    assert f"filed as {case_ref}" in filed.stdout and events == 1


def test_retention_erases_old_cases_rejections_and_dead_letters(own_db):
    from services.devtools import erase

    url, conn = own_db
    vault = Vault(A)
    with db.transaction(conn) as cur:
        old = store.accept(cur, parse_submission(body(), partner_id="ngo-np"), source="http", vault=vault).case_ref
        new = store.accept(cur, parse_submission(body(), partner_id="ngo-np"), source="http", vault=vault).case_ref
        cur.execute("UPDATE intake.cases SET received_at = now() - interval '40 days' WHERE case_ref = %s", (old,))
        store.keep_rejected(cur, source="http", source_ref="http/old", body=body(), vault=vault,
                            partner_id="ngo-np", external_id=None, errors=[])
        cur.execute("UPDATE intake.rejected_submissions SET created_at = now() - interval '40 days'")
    _set_aside(conn, url, A, body())
    with db.transaction(conn) as cur:
        cur.execute("UPDATE triage.dead_letters SET created_at = now() - interval '40 days'")
    cases, rest = erase.erase_older_than(conn, 30, vault, actor="operator:test")
    assert list(cases) == [old] and cases[old]["intake.cases"] == 1 and cases[old]["intake.contacts"] == 1
    assert rest["intake.rejected_submissions"] == 1 and rest["triage.dead_letters"] == 1
    with db.transaction(conn) as cur:
        cur.execute("SELECT case_ref FROM intake.cases")
        assert [r[0] for r in cur.fetchall()] == [new]
        cur.execute("SELECT case_ref, reason, actor, removed::text FROM intake.erasures")
        ((ref, reason, actor, removed),) = cur.fetchall()
    assert (ref, actor) == (old, "operator:test") and "retention" in reason and MARKER not in removed
