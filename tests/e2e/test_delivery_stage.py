"""The delivery stage against real receivers: a stack of its own (broker, PostgreSQL database, every
service as a process) whose notifier delivers to small HTTP receivers started here, named in a test
directory loaded with `grievance directory load --file`. case.routed events are produced signed as triage
would, so each test controls its recipients and urgencies exactly."""

from __future__ import annotations

import json
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from kafka import KafkaProducer

from schemas import envelope, topics
from schemas.models import CaseRouted, CaseView, Recipient, Sla
from services.common import db
from services.common.event_auth import EventSigner
from services.devtools.stack import REPO_ROOT

from .conftest import stack_with_directory, wait_for

PARTNERS = ("dst-slow", "dst-ok", "dst-hang", "dst-500", "dst-flaky", "dst-hold")
POLICY = """
backoff:
  critical: {base_s: 0.2, cap_s: 2, horizon_s: 3600}
  high:     {base_s: 0.2, cap_s: 2, horizon_s: 3600}
  medium:   {base_s: 0.2, cap_s: 2, horizon_s: 10}
  low:      {base_s: 0.2, cap_s: 2, horizon_s: 3600}
per_partner_concurrency: 4
breaker: {failures: 3, cooldown_s: 1, max_cooldown_s: 4}
lease_s: 8
"""
ADMIN = {"Authorization": "Bearer demo-admin-key"}


class Receivers:
    """One threaded HTTP server; /<partner> answers as `behaviour[partner]` says and logs every request."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # every request, repeats included, in arrival order
        self.behaviour: dict[str, str] = {p: "ok" for p in PARTNERS}
        self.delay: dict[str, float] = {}
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                partner = self.path.strip("/")
                started = time.time()
                with receivers.lock:
                    seen = sum(r["webhook_id"] == self.headers["webhook-id"] for r in receivers.requests)
                    receivers.requests.append({"partner": partner, "webhook_id": self.headers["webhook-id"],
                                               "case_ref": body["case_ref"], "started": started,
                                               "urgency": body["case"]["urgency"], "done": None})
                    entry = receivers.requests[-1]
                mode = receivers.behaviour.get(partner, "ok")
                time.sleep(receivers.delay.get(partner, 0.0))
                code = 500 if mode == "500" or (mode == "flaky" and seen < 3) else 200
                if mode == "hang":
                    time.sleep(30)
                entry["done"], entry["code"] = time.time(), code
                self.send_response(code)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, case_refs) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["case_ref"] in case_refs]

    def answered(self, case_refs) -> dict[str, dict]:
        """case_ref → the first 2xx it got."""
        out = {}
        for r in self.of(case_refs):
            if r.get("code") == 200 and r["case_ref"] not in out:
                out[r["case_ref"]] = r
        return out


@pytest.fixture(scope="module")
def receivers():
    r = Receivers()
    yield r
    r.server.shutdown()


@pytest.fixture(scope="module")
def dstack(tmp_path_factory, receivers):
    work = tmp_path_factory.mktemp("dstage")
    (work / "delivery.yaml").write_text(POLICY)
    yield from stack_with_directory(work, [{
        "id": p, "name": f"delivery stage test receiver {p}", "kind": "ngo", "available_24_7": True,
        "disclosure": "pseudonymous", "webhook": {"url": f"http://127.0.0.1:{receivers.port}/{p}",
                                                  "secret": "test-secret-" + secrets.token_hex(8)}}
        for p in PARTNERS], {"DELIVERY_POLICY": str(work / "delivery.yaml"), "WEBHOOK_TIMEOUT_S": "2",
                             "DELIVERY_CONCURRENCY": "16"})


@pytest.fixture(scope="module")
def router(dstack):
    """Produces case.routed events signed with triage's key, as triage would."""
    signer = EventSigner("triage", dstack.event_keys["triage"][0])
    producer = KafkaProducer(bootstrap_servers=dstack.kafka, linger_ms=5)

    def route(urgency: str, *partners: str, deliver_in_s: float = 3600) -> str:
        case_ref = "GRV-" + secrets.token_hex(6).upper()
        now = datetime.now(UTC)
        event = CaseRouted(
            case_ref=case_ref, rule="test", routed_at=now,
            recipients=[Recipient(partner_id=p, kind="ngo", role="primary", disclosure="pseudonymous", reason="test")
                        for p in partners],
            case=CaseView(case_ref=case_ref, subject_ref="subj-test", submitted_by="ngo-np", text="test", language="en",
                          urgency=urgency, categories=[], indicators=[], summary="test", country_of_work="MY",
                          country_of_origin="NP", sector=None, employer=None, recruiter=None,
                          sla=Sla(deliver_by=now + timedelta(seconds=deliver_in_s),
                                  acknowledge_by=now + timedelta(seconds=2 * deliver_in_s))))
        m = envelope.encode(topics.ROUTED, event, source="triage", id=envelope.event_id("routed", case_ref))
        producer.send(m.topic, key=m.key, value=m.value,
                      headers=signer.headers(m.topic, m.key, m.value, m.headers))
        return case_ref

    route.flush = lambda: producer.flush(30)
    yield route
    producer.close()


