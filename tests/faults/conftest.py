"""The fault suite's own stack: the bundled broker and an embedded PostgreSQL that the tests may kill
and restart, every service as its own process, and the demo inbox as the partner endpoint.

After each scenario `Invariants.check` asserts, from PostgreSQL, the topics and the inbox: every case
the scenario submitted was accepted once, triaged once and delivered once per recipient, or else an
operator alert names it; every loop of every service is running and readiness says so."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer

from services.common import db, directory, signing
from services.common.settings import REPO_ROOT
from services.devtools.stack import SERVICES, Stack, wait_for_port
from tests.e2e.conftest import complaint as e2e_complaint
from tests.e2e.conftest import wait_for

PARTNER = "ngo-np"
AUTH = {"Authorization": "Bearer demo-key-ngo-np"}


@pytest.fixture(scope="package")
def fstack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("faults"), database_url=None, session_timeout_ms=3000,
              extra_env={"DELIVERY_BACKOFF_S": "0.5", "DELIVERY_MAX_ATTEMPTS": "6", "LOOP_MAX_FAILURES": "4"})
    s.start_infrastructure()
    s.start_all()
    yield s
    s.close()


@pytest.fixture()
def fconn(fstack):
    connection = db.connect(fstack.database_url)
    connection.autocommit = True
    yield connection
    connection.close()


def complaint(**overrides) -> dict:
    """The e2e complaint, made critical (locked in), with ids of its own."""
    return e2e_complaint(**{"external_id": f"f-{uuid.uuid4().hex[:12]}",
                            "text": "My employer took my passport and locked us in the dormitory.", **overrides})


def submit_until_accepted(stack: Stack, body: dict, timeout: float = 90.0) -> str:
    """As a partner would: resubmit (same external_id) until intake answers with a case."""
    def attempt():
        try:
            r = httpx.post(stack.url("intake") + "/v1/grievances", json=body, headers=AUTH, timeout=10)
        except httpx.HTTPError:
            return None
        assert r.status_code < 500 or r.status_code == 503, (r.status_code, r.text)
        return r.json()["case_ref"] if r.status_code in (200, 202) else None
    return wait_for(attempt, timeout, 0.5, what=f"intake to accept {body['external_id']}")


def produce(stack: Stack, topic: str, records: Iterable[tuple[bytes | None, bytes | None, list]]) -> None:
    producer = KafkaProducer(bootstrap_servers=stack.kafka)
    try:
        for key, value, headers in records:
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush(30)
    finally:
        producer.close()


def partner_secret(partner_id: str) -> str:
    """The partner's secret as the stack loaded it (the demo directory, ${ENV:-default} expanded alike)."""
    return directory.load(REPO_ROOT / "config").get(partner_id).webhook.secret


def submission_record(body: dict, ce_id: str | None = None) -> tuple[bytes, bytes, list]:
    """A submission as its partner publishes it: keyed by the partner, signed with its secret now. Without
    a ce_id it carries a fresh event id of its own; send the same record again for byte-identical copies."""
    partner, value = body["partner_id"], json.dumps(body).encode()
    headers = signing.submission_headers(partner_secret(partner), partner, ce_id or f"plain-{uuid.uuid4().hex}", value)
    if ce_id is not None:
        headers += [("ce_id", ce_id.encode()), ("ce_source", b"/partner/test"),
                    ("ce_type", b"org.grievance.submission.v1"), ("ce_specversion", b"1.0")]
    return partner.encode(), value, headers


def topic_records(stack: Stack, topic: str, idle_s: float = 2.0) -> list:
    consumer = KafkaConsumer(topic, bootstrap_servers=stack.kafka, group_id=None, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=int(idle_s * 1000))
    try:
        return list(consumer)
    finally:
        consumer.close()


def alerts(stack: Stack) -> list[dict]:
    return [json.loads(r.value) for r in topic_records(stack, "operator.alerts")]


def readiness(stack: Stack, name: str) -> tuple[int, dict]:
    try:
        r = httpx.get(stack.url(name) + "/readyz", timeout=5)
        return r.status_code, r.json()
    except httpx.HTTPError as exc:
        return 0, {"error": repr(exc)}


def all_ready(stack: Stack) -> bool:
    return all(readiness(stack, name)[0] == 200 for name in SERVICES)


def restart(stack: Stack, name: str) -> None:
    """What a supervisor does: start the service again and wait until it is ready."""
    stack.stop(name, signal.SIGKILL)
    stack.start(name)
    stack.wait_ready(name, timeout=90)


