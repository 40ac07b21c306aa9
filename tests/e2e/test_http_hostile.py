"""The partner API under attack, against the real intake: every bad request gets a 4xx naming what is
wrong (or a 503 with Retry-After when the database is out), is kept in intake.rejected_submissions
(bounded in size) when it came with a valid key, and never gets a 500."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit

import httpx
import pytest

from services.common import db
from services.common.settings import REPO_ROOT
from services.common.vault import DataVault
from services.devtools.stack import free_port

from .conftest import AUTH, PARTNER, complaint, produce, wait_for
from .partner_kafka import signed

MAX_KEPT = 64 * 1024
FIVE_MB = 5 * 1024 * 1024


def post(stack, content: bytes, headers: dict | None = None, path: str = "/v1/grievances") -> httpx.Response:
    return httpx.post(stack.url("intake") + path, content=content,
                      headers={"Content-Type": "application/json", **(headers or AUTH)}, timeout=30)


def raw_json(body: dict) -> bytes:
    """What an attacker puts on the wire: json.dumps writes NUL as \\u0000 and a lone surrogate as \\ud800."""
    return json.dumps(body).encode()


_OPENER: dict[str, DataVault] = {}


@pytest.fixture(autouse=True)
def _operator_key(stack):
    """Kept bodies are sealed: these tests open them with the stack's data key, as an operator would."""
    _OPENER["vault"] = DataVault(stack.data_key)


def kept(conn, response: httpx.Response) -> dict:
    """The row kept for a rejected request, found by the reference the answer gave, its body opened."""
    ref = response.json()["rejection_ref"]
    with db.transaction(conn) as cur:
        cur.execute("SELECT partner_id, external_id, body, body_sealed, body_size, body_sha256,"
                    " body_truncated, errors FROM intake.rejected_submissions WHERE source_ref = %s", (ref,))
        row = cur.fetchone()
    assert row is not None, f"rejection {ref} was not kept"
    assert row[3], "a kept body is sealed"
    body = _OPENER["vault"].decrypt_bytes(row[2])
    names = ("partner_id", "external_id", "body", "stored_bytes", "body_size", "body_sha256", "truncated", "errors")
    return dict(zip(names, (row[0], row[1], body, len(body), *row[4:]), strict=True))


def assert_rejected(conn, r: httpx.Response, status: int, loc: str, sent: bytes | None = None) -> dict:
    assert r.status_code == status, r.text
    answer = r.json()
    assert loc in {e["loc"] for e in answer["errors"]}, answer
    row = kept(conn, r)
    assert row["partner_id"] == PARTNER and row["stored_bytes"] <= MAX_KEPT
    assert loc in {e["loc"] for e in row["errors"]}
    if sent is not None and len(sent) <= MAX_KEPT:
        assert bytes(row["body"]) == sent and row["body_size"] == len(sent) and not row["truncated"]
    return row


# ------------------------------------------------------------------ strings: NUL, surrogates, controls

FIELDS = ["external_id", "text", "employer", "recruiter", "sector", "language", "contact.name", "contact.phone",
          "contact.email", "contact.passport_number", "contact.messaging_handle", "contact.address",
          "partner_crm.notes"]


def with_field(path: str, value) -> dict:
    body = complaint()
    parent, _, leaf = path.rpartition(".")
    (body.setdefault(parent, {}) if parent else body)[leaf] = value
    return body


@pytest.mark.parametrize("field", FIELDS)
def test_nul_in_any_field_is_a_422_naming_it_and_kept(stack, conn, field):
    sent = raw_json(with_field(field, "abc\u0000def"))
    row = assert_rejected(conn, post(stack, sent), 422, field, sent)
    assert next(e for e in row["errors"] if e["loc"] == field)["type"] == "string_nul"


@pytest.mark.parametrize("field", FIELDS)
def test_a_lone_surrogate_in_any_field_is_a_422_naming_it_and_kept(stack, conn, field):
    sent = raw_json(with_field(field, "abc\ud800def"))
    row = assert_rejected(conn, post(stack, sent), 422, field, sent)
    assert next(e for e in row["errors"] if e["loc"] == field)["type"] == "string_unpaired_surrogate"


def test_a_lone_surrogate_in_external_id_is_kept_without_the_id(stack, conn):
    # This once answered 500: psycopg2 could not encode the id, and the rejection was lost.
    sent = b'{"external_id": "\\udfff", "text": "help"}'
    row = assert_rejected(conn, post(stack, sent), 422, "external_id", sent)
    assert row["external_id"] is None


def test_a_bad_field_name_is_named_escaped(stack, conn):
    sent = b'{"text": "help", "x\\u0000y": 1}'
    assert_rejected(conn, post(stack, sent), 422, "x\\u0000y", sent)


