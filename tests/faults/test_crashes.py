"""Processes killed, PostgreSQL restarted, the broker restarted, a loop that cannot go on: nothing lost,
nothing delivered twice, readiness truthful while it lasts, every loop running after."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from kafka import KafkaAdminClient

from schemas import topics

from .conftest import (
    AUTH,
    alerts,
    all_ready,
    complaint,
    kill9,
    produce,
    readiness,
    restart,
    restart_broker,
    restart_postgres,
    submission_record,
    submit_until_accepted,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


class Flow(threading.Thread):
    """A partner submitting steadily over HTTP (resubmitting until accepted, as partners do) and on Kafka."""

    def __init__(self, stack, count: int, per_s: float):
        super().__init__(daemon=True)
        self.stack, self.count, self.per_s = stack, count, per_s
        self.http_refs: list[str] = []
        self.kafka_ids: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for i in range(self.count):
                body = complaint()
                if i % 3 == 2:
                    body["partner_id"] = "ngo-np"
                    record = submission_record(body, f"flow-{body['external_id']}")
                    produce(self.stack, topics.SUBMISSIONS.name, [record])
                    self.kafka_ids.append(body["external_id"])
                else:
                    self.http_refs.append(submit_until_accepted(self.stack, body))
                time.sleep(1 / self.per_s)
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def case_refs(self, conn) -> set[str]:
        with conn.cursor() as cur:
            cur.execute("SELECT case_ref FROM intake.cases WHERE partner_id = 'ngo-np' AND external_id = ANY(%s)",
                        (self.kafka_ids,))
            found = {r[0] for r in cur.fetchall()}
        assert len(found) == len(self.kafka_ids), f"{len(self.kafka_ids) - len(found)} Kafka submissions not filed"
        return found | set(self.http_refs)


def finish(flow: Flow, conn, invariants, timeout: float = 120) -> None:
    flow.join(timeout)
    assert not flow.is_alive() and flow.error is None, flow.error
    wait_for(lambda: _filed(flow, conn), 60, 1.0, what="every Kafka submission filed")
    invariants.case_refs |= flow.case_refs(conn)


def _filed(flow: Flow, conn) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM intake.cases WHERE partner_id = 'ngo-np' AND external_id = ANY(%s)",
                    (flow.kafka_ids,))
        return cur.fetchone()[0] == len(flow.kafka_ids)


def test_kill_9_of_each_service_mid_flow_several_times(fstack, fconn, invariants):
    flow = Flow(fstack, count=60, per_s=6)
    flow.start()
    for _round in range(2):
        for name in ("triage", "notifier", "intake"):
            time.sleep(1.0)
            kill9(fstack, name)
            time.sleep(0.5)
            restart(fstack, name)
    finish(flow, fconn, invariants)
    print("kill -9 of each service twice:", invariants.check())


def test_postgres_restarted_mid_flow(fstack, fconn, invariants):
    flow = Flow(fstack, count=30, per_s=5)
    flow.start()
    time.sleep(2)
    observed: dict[str, object] = {}

    def watch_outage():
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and "api" not in observed:
            try:
                r = httpx.post(fstack.url("intake") + "/v1/grievances", json=complaint(), headers=AUTH, timeout=10)
            except httpx.HTTPError:
                continue
            if r.status_code >= 500:
                observed["api"] = (r.status_code, r.headers.get("retry-after"))
            time.sleep(0.2)
        observed["ready"] = {name: readiness(fstack, name)[0] for name in ("intake", "triage", "notifier")}

    watcher = threading.Thread(target=watch_outage)
    fconn.close()
    outage_started = time.monotonic()
    threading.Timer(0.5, watcher.start).start()
    restart_postgres(fstack, down_s=6)
    watcher.join(30)
    back = time.monotonic()
    wait_for(lambda: all_ready(fstack), 90, 0.5, what="every service ready after PostgreSQL came back")
    recovery_s = time.monotonic() - back
    # While PostgreSQL was down, readiness said so, and the partner API answered 503 with Retry-After.
    assert all(code == 503 for code in observed["ready"].values()), observed
    assert observed.get("api", (503, "1"))[0] == 503 and observed["api"][1], observed
    from services.common import db

    conn = db.connect(fstack.database_url)
    conn.autocommit = True
    invariants.conn = conn
    try:
        finish(flow, conn, invariants)
        print(f"PostgreSQL down {back - outage_started:.1f}s, ready again after {recovery_s:.1f}s:",
              invariants.check())
    finally:
        conn.close()


def test_broker_restarted_mid_flow(fstack, fconn, invariants):
    """The bundled broker keeps topics in memory: a restart loses every topic, record and offset. The
    services recreate the topics with our partition counts, publish their retained events again, and
    every consumer resumes on every partition; partners' unconsumed Kafka submissions are reported."""
    before = {a.get("message") for a in alerts(fstack) if a["kind"] == "broker_state_lost"}
    # Kafka submissions the broker loses before intake reads them cannot be re-driven by us: these are
    # submitted over HTTP, and the alert tells operators to ask partners for what went unanswered.
    # Cases the broker holds and nobody has consumed yet when it dies: only our outboxes can re-drive them.
    fstack.stop("triage")
    fstack.stop("notifier")
    first = [submit_until_accepted(fstack, complaint()) for _ in range(5)]
    time.sleep(1.5)  # intake's relay has published them
    restart_broker(fstack, down_s=1.0)
    for name in ("triage", "notifier"):
        fstack.start(name)
        fstack.wait_ready(name, timeout=90)
    after = [submit_until_accepted(fstack, complaint()) for _ in range(30)]
    started = time.monotonic()
    invariants.case_refs |= set(first) | set(after)

    admin = KafkaAdminClient(bootstrap_servers=fstack.kafka)
    try:
        def recreated():
            described = admin.describe_topics([t.name for t in topics.ALL])
            return all(t["error_code"] == 0 and len(t["partitions"]) == 3 for t in described) and described
        wait_for(recreated, 60, 0.5, what="topics recreated with the declared 3 partitions")
    finally:
        admin.close()
    result = invariants.check(timeout=180)
    raised = [a for a in alerts(fstack) if a["kind"] == "broker_state_lost" and a.get("message") not in before]
    assert {a["service"] for a in raised} == {"intake", "triage", "notifier"}, raised
    print(f"broker restart: {result}, all delivered {time.monotonic() - started:.1f}s after the last submission,"
          f" alerts from {sorted({a['service'] for a in raised})}")


