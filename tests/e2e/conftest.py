"""The whole stack as `grievance dev` runs it: bundled broker, migrations, topics, each service its own
process, and the demo partner inbox as the real webhook receiver."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer

from services.common import db
from services.devtools.stack import REPO_ROOT, Stack
from tests.conftest import _server_url

PARTNER = "ngo-np"
KEY = "demo-key-ngo-np"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory, database_url):
    s = Stack(tmp_path_factory.mktemp("stack"), database_url=database_url, session_timeout_ms=3000,
              extra_env={"DELIVERY_BACKOFF_S": "0.5"})
    s.start_infrastructure()
    s.start_all()
    yield s
    s.close()


def stack_with_directory(work: Path, partners: list[dict], extra_env: dict[str, str]) -> Iterator[Stack]:
    """A started stack with a database of its own whose directory is exactly `partners`; for a fixture."""
    url = db.with_database(_server_url(), f"grievance_{work.name}_{uuid.uuid4().hex[:8]}")
    s = Stack(work, database_url=url, session_timeout_ms=3000, extra_env=extra_env)
    s.start_infrastructure()
    (work / "directory.yaml").write_text(json.dumps({"partners": partners}))
    subprocess.run([sys.executable, "-m", "services.cli", "directory", "load", "--file", str(work / "directory.yaml")],
                   env=s.env(), check=True, cwd=REPO_ROOT, capture_output=True)
    s.start_all()
    yield s
    s.close()
    db.drop_database(url)


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.1, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


def complaint(**overrides) -> dict:
    body = {"external_id": f"t-{uuid.uuid4().hex[:12]}", "language": "en", "country_of_work": "MY",
            "country_of_origin": "NP", "text": "My employer took my passport and has not paid me for 3 months.",
            "contact": {"name": "R. Tamang", "phone": "+977 980 000 0000"}, "consent": {"share_contact": True}}
    body.update(overrides)
    return body


def submit_http(stack: Stack, body: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.post(stack.url("intake") + "/v1/grievances", json=body, headers=headers or AUTH, timeout=10)


def status_by_external_id(stack: Stack, external_id: str) -> dict | None:
    r = httpx.get(stack.url("intake") + "/v1/grievances", params={"external_id": external_id}, headers=AUTH,
                  timeout=10)
    return r.json() if r.status_code == 200 else None


def wait_delivered(stack: Stack, external_id: str, timeout: float = 30.0) -> dict:
    return wait_for(lambda: (s := status_by_external_id(stack, external_id)) and s["status"] == "delivered" and s,
                    timeout, what=f"case {external_id} delivered")


def inbox(stack: Stack, case_ref: str) -> list[dict]:
    return httpx.get(stack.url("inbox") + "/inbox", params={"case_ref": case_ref}, timeout=10).json()["deliveries"]


def produce(stack: Stack, topic: str, value: bytes, key: bytes | None = None, headers=None) -> None:
    producer = KafkaProducer(bootstrap_servers=stack.kafka)
    producer.send(topic, key=key, value=value, headers=headers or []).get(timeout=10)
    producer.close()


def read_topic(stack: Stack, topic: str, match: Callable[[object], bool], timeout: float = 20.0):
    """The first record of a topic (from the beginning) that matches."""
    consumer = KafkaConsumer(topic, bootstrap_servers=stack.kafka, group_id=None, auto_offset_reset="earliest",
                             enable_auto_commit=False)
    try:
        def find():
            for recs in consumer.poll(timeout_ms=300).values():
                for r in recs:
                    if match(r):
                        return r
            return None
        return wait_for(find, timeout, interval=0, what=f"a matching record on {topic}")
    finally:
        consumer.close()


def as_json(record) -> dict:
    return json.loads(record.value)
