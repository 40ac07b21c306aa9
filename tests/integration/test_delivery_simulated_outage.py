"""The delivery stage through an hour of simulated time, against real PostgreSQL and a real HTTP receiver:
the receiver answers 503 for an hour, then comes back; every delivery lands exactly once, the retries in
between follow the configured backoff (full jitter under the urgency's cap), and the partner's circuit
breaker cools down on the same clock. The worker is the notifier's own DeliveryWorker; only its clock is
the test's."""

from __future__ import annotations

import http.server
import secrets
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from schemas.models import CaseRouted, CaseView, Recipient, Sla, Urgency
from services.common import db, signing
from services.common.directory import Directory
from services.common.settings import Settings
from services.notifier import retry, routed
from services.notifier.delivery import DeliveryWorker

SECRET = "whsec_" + "c2ltdWxhdGVkLW91dGFnZS1zZWNyZXQtMTIzNDU2Nzg="
HOUR = timedelta(hours=1)
STEP = timedelta(seconds=20)


class Clock:
    def __init__(self, at: datetime):
        self.at, self.lock = at, threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            return self.at

    def advance(self, by: timedelta) -> None:
        with self.lock:
            self.at += by


class Receiver(http.server.ThreadingHTTPServer):
    """A partner endpoint: 503 while `down`, else verifies the signature and answers 200; counts both."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.down = True
        self.refused = 0
        self.accepted: Counter[str] = Counter()  # webhook-id → 2xx answers given
        self.lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with self.server.lock:
            if self.server.down:
                self.server.refused += 1
                code = 503
            else:
                signing.verify(SECRET, {k.lower(): v for k, v in self.headers.items()}, body)
                self.server.accepted[self.headers["webhook-id"]] += 1
                code = 200
        self.send_response(code)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def case(urgency: Urgency, now: datetime) -> CaseRouted:
    ref = "GRV-" + secrets.token_hex(6).upper()
    return CaseRouted(
        case_ref=ref, rule="test", routed_at=now,
        recipients=[Recipient(partner_id="outage-partner", kind="ngo", role="primary", disclosure="pseudonymous",
                              reason="test")],
        case=CaseView(case_ref=ref, subject_ref="subj", submitted_by="ngo-np", text="test", language="en",
                      urgency=urgency, categories=[], indicators=[], summary="test", country_of_work="MY",
                      country_of_origin="NP", sector=None, employer=None, recruiter=None,
                      sla=Sla(deliver_by=now + timedelta(minutes=5), acknowledge_by=now + HOUR)))


def wait_quiet(worker: DeliveryWorker, conn, timeout: float = 10.0) -> None:
    """Until the worker has nothing in flight and started no attempt for a while: it has done all it would
    at the clock's time (due rows of a partner whose circuit is open wait for the cool-down)."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        worker.wake.set()
        time.sleep(0.08)
        with db.transaction(conn) as cur:
            cur.execute("SELECT count(*) FROM notifier.attempts a JOIN notifier.deliveries d ON d.id = a.delivery_id"
                        " WHERE d.recipient = 'outage-partner' AND a.finished_at IS NOT NULL")
            seen = (cur.fetchone()[0], worker.in_flight, len(worker._done))
        if seen == last and seen[1:] == (0, 0):
            return
        last = seen
    raise AssertionError("the worker did not settle")


def test_a_receiver_down_for_an_hour_of_simulated_time_gets_each_delivery_once(database_url, conn, receiver):
    clock = Clock(datetime.now(UTC))
    directory = Directory.model_validate({"partners": [
        {"id": "outage-partner", "name": "Partner with an outage", "kind": "ngo", "available_24_7": True,
         "webhook": {"url": f"http://127.0.0.1:{receiver.server_port}/hook", "secret": SECRET}}]})
    settings = Settings(database_url=database_url, delivery_concurrency=4, webhook_timeout_s=2.0)
    policy = retry.Policy(backoff={u: retry.Backoff(base_s=10, cap_s=900, horizon_s=7 * 86400)
                                   for u in ("critical", "high", "medium", "low")})
    cases = [case(Urgency.critical, clock()) for _ in range(3)] + [case(Urgency.low, clock()) for _ in range(3)]
    with db.transaction(conn) as cur:
        cur.execute("DELETE FROM notifier.deliveries WHERE recipient = 'outage-partner'")
        routed.create(cur, [routed.delivery_row(c, c.recipients[0], c.case.sla.deliver_by, 7 * 86400, directory)
                            for c in cases])
    stop = threading.Event()
    worker = DeliveryWorker(settings, lambda: directory, stop, policy=policy, clock=clock)
    worker.start()
    try:
        start = clock()
        while clock() - start < HOUR:
            wait_quiet(worker, conn)
            clock.advance(STEP)
        wait_quiet(worker, conn)
        refused_during_outage = receiver.refused
        with receiver.lock:
            receiver.down = False
        for _ in range(int(timedelta(minutes=30) / STEP)):  # at most one capped wait (15 min) and a cool-down
            clock.advance(STEP)
            wait_quiet(worker, conn)
            if sum(receiver.accepted.values()) == len(cases):
                break
    finally:
        stop.set()
        worker.join(10)
    with db.transaction(conn) as cur:
        cur.execute("SELECT status, attempts, urgency FROM notifier.deliveries WHERE recipient = 'outage-partner'")
        rows = cur.fetchall()
    attempts = [(urgency, n) for _, n, urgency in rows]
    print(f"\nsimulated outage of 1 h: {refused_during_outage} refused sends for {len(cases)} deliveries; "
          f"attempts per delivery {sorted(r[1] for r in rows)}; delivered "
          f"{(clock() - start - HOUR).total_seconds():.0f} s (simulated) after the receiver came back")
    assert len(rows) == len(cases) and {r[0] for r in rows} == {"delivered"}
    assert sorted(receiver.accepted.values()) == [1] * len(cases)  # exactly one success per webhook-id
    # Backoff and breaker: a handful of attempts over the hour, not one per step; once the partner's circuit
    # is open only a probe goes out per cool-down (≤ 300 s), and the probe is the most urgent delivery.
    by_urgency = {u: sorted(a for uu, a in attempts if uu == u) for u in ("critical", "low")}
    assert all(2 <= a <= 40 for _, a in attempts), attempts
    assert min(by_urgency["critical"]) >= max(by_urgency["low"]), by_urgency
    assert refused_during_outage <= len(cases) * 5 + HOUR.total_seconds() / 5 / 2