@pytest.mark.parametrize("bad", ["a\u0001b", "a\u001bb", "a\u007fb", "a\u009fb", "line\nbreak"])
def test_control_characters_in_ids_are_refused(stack, conn, bad):
    sent = raw_json(complaint(external_id=bad))
    assert_rejected(conn, post(stack, sent), 422, "external_id", sent)


def test_an_8000_character_id_is_a_422_and_kept_without_it(stack, conn):
    sent = raw_json(complaint(external_id="x" * 8000))
    row = assert_rejected(conn, post(stack, sent), 422, "external_id", sent)
    assert row["external_id"] is None


# ------------------------------------------------------------------ shapes and types


@pytest.mark.parametrize(("overrides", "loc"), [
    ({"text": 12345}, "text"), ({"external_id": 42}, "external_id"), ({"text": ["help"]}, "text"),
    ({"contact": ["R. Tamang"]}, "contact"), ({"consent": [True]}, "consent"), ({"contact": "me"}, "contact"),
    ({"minor_involved": {"yes": 1}}, "minor_involved"), ({"submitted_at": 1e300}, "submitted_at"),
    ({"text": None}, "text"), ({"partner_id": "ngo-my"}, "partner_id"), ({"urgency_hint": "URGENT"}, "urgency_hint"),
])
def test_wrong_types_are_a_422_naming_the_field(stack, conn, overrides, loc):
    sent = raw_json(complaint(**overrides))
    assert_rejected(conn, post(stack, sent), 422, loc, sent)


@pytest.mark.parametrize("code", ["XX", "EU", "ZZ", "UK", "my", "NPL", ""])
def test_unassigned_country_codes_are_refused(stack, conn, code):
    sent = raw_json(complaint(country_of_work=code))
    assert_rejected(conn, post(stack, sent), 422, "country_of_work", sent)


@pytest.mark.parametrize("sent", [
    b'{"text": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",  # 10,000 nested arrays
    b"[" * 10_000 + b"]" * 10_000,
    b'{"text": "help", "n": ' + b"9" * 10_000 + b"}",  # an integer past Python's digit limit
    b"\xff\xfe\x00\x00garbage", b'{"text": "caf\xe9"}', b"\xed\xa0\x80", '{"text": "help"}'.encode("utf-16"),
    b'{"text": "help", "n": NaN}', b"", b"null", b'"just a string"', b"{" * 30_000,
])
def test_bodies_that_are_no_json_object_are_a_400_and_kept(stack, conn, sent):
    row = assert_rejected(conn, post(stack, sent), 400, "body", sent)
    assert row["errors"][0]["type"] == "json_invalid"


# ------------------------------------------------------------------ size


def test_a_5mb_body_with_content_length_is_refused_before_it_is_read(stack, conn):
    started = time.monotonic()
    r = post(stack, b'{"text": "' + b"a" * FIVE_MB + b'"}')
    assert r.status_code == 413, r.text
    assert time.monotonic() - started < 5
    row = kept(conn, r)
    assert (row["stored_bytes"], row["body_size"], row["truncated"]) == (0, FIVE_MB + 12, True)
    assert r.json()["errors"][0]["type"] == "body_too_large"