def kill9(stack: Stack, name: str) -> None:
    proc = stack.procs[name]
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def restart_broker(stack: Stack, down_s: float = 1.0) -> None:
    """Kill -9 the bundled broker (it keeps topics in memory) and start it again on the same port."""
    proc = stack.procs.pop("broker")
    argv = proc.args
    proc.kill()
    proc.wait(10)
    time.sleep(down_s)
    stack._spawn("broker", list(argv))
    wait_for_port(int(stack.kafka.rsplit(":", 1)[1]))


def restart_postgres(stack: Stack, down_s: float) -> None:
    """Stop the stack's PostgreSQL (fast shutdown: every connection is cut) and start it again after down_s."""
    stack.stop("postgres", signal.SIGINT)
    time.sleep(down_s)
    stack.start_postgres()


@dataclass
class Invariants:
    stack: Stack
    conn: object
    case_refs: set[str] = field(default_factory=set)

    def status(self, case_ref: str) -> dict | None:
        with self.conn.cursor() as cur:
            cur.execute("SELECT triaged_at IS NOT NULL FROM intake.cases WHERE case_ref = %s", (case_ref,))
            row = cur.fetchone()
            if row is None:
                return None
            cur.execute("SELECT recipient, status FROM intake.case_deliveries WHERE case_ref = %s", (case_ref,))
            return {"triaged": row[0], "deliveries": dict(cur.fetchall())}

    def settled(self, alerted: set[str]) -> list[str]:
        """Cases neither delivered to every recipient nor named by an operator alert."""
        open_cases = []
        for ref in self.case_refs:
            s = self.status(ref)
            done = s and s["deliveries"] and all(v == "delivered" for v in s["deliveries"].values())
            if not done and ref not in alerted:
                open_cases.append(ref)
        return open_cases

    def check(self, timeout: float = 120.0) -> dict:
        started = time.monotonic()

        def settled():
            if not self.settled(set()):  # all delivered: no need to read the alerts
                return True
            alerted = {a["case_ref"] for a in alerts(self.stack) if a["kind"] in ("delivery_failed", "triage_failed")}
            return not self.settled(alerted)
        try:
            wait_for(settled, timeout, 1.0, what=f"{len(self.case_refs)} cases delivered or alerted")
        except AssertionError as exc:
            stuck = {ref: self.status(ref) for ref in self.settled(set())}
            raise AssertionError(f"{exc}; not settled: {stuck}") from None
        recovered_s = time.monotonic() - started
        with self.conn.cursor() as cur:
            refs = list(self.case_refs)
            cur.execute("SELECT case_ref, count(*) FROM triage.decisions WHERE case_ref = ANY(%s) GROUP BY 1", (refs,))
            decisions = dict(cur.fetchall())
            cur.execute("SELECT case_ref, recipient, count(*) FROM notifier.deliveries WHERE case_ref = ANY(%s)"
                        " GROUP BY 1, 2 HAVING count(*) > 1", (refs,))
            twice = cur.fetchall()
        assert set(decisions) == self.case_refs and set(decisions.values()) == {1}, decisions
        assert twice == [], twice
        inbox = httpx.get(self.stack.url("inbox") + "/inbox", timeout=10).json()["deliveries"]
        mine = [d for d in inbox if d["body"]["case_ref"] in self.case_refs]
        per_recipient: dict[tuple[str, str], set[str]] = {}
        for d in mine:
            per_recipient.setdefault((d["body"]["case_ref"], d["partner_id"]), set()).add(d["webhook_id"])
        assert all(len(ids) == 1 for ids in per_recipient.values()), "a case notified under two delivery ids"
        wait_for(lambda: all_ready(self.stack), 60, 0.5, what="every service ready")
        for name in SERVICES:
            code, body = readiness(self.stack, name)
            assert code == 200 and all(loop["state"] == "running" for loop in body["loops"].values()), body
        return {"cases": len(self.case_refs), "delivered_or_alerted_after_s": round(recovered_s, 1),
                "webhook_repeats": sum(d["times_received"] - 1 for d in mine)}


@pytest.fixture()
def invariants(fstack, fconn) -> Invariants:
    return Invariants(fstack, fconn)


def grievance(stack: Stack, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    import sys

    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=stack.env(), capture_output=True,
                          text=True, timeout=timeout, cwd=Path(__file__).resolve().parents[2])