def query(dstack, sql: str, params: tuple) -> list[tuple]:
    conn = db.connect(dstack.database_url)
    try:
        with db.transaction(conn) as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def deliveries(dstack, case_refs) -> list[dict]:
    names = ("id", "case_ref", "recipient", "status", "attempts", "delivery_id", "last_error")
    rows = query(dstack, "SELECT id, case_ref, recipient, status, attempts, payload->>'delivery_id', last_error"
                 " FROM notifier.deliveries WHERE case_ref = ANY(%s)", (list(case_refs),))
    return [dict(zip(names, r, strict=True)) for r in rows]


def attempts(dstack, case_ref) -> list[tuple]:
    return query(dstack, "SELECT a.attempt, a.status_code, a.error, a.attempted_at, a.finished_at"
                 " FROM notifier.attempts a JOIN notifier.deliveries d ON d.id = a.delivery_id"
                 " WHERE d.case_ref = %s ORDER BY a.attempt", (case_ref,))


def all_delivered(dstack, case_refs, timeout: float = 60):
    return wait_for(lambda: (rows := deliveries(dstack, case_refs)) and len(rows) >= len(case_refs)
                    and all(r["status"] == "delivered" for r in rows) and rows, timeout,
                    what=f"{len(case_refs)} deliveries delivered")


def test_critical_cases_never_wait_behind_a_backlog_of_low_ones(dstack, router, receivers):
    receivers.delay["dst-slow"] = 0.1  # 4 in flight per partner: a backlog of 300 takes ≈ 7.5 s
    low = [router("low", "dst-slow") for _ in range(300)]
    router.flush()
    wait_for(lambda: len(receivers.of(set(low))) >= 8, 30, what="the backlog to start draining")
    critical, produced = [], {}
    for _ in range(15):
        ref = router("critical", "dst-slow", deliver_in_s=900)
        router.flush()
        produced[ref] = time.time()
        critical.append(ref)
        time.sleep(0.3)
    all_delivered(dstack, critical, 30)
    answered = receivers.answered(set(critical))
    latencies = sorted(answered[ref]["started"] - produced[ref] for ref in critical)
    all_delivered(dstack, low, 120)
    backlog = receivers.answered(set(low))
    drained_at = max(r["started"] for r in backlog.values())
    low_after = sum(r["started"] > max(produced.values()) for r in backlog.values())
    p50, p99 = statistics.median(latencies), latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(f"\ncritical latency while 300 low cases drain (slow receiver 100 ms, 4 in flight): p50 {p50 * 1000:.0f} ms,"
          f" p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; low cases sent after the last critical:"
          f" {low_after}; backlog drained {drained_at - max(produced.values()):.1f} s after it")
    assert all(answered[ref]["started"] < drained_at for ref in critical)
    assert low_after > 0 and p99 < 2.0