def test_a_5mb_chunked_body_is_cut_off_at_the_limit(stack, conn):
    def chunks():
        yield b'{"text": "'
        for _ in range(FIVE_MB // 65536):
            yield b"a" * 65536
        yield b'"}'

    r = httpx.post(stack.url("intake") + "/v1/grievances", content=chunks(), headers=AUTH, timeout=30)
    assert r.status_code == 413, r.text
    row = kept(conn, r)
    assert (row["stored_bytes"], row["body_size"], row["body_sha256"], row["truncated"]) == (MAX_KEPT, None, None,
                                                                                          True)
    assert bytes(row["body"]).startswith(b'{"text": "aaa')


def test_a_body_just_under_the_limit_is_read_whole(stack, conn):
    sent = raw_json(complaint(padding="p" * (MAX_KEPT - 500)))
    assert len(sent) <= MAX_KEPT
    r = post(stack, sent)
    assert r.status_code == 202, r.text


def test_a_5mb_consent_body_is_a_413(stack):
    case_ref = post(stack, raw_json(complaint())).json()["case_ref"]
    r = post(stack, b'{"share_contact": ' + b" " * FIVE_MB + b"true}", path=f"/v1/grievances/{case_ref}/consent")
    assert r.status_code == 413 and r.json()["error"]


# ------------------------------------------------------------------ query and path


@pytest.mark.parametrize("external_id", ["\u0000", "a\u0000b", "a\u0001", "x" * 8000, "", "\udcff"])
def test_junk_in_the_external_id_query_is_a_4xx(stack, external_id):
    # httpx would refuse a surrogate; the URL carries what a raw client would send.
    query = "".join(f"%{b:02X}" for b in external_id.encode("utf-8", "surrogatepass"))
    r = httpx.get(stack.url("intake") + "/v1/grievances?external_id=" + query, headers=AUTH, timeout=10)
    assert r.status_code in (404, 422), r.text
    assert r.json()["error"]


@pytest.mark.parametrize("case_ref", ["%00", "GRV-%00%00%00%00%00%00%00%00%00%00%00%00", "x" * 8000,
                                      "%ED%A0%80", "GRV-000000000000%00", "GRV-00000000000I", "..%2F..%2Fetc",
                                      "%FF%FE", "GRV-" + "Z" * 12])
@pytest.mark.parametrize("suffix", ["", "/consent"])
def test_junk_in_the_case_ref_is_a_4xx(stack, case_ref, suffix):
    url = stack.url("intake") + f"/v1/grievances/{case_ref}{suffix}"
    r = (httpx.post(url, json={"share_contact": True}, headers=AUTH, timeout=10) if suffix
         else httpx.get(url, headers=AUTH, timeout=10))
    assert r.status_code in (404, 422), r.text
    assert r.json()["error"]


def test_junk_in_a_consent_body_is_a_422(stack):
    case_ref = post(stack, raw_json(complaint())).json()["case_ref"]
    url = f"/v1/grievances/{case_ref}/consent"
    for sent in (b'{"share_contact": "\\ud800"}', b'{"share_contact": "\\u0000"}', b"\xff", b"[]", b'{"x\\ud800": 1}'):
        r = post(stack, sent, path=url)
        assert r.status_code == 422, (sent, r.text)
        assert r.json()["errors"]


def test_non_ascii_bytes_in_the_request_line_never_give_a_500(stack):
    port = urlsplit(stack.url("intake")).port
    for target in (b"/v1/grievances/GRV-\xff\xfe\x00", b"/v1/grievances?external_id=\xc3\x28"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-key-ngo-np\r\n\r\n")
            status = s.recv(4096).split(b" ", 2)[1]
        assert status.startswith(b"4"), status


def test_without_a_key_nothing_is_read_and_the_answer_is_401(stack):
    r = post(stack, b"x" * FIVE_MB, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and r.json()["error"]


# ------------------------------------------------------------------ Kafka: the same rules


def test_kafka_submissions_get_the_same_rules(stack, conn):
    sent = b'{"partner_id": "ngo-np", "external_id": "\\ud800k", "text": "help\\u0000", "country_of_work": "XX"}'
    produce(stack, "grievance.submissions", sent, key=PARTNER.encode(), headers=signed(sent, PARTNER, ce=False))

    def row():
        with db.transaction(conn) as cur:
            cur.execute("SELECT external_id, errors FROM intake.rejected_submissions WHERE source = 'kafka'"
                        " AND body_sha256 = %s", (hashlib.sha256(sent).hexdigest(),))
            return cur.fetchone()

    external_id, errors = wait_for(row, 30, what="the Kafka rejection kept")
    assert external_id is None
    assert {e["loc"]: e["type"] for e in errors} == {"external_id": "string_unpaired_surrogate",
                                                     "text": "string_nul", "country_of_work": "country_code"}


# ------------------------------------------------------------------ load and outage


def test_500_concurrent_submissions_all_succeed(stack):
    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=120) as client:
            async def one() -> int:
                r = await client.post(stack.url("intake") + "/v1/grievances", json=complaint(), headers=AUTH)
                return r.status_code
            return await asyncio.gather(*(one() for _ in range(500)))

    started = time.monotonic()
    statuses = asyncio.run(burst())
    elapsed = time.monotonic() - started
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    print(f"\n500 concurrent POST /v1/grievances: {counts} in {elapsed:.1f} s")
    assert set(statuses) <= {200, 202} and len(statuses) == 500


def test_a_database_outage_is_a_503_with_retry_after(stack, tmp_path):
    """A fresh intake whose DATABASE_URL points at a port nothing listens on: it starts, and answers 503."""
    port = free_port()
    nothing = f"postgresql://postgres@127.0.0.1:{free_port()}/grievance"
    log = tmp_path / "intake-without-db.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "intake"], cwd=REPO_ROOT,
                                env=stack.service_env("intake", DATABASE_URL=nothing, GRIEVANCE_HTTP_PORT=str(port)),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def up():
            try:
                return httpx.get(base + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                assert proc.poll() is None, log.read_text()[-2000:]
                return False
        wait_for(up, 30, what="the intake without a database to listen")
        for r in (httpx.post(base + "/v1/grievances", json=complaint(), headers=AUTH, timeout=30),
                  httpx.get(base + f"/v1/grievances/GRV-{'0' * 12}", headers=AUTH, timeout=30),
                  httpx.get(base + "/v1/grievances", params={"external_id": str(uuid.uuid4())}, headers=AUTH,
                            timeout=30)):
            assert r.status_code == 503, r.text
            assert int(r.headers["retry-after"]) > 0
            assert r.json()["error"] and "Traceback" not in r.text
        ready = httpx.get(base + "/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
