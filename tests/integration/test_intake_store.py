"""Intake's storage against a real PostgreSQL."""

from services.common import db
from services.intake import store
from services.intake.identity import Vault
from services.intake.validation import parse_submission

VAULT = Vault(Vault.generate_key())


def submission(text="They took my passport", **extra):
    import json

    return parse_submission(json.dumps({"text": text, **extra}).encode(), partner_id="ngo-np")


def test_migrations_are_idempotent(database_url):
    assert db.migrate(database_url) == []


def test_resubmits_return_the_same_case_and_emit_once(conn):
    s = submission(external_id="store-1", contact={"phone": "+977 1"})
    with db.transaction(conn) as cur:
        first = store.accept(cur, s, source="http", vault=VAULT)
        again = store.accept(cur, s, source="kafka", vault=VAULT)
    assert not first.duplicate and len(first.messages) == 1
    assert again.duplicate and again.case_ref == first.case_ref and again.messages == []


def test_contact_is_encrypted_and_only_the_key_opens_it(conn):
    s = submission(external_id="store-2", contact={"name": "Maya Gurung", "passport_number": "N1234567"})
    with db.transaction(conn) as cur:
        ref = store.accept(cur, s, source="http", vault=VAULT).case_ref
        cur.execute("SELECT ciphertext FROM intake.contacts WHERE case_ref = %s", (ref,))
        token = bytes(cur.fetchone()[0])
    assert b"Maya" not in token and b"N1234567" not in token
    assert VAULT.decrypt(token).name == "Maya Gurung"


def test_the_same_worker_gets_the_same_pseudonym_and_no_contact_on_the_bus(conn):
    a = submission(external_id="store-3", contact={"passport_number": "n 123"})
    b = submission("another complaint", external_id="store-4", contact={"passport_number": "N123"})
    with db.transaction(conn) as cur:
        ma = store.accept(cur, a, source="http", vault=VAULT).messages[0]
        mb = store.accept(cur, b, source="http", vault=VAULT).messages[0]
    import json

    ea, eb = json.loads(ma.value), json.loads(mb.value)
    assert ea["subject_ref"] == eb["subject_ref"]
    assert "N123" not in ma.value.decode() and "contact" not in ea
