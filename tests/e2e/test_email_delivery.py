"""E-mail delivery against a real SMTP server (aiosmtpd) started here, requiring STARTTLS with a certificate
made here and AUTH, through a stack of its own (broker, PostgreSQL database, every service as a process).
case.routed events are produced signed as triage would, to partners whose only channel is e-mail; then the
whole pipeline once more through the shared stack, whose demo inbox takes the e-mail partners' mail."""

from __future__ import annotations

import email
import email.policy
import json
import secrets
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from kafka import KafkaProducer

from schemas import envelope, topics
from schemas.models import CaseRouted, CaseView, Recipient, Sla
from services.common.event_auth import EventSigner
from services.devtools.stack import free_port

from .conftest import complaint, read_topic, stack_with_directory, submit_http, wait_for
from .test_bundled_broker_auth import self_signed
from .test_delivery_stage import attempts, deliveries, query

USER, PASSWORD = "notifier", "smtp-test-" + secrets.token_hex(6)
PARTNERS = {"eml-fr": ["fr", "en"], "eml-ar": ["ar", "en"], "eml-id": [], "eml-flaky": ["en"],
            "eml-550": ["en"], "eml-bulk": ["en"]}
POLICY = """
backoff:
  critical: {base_s: 0.2, cap_s: 1, horizon_s: 3600}
  high:     {base_s: 0.2, cap_s: 1, horizon_s: 3600}
  medium:   {base_s: 0.2, cap_s: 1, horizon_s: 6}
  low:      {base_s: 0.2, cap_s: 1, horizon_s: 3600}
per_partner_concurrency: 4
breaker: {failures: 50, cooldown_s: 1, max_cooldown_s: 2}
lease_s: 10
"""


class Relay:
    """The partners' mail relay: STARTTLS and AUTH required; answers RCPT per recipient as `behaviour` says
    (`451`: always, `451x2`: twice per recipient then accepts, `550`: always); keeps every message."""

    def __init__(self, cert: Path, key: Path):
        self.lock = threading.Lock()
        self.messages: list[dict] = []
        self.rcpt_replies: list[tuple[str, str]] = []
        self.behaviour: dict[str, str] = {"eml-flaky": "451x2", "eml-550": "550"}
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(cert, key)
        self.cert = cert  # the notifier trusts it (SMTP_CAFILE)
        self.port = free_port()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, tls_context=self.tls,
                                     require_starttls=True, auth_required=True, authenticator=self.authenticate)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @staticmethod
    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        return AuthResult(success=auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode())

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options) -> str:
        partner = address.partition("@")[0]
        mode = self.behaviour.get(partner, "ok")
        with self.lock:
            seen = sum(p == partner for p, _ in self.rcpt_replies)
            reply = ("550 5.1.1 mailbox unavailable" if mode == "550" else
                     "451 4.3.0 try again later" if mode == "451" or (mode == "451x2" and seen < 2) else "250 OK")
            self.rcpt_replies.append((partner, reply[:3]))
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server, session, envelope) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        case = json.loads(next(msg.iter_attachments()).get_content())
        with self.lock:
            self.messages.append({"partner": envelope.rcpt_tos[0].partition("@")[0], "msg": msg,
                                  "case_ref": case["case_ref"], "message_id": msg["Message-ID"],
                                  "tls": session.ssl is not None, "authenticated": session.authenticated,
                                  "at": time.time()})
        return "250 2.0.0 queued"

    def of(self, case_refs) -> list[dict]:
        with self.lock:
            return [m for m in self.messages if m["case_ref"] in case_refs]


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    r = Relay(*self_signed(tmp_path_factory.mktemp("smtp-tls")))
    r.start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def mstack(tmp_path_factory, relay):
    work = tmp_path_factory.mktemp("mail")
    (work / "delivery.yaml").write_text(POLICY)
    yield from stack_with_directory(work, [
        {"id": p, "name": f"e-mail test partner {p}", "kind": "ngo", "available_24_7": True,
         "disclosure": "pseudonymous", "languages": langs, "email": f"{p}@partners.test"}
        for p, langs in PARTNERS.items()], {
        "DELIVERY_POLICY": str(work / "delivery.yaml"), "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(relay.port),
        "SMTP_TLS": "starttls", "SMTP_USERNAME": USER, "SMTP_PASSWORD": PASSWORD, "SMTP_TIMEOUT_S": "3",
        "SMTP_FROM": "cases@grievance.test", "SMTP_CAFILE": str(relay.cert)})


