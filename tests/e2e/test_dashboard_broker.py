"""The dashboard against the real broker. Consumer lag: while triage is stopped, its lag on grievance.received is
exactly the cases submitted meanwhile, on /metrics and on the Flow page; once triage is back it falls to 0; a
group behind on a batch of several records shows the whole batch (the bundled broker's ListOffsets alone says
less). Rebuild: with the dashboard stopped, `grievance dashboard rebuild` empties the read model and deletes its
consumer groups, and the next start projects every case again from the topics."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import httpx
import psycopg2
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from prometheus_client.parser import text_string_to_metric_families

from services.devtools.stack import REPO_ROOT, Stack
from tests.conftest import own_stack

from .conftest import complaint, submit_http, wait_for

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def lstack(tmp_path_factory):
    yield from own_stack(tmp_path_factory.mktemp("lag"), "lag", dashboard=True)


def lag_gauge(stack: Stack) -> dict[tuple[str, str], float]:
    text = httpx.get(stack.url("dashboard") + "/metrics", timeout=10).text
    return {(s.labels["group"], s.labels["topic"]): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == "grievance_consumer_lag"}


def flow_lag(stack: Stack) -> dict[tuple[str, str], int]:
    """The lag table of the Flow page, as a signed-in viewer sees it."""
    with httpx.Client(base_url=stack.url("dashboard"), timeout=10) as client:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
        assert client.post("/login", data={"csrf": token, "user": "demo-viewer",
                                           "password": "demo-viewer-password"}).status_code == 303
        html = client.get("/flow").text
    rows = re.findall(r'<tr data-group="([^"]+)" data-topic="([^"]+)">.*?data-lag="(\d+)"', html)
    return {(g, t): int(n) for g, t, n in rows}


def test_a_stopped_groups_lag_is_what_it_has_not_read_and_falls_to_zero_when_it_catches_up(lstack):
    triage = ("triage", "grievance.received")
    submit_http(lstack, complaint())
    wait_for(lambda: lag_gauge(lstack).get(triage) == 0, 60, 0.5, what="triage's lag read as 0")
    lstack.stop("triage")
    n = 12
    for _ in range(n):
        assert submit_http(lstack, complaint()).status_code == 202
    wait_for(lambda: lag_gauge(lstack).get(triage) == n, 60, 0.5, what=f"triage's lag read as {n}")
    assert wait_for(lambda: flow_lag(lstack).get(triage) == n, 20, 0.5, what="the Flow page showing the lag")
    lstack.start("triage")
    lstack.wait_ready("triage")
    wait_for(lambda: lag_gauge(lstack).get(triage) == 0, 60, 0.5, what="triage's lag back to 0")
    shown = wait_for(lambda: (rows := flow_lag(lstack)).get(triage) == 0 and rows, 20, 0.5,
                     what="the Flow page showing no lag")
    assert {"notifier", "dashboard"} <= {g for g, _ in shown}  # every pipeline group that has committed


def test_a_group_behind_a_batch_of_records_shows_the_whole_batch(lstack):
    topic, group = f"lag-check-{uuid.uuid4().hex[:6]}", f"lag-check-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=lstack.kafka)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=lstack.kafka, linger_ms=200)
    for i in range(10):  # one batch of 10 records
        producer.send(topic, value=b"%d" % i)
    producer.flush()
    consumer = KafkaConsumer(topic, bootstrap_servers=lstack.kafka, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", session_timeout_ms=3000, heartbeat_interval_ms=750)
    try:
        wait_for(lambda: consumer.poll(timeout_ms=300, max_records=3), 30, 0, what="the first records")
        consumer.commit()  # committed 3 of 10 (max_records=3 on one poll)
        committed = consumer.committed(next(iter(consumer.assignment())))
    finally:
        consumer.close()
    for i in range(10, 15):  # and a second batch of 5
        producer.send(topic, value=b"%d" % i)
    producer.close()
    wait_for(lambda: lag_gauge(lstack).get((group, topic)) == 15 - committed, 30, 0.5,
             what=f"the group's lag read as {15 - committed}")


def test_a_rebuild_projects_every_case_again_from_the_topics(lstack):
    refs = [submit_http(lstack, complaint(employer="Sunrise Garments Sdn Bhd")).json()["case_ref"] for _ in range(3)]

    def projected() -> dict[str, tuple]:
        with psycopg2.connect(lstack.database_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT case_ref, urgency, employer_key FROM dashboard.cases WHERE case_ref = ANY(%s)",
                        (refs,))
            return {r[0]: r[1:] for r in cur.fetchall()}
    before = wait_for(lambda: (found := projected()) and len(found) == 3 and all(v[0] for v in found.values())
                      and found, 60, 0.5, what="the cases triaged in the read model")
    lstack.stop("dashboard")
    result = subprocess.run([sys.executable, "-m", "services.cli", "dashboard", "rebuild"], env=lstack.env(),
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert projected() == {}
    lstack.start("dashboard")
    lstack.wait_ready("dashboard")
    after = wait_for(lambda: (found := projected()) == before and found, 60, 0.5, what="the cases projected again")
    assert {v[1] for v in after.values()} == {"sunrisegarments"}