def test_a_loop_that_cannot_go_on_exits_non_zero_and_readiness_says_so(fstack, fconn, invariants):
    """triage's table renamed away (an operator's mistake): every record would fail alike, so none is
    dead-lettered; readiness turns 503 naming the loop, the process exits 1, and once the table is back
    a restart (the supervisor's) delivers the case."""
    with fconn.cursor() as cur:
        cur.execute("ALTER TABLE triage.decisions RENAME TO decisions_gone")
    try:
        ref = submit_until_accepted(fstack, complaint())

        def retrying():
            code, body = readiness(fstack, "triage")
            return code == 503 and body.get("loops", {}).get("triage-consumer", {}).get("state") == "retrying" and body
        seen = wait_for(retrying, 60, 0.2, what="triage readiness to report its loop retrying")
        assert "decisions" in seen["loops"]["triage-consumer"]["last_error"]
        proc = fstack.procs["triage"]
        first_failure = time.monotonic() - seen["loops"]["triage-consumer"]["seconds_since_ok"]
        wait_for(lambda: proc.poll() is not None, 90, 0.2, what="triage to give up and exit")
        gave_up_s = time.monotonic() - first_failure
        assert proc.returncode == 1
        with fconn.cursor() as cur:  # the case's received event is keyed by its case ref
            cur.execute("SELECT count(*) FROM triage.dead_letters WHERE key = %s", (ref.encode(),))
            assert cur.fetchone()[0] == 0
    finally:
        with fconn.cursor() as cur:
            cur.execute("ALTER TABLE IF EXISTS triage.decisions_gone RENAME TO decisions")
    restart(fstack, "triage")
    invariants.case_refs.add(ref)
    print(f"hopeless loop: exited {gave_up_s:.1f}s after its first failure;", invariants.check())


def test_100_concurrent_copies_of_one_submission(fstack, fconn, invariants):
    from concurrent.futures import ThreadPoolExecutor

    body = complaint()
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: httpx.post(fstack.url("intake") + "/v1/grievances", json=body,
                                                     headers=AUTH, timeout=30), range(100)))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(202) == 1 and codes.count(200) == 99, codes
    assert len({r.json()["case_ref"] for r in answers}) == 1

    # On Kafka: 100 copies with one event id, 100 byte-identical copies without one, and a second
    # partner reusing the first partner's event id (its submission must not vanish).
    k_body = complaint(partner_id="ngo-np")
    plain = complaint(partner_id="ngo-np")
    other = complaint(partner_id="ngo-my", external_id=k_body["external_id"])
    ce_id = f"copies-{k_body['external_id']}"
    produce(fstack, topics.SUBMISSIONS.name, [submission_record(k_body, ce_id)] * 100
            + [submission_record(plain)] * 100 + [submission_record(other, ce_id)])

    def filed():
        with fconn.cursor() as cur:
            cur.execute("SELECT partner_id, external_id, case_ref FROM intake.cases WHERE external_id = ANY(%s)",
                        ([k_body["external_id"], plain["external_id"]],))
            rows = cur.fetchall()
        return len(rows) == 3 and rows
    rows = wait_for(filed, 60, 0.5, what="three cases filed from 201 Kafka records")
    assert sorted((p, e) for p, e, _ in rows) == sorted([("ngo-np", k_body["external_id"]),
                                                         ("ngo-np", plain["external_id"]),
                                                         ("ngo-my", k_body["external_id"])])
    time.sleep(2)  # any late copy would have made a second case by now
    assert len(filed()) == 3
    invariants.case_refs |= {answers[0].json()["case_ref"]} | {r for _, _, r in rows}
    print("100 concurrent copies:", invariants.check())


def test_partner_endpoint_down_for_several_retry_periods(fstack, fconn, invariants):
    """Retries span the outage (backoff 0.5 s doubling, 6 attempts ≈ 8–16 s); a longer outage gives up
    with an operator alert naming the case, never silently."""
    fstack.stop("inbox")
    short = [submit_until_accepted(fstack, complaint()) for _ in range(5)]
    time.sleep(4)  # 0.5 + 1 + 2: three retry periods with nobody answering
    fstack.start("inbox")
    fstack.wait_ready("inbox")
    invariants.case_refs |= set(short)
    print("endpoint down 4 s:", invariants.check())

    fstack.stop("inbox")
    try:
        long = submit_until_accepted(fstack, complaint())

        def given_up():
            return any(a["kind"] == "delivery_failed" and a["case_ref"] == long for a in alerts(fstack))
        wait_for(given_up, 90, 2.0, what="a delivery_failed alert for a partner that never came back")
        status = httpx.get(fstack.url("intake") + f"/v1/grievances/{long}", headers=AUTH, timeout=10).json()
        assert status["status"] == "delivery_failed"
    finally:
        fstack.start("inbox")
        fstack.wait_ready("inbox")
    invariants.case_refs.add(long)
    print("endpoint down past the retry horizon:", invariants.check())