@pytest.fixture(scope="module")
def route(mstack):
    """Produces a case.routed event to one e-mail partner, signed with triage's key, as triage would."""
    signer = EventSigner("triage", mstack.event_keys["triage"][0])
    producer = KafkaProducer(bootstrap_servers=mstack.kafka, linger_ms=5)

    def send(partner: str, *, urgency: str = "high", language: str = "en", text: str = "My passport was taken.",
             summary: str = "passport kept") -> str:
        case_ref = "GRV-" + secrets.token_hex(6).upper()
        now = datetime.now(UTC)
        event = CaseRouted(
            case_ref=case_ref, rule="test", routed_at=now,
            recipients=[Recipient(partner_id=partner, kind="ngo", role="primary", disclosure="pseudonymous",
                                  reason="test")],
            case=CaseView(case_ref=case_ref, subject_ref="subj-mail", submitted_by="ngo-np", text=text,
                          language=language, urgency=urgency, categories=[], indicators=[], summary=summary,
                          country_of_work="LB", country_of_origin="NP", sector=None, employer=None, recruiter=None,
                          sla=Sla(deliver_by=now + timedelta(hours=1), acknowledge_by=now + timedelta(hours=2))))
        m = envelope.encode(topics.ROUTED, event, source="triage", id=envelope.event_id("routed", case_ref))
        producer.send(m.topic, key=m.key, value=m.value, headers=signer.headers(m.topic, m.key, m.value, m.headers))
        producer.flush(30)
        return case_ref

    yield send
    producer.close()


def delivered(mstack, case_refs, timeout: float = 60) -> list[dict]:
    return wait_for(lambda: (rows := deliveries(mstack, case_refs)) and len(rows) == len(case_refs)
                    and all(r["status"] == "delivered" for r in rows) and rows, timeout,
                    what=f"{len(case_refs)} e-mail deliveries delivered")


def test_a_case_reaches_an_email_partner_once_in_its_language_over_starttls_with_auth(mstack, route, relay):
    hostile = "urgent\r\nBcc: thief@evil.example"  # NUL and surrogates cannot reach the bus: unit-tested
    fr, ar, bahasa = (route("eml-fr", language="fr", summary=hostile), route("eml-ar", language="ar"),
                      route("eml-id", language="id"))
    rows = {r["case_ref"]: r for r in delivered(mstack, [fr, ar, bahasa])}
    time.sleep(1)  # a second send, were there one, would have come by now
    got = {m["case_ref"]: m for m in relay.of({fr, ar, bahasa})}
    assert len(relay.of({fr, ar, bahasa})) == 3 and set(got) == {fr, ar, bahasa}
    assert all(m["tls"] and m["authenticated"] for m in got.values())
    for ref, word in ((fr, "Dossier de plainte"), (ar, "ملف الشكوى"), (bahasa, "Kasus pengaduan")):
        msg = got[ref]["msg"]
        assert word in msg["Subject"] and ref in msg["Subject"]
        assert msg["Message-ID"] == f"<{rows[ref]['delivery_id']}@grievance.test>"
    hostile_mail = got[fr]["msg"]
    assert hostile_mail["Bcc"] is None and hostile_mail["To"] == "eml-fr@partners.test"
    assert "Bcc: thief@evil.example" in hostile_mail.get_body(("plain",)).get_content()  # body text only
    channel = query(mstack, "SELECT DISTINCT channel FROM notifier.deliveries WHERE case_ref = ANY(%s)",
                    ([fr, ar, bahasa],))
    assert channel == [("email",)]
    event = json.loads(read_topic(mstack, topics.DELIVERED.name, lambda r: r.key == fr.encode()).value)
    assert event["channel"] == "email" and event["status_code"] == 250