def test_a_dead_endpoint_does_not_delay_another_partner(dstack, router, receivers):
    receivers.behaviour.update({"dst-hang": "hang", "dst-500": "500"})
    # medium: a 10 s retry horizon in this test's policy
    dead = [router("medium", "dst-hang") for _ in range(20)] + [router("medium", "dst-500") for _ in range(20)]
    router.flush()
    time.sleep(0.5)
    started = time.time()
    ok = [router("high", "dst-ok") for _ in range(40)]
    router.flush()
    all_delivered(dstack, ok, 30)
    took = max(r["started"] for r in receivers.answered(set(ok)).values()) - started
    sent_dead = len(receivers.of(set(dead)))
    print(f"\n40 cases to a healthy partner delivered in {took:.2f} s while two others hang or answer 500;"
          f" requests to those two in that time: {sent_dead} (breaker)")
    assert took < 5
    time.sleep(3)
    with_breaker = len(receivers.of(set(dead)))
    assert with_breaker < 40, "an open breaker leaves a dead partner's deliveries alone"
    # past the horizon they are dead-lettered with an alert; once the partner is back, redelivered
    wait_for(lambda: all(r["status"] == "failed" for r in deliveries(dstack, dead[20:])), 30,
             what="deliveries to the 500 endpoint dead-lettered")
    receivers.behaviour["dst-500"] = "ok"
    ref = dead[20]
    before = len(receivers.of({ref}))
    out = subprocess.run([sys.executable, "-m", "services.cli", "redeliver", ref, "--recipient", "dst-500"],
                         env=dstack.env(), capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    all_delivered(dstack, [ref], 30)
    row = deliveries(dstack, [ref])[0]
    assert {r["webhook_id"] for r in receivers.of({ref})} == {row["delivery_id"]}
    assert row["attempts"] == len(receivers.of({ref})) == before + 1
    other = deliveries(dstack, [dead[21]])[0]
    api = dstack.url("notifier") + "/v1/admin/deliveries"
    assert httpx.post(f"{api}/{other['id']}/redeliver", timeout=10).status_code == 401
    listed = httpx.get(api, headers=ADMIN, timeout=10).json()["deliveries"]
    assert other["id"] in {d["id"] for d in listed}
    r = httpx.post(f"{api}/{other['id']}/redeliver", headers=ADMIN, timeout=10)
    assert r.status_code == 200, r.text
    all_delivered(dstack, [dead[21]], 30)
    assert httpx.post(f"{api}/{other['id']}/redeliver", headers=ADMIN, timeout=10).status_code == 409
    receivers.behaviour["dst-hang"] = "ok"


def test_500s_timeouts_and_slow_answers_back_off_as_configured(dstack, router, receivers):
    receivers.behaviour["dst-flaky"] = "flaky"  # 500 three times per webhook-id, then 200
    receivers.delay["dst-hold"] = 1.5  # slow but within WEBHOOK_TIMEOUT_S (2 s)
    flaky, slow = router("high", "dst-flaky"), router("high", "dst-hold")
    router.flush()
    all_delivered(dstack, [flaky, slow], 60)
    rows = attempts(dstack, flaky)
    assert [(a, c) for a, c, *_ in rows] == [(1, 500), (2, 500), (3, 500), (4, 200)]
    gaps = [(rows[i + 1][3] - rows[i][4]).total_seconds() for i in range(3)]
    ceilings = [0.2, 0.4, 0.8]  # base 0.2 doubling, full jitter: anywhere in [0, ceiling] (+ the claim's poll)
    assert all(g <= c + 0.5 for g, c in zip(gaps, ceilings, strict=True)), gaps
    assert [(a, c) for a, c, *_ in attempts(dstack, slow)] == [(1, 200)]
    receivers.delay["dst-hold"] = 3.0  # now past the timeout: each attempt times out and is retried
    timed_out = router("high", "dst-hold")
    router.flush()
    wait_for(lambda: len(attempts(dstack, timed_out)) >= 2 and all(a[4] for a in attempts(dstack, timed_out)[:2]),
             30, what="two timed-out attempts")
    first = attempts(dstack, timed_out)
    assert first[0][1] is None and "Timeout" in first[0][2]
    receivers.delay["dst-hold"] = 0.0
    all_delivered(dstack, [timed_out], 30)
    print(f"\nbackoff gaps after 500s (ceilings 0.2/0.4/0.8 s): {[round(g, 2) for g in gaps]}")


def test_notifier_killed_mid_send_delivers_each_once_per_webhook_id_with_every_attempt_counted(dstack, router,
                                                                                                 receivers):
    receivers.delay["dst-hold"] = 1.8  # held (within the 2 s timeout) long enough to kill the notifier meanwhile
    cases = [router("high", "dst-hold") for _ in range(8)]
    router.flush()
    wait_for(lambda: len(receivers.of(set(cases))) >= 4, 30, what="sends held by the receiver")
    proc = dstack.procs["notifier"]
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    in_flight = {r["webhook_id"] for r in receivers.of(set(cases))}
    dstack.start("notifier")
    dstack.wait_ready("notifier", timeout=60)
    rows = all_delivered(dstack, cases, 60)
    seen = receivers.of(set(cases))
    per_case: dict[str, set[str]] = {}
    for r in seen:
        per_case.setdefault(r["case_ref"], set()).add(r["webhook_id"])
    assert all(len(ids) == 1 for ids in per_case.values()) and set(per_case) == set(cases)
    for row in rows:  # attempts counted per real attempt: exactly the requests the receiver saw
        assert row["attempts"] == sum(r["webhook_id"] == row["delivery_id"] for r in seen), row
    resent = [row for row in rows if row["attempts"] > 1]
    assert resent and all(row["delivery_id"] in in_flight for row in resent)
    lost = attempts(dstack, resent[0]["case_ref"])
    assert [a for a, *_ in lost] == [1, 2] and "lease expired" in lost[0][2] and lost[1][1] == 200
    print(f"\nnotifier killed with {len(in_flight)} sends held: {len(resent)} re-sent under the same webhook-id,"
          f" {len(seen)} requests for {len(cases)} deliveries, attempts = requests for each")


def test_throughput_against_the_demo_inbox(dstack, router):
    demo = ["iom-hub", "iom-my", "iom-th", "iom-gulf", "ngo-my", "ngo-th", "ngo-gulf", "ngo-tw"]
    started = time.time()
    cases = [router("low", demo[i % len(demo)], demo[(i + 1) % len(demo)]) for i in range(1000)]
    router.flush()
    rows = all_delivered(dstack, cases, 120)
    took = time.time() - started
    conn = db.connect(dstack.database_url)
    try:
        with db.transaction(conn) as cur:
            cur.execute("SELECT extract(epoch FROM max(delivered_at) - min(created_at)) FROM notifier.deliveries"
                        " WHERE case_ref = ANY(%s)", (cases,))
            stage_s = float(cur.fetchone()[0])
    finally:
        conn.close()
    print(f"\ndelivery stage against the demo inbox: {len(rows)} deliveries in {stage_s:.1f} s from the first"
          f" row created = {len(rows) / stage_s:.0f} deliveries/s ({took:.1f} s from the first event produced)")
    assert len(rows) == 2000