def test_4xx_replies_and_a_relay_that_is_down_are_retried_until_delivered_once(mstack, route, relay):
    flaky = route("eml-flaky")  # 451 on its first two RCPTs
    row = delivered(mstack, [flaky], 30)[0]
    assert [(a, c) for a, c, *_ in attempts(mstack, flaky)] == [(1, 451), (2, 451), (3, 250)]
    assert len(relay.of({flaky})) == 1 and row["attempts"] == 3
    relay.stop()
    try:
        down = [route("eml-fr"), route("eml-ar")]
        wait_for(lambda: all(len(attempts(mstack, ref)) >= 2 for ref in down), 30, what="attempts while down")
        errors = [e for ref in down for _, _, e, *_ in attempts(mstack, ref) if e]
        assert errors and all("ConnectionRefused" in e or "SMTPServerDisconnected" in e for e in errors), errors
    finally:
        relay.start()
    delivered(mstack, down, 30)
    time.sleep(1)
    assert sorted(m["case_ref"] for m in relay.of(set(down))) == sorted(down)  # once each


def test_a_5xx_is_retried_then_dead_lettered_with_an_alert_under_the_horizon(mstack, route, relay):
    refused = route("eml-550", urgency="medium")  # medium: a 6 s horizon in this test's policy
    wait_for(lambda: (rows := deliveries(mstack, [refused])) and rows[0]["status"] == "failed", 40,
             what="dead-lettered")
    row = deliveries(mstack, [refused])[0]
    assert row["attempts"] >= 2 and "SMTP 550 (permanent)" in row["last_error"] and not relay.of({refused})
    alert = json.loads(read_topic(mstack, topics.ALERTS.name, lambda r: r.key == refused.encode()
                                  and json.loads(r.value)["kind"] == "delivery_failed").value)
    assert "eml-550" in alert["message"] and "550" in alert["message"]
    failed = json.loads(read_topic(mstack, topics.FAILED.name,
                                   lambda r: r.key == refused.encode() and json.loads(r.value)["final"]).value)
    assert failed["channel"] == "email" and "550" in failed["error"]


def test_throughput_against_the_relay(mstack, route, relay):
    started = time.time()
    cases = [route("eml-bulk", urgency="low") for _ in range(300)]
    delivered(mstack, cases, 120)
    stage_s = float(query(mstack, "SELECT extract(epoch FROM max(delivered_at) - min(created_at))"
                                  " FROM notifier.deliveries WHERE case_ref = ANY(%s)", (cases,))[0][0])
    print(f"\ne-mail delivery stage against an aiosmtpd relay (STARTTLS, AUTH, 4 per partner): {len(cases)} mails"
          f" in {stage_s:.1f} s = {len(cases) / stage_s:.0f} mails/s ({time.time() - started:.1f} s from the first"
          " event produced)")
    assert len(relay.of(set(cases))) == len(cases)


def test_the_shared_stack_mails_an_email_partner_through_the_whole_pipeline(stack):
    """ngo-levant has no webhook in the demo directory: a Lebanese case in Arabic reaches it by e-mail in
    Arabic at the demo inbox's SMTP server, which the stack runs without TLS: no contact details in it."""
    body = complaint(language="ar", country_of_work="LB", text="أخذ صاحب العمل جواز سفري ولم يدفع راتبي منذ ثلاثة أشهر")
    r = submit_http(stack, body)
    assert r.status_code == 202, r.text
    case_ref = r.json()["case_ref"]

    def mail():
        items = httpx.get(stack.url("inbox") + "/inbox", params={"case_ref": case_ref}, timeout=10).json()
        return next((d for d in items["deliveries"] if d["partner_id"] == "ngo-levant"), None)
    got = wait_for(mail, 60, what="ngo-levant's mail at the demo inbox")
    assert got["channel"] == "email" and got["language"] == "ar" and "ملف الشكوى" in got["subject"]
    assert "+977" not in got["text"] and "TLS" in got["text"] and "contact" not in got["body"]["case"]
    assert got["webhook_id"] == got["body"]["delivery_id"] and got["times_received"] == 1
    assert "ngo-levant" in httpx.get(stack.url("inbox") + "/", timeout=10).text
