"""`grievance classify` and the running triage service decide every evaluation case the same way."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

from kafka import KafkaProducer

from schemas import topics
from services.common import db
from services.common.settings import REPO_ROOT
from services.triage.evaluation import load_examples

from .conftest import PARTNER, wait_for
from .partner_kafka import signed

FIELDS = ("urgency", "categories", "indicators", "language", "needs_review", "evidence", "ruleset")


def test_cli_and_service_agree_on_every_evaluation_case(stack, conn):
    examples = load_examples(REPO_ROOT / "tests" / "data" / "triage")
    run = uuid.uuid4().hex[:8]
    producer = KafkaProducer(bootstrap_servers=stack.kafka)
    for ex in examples:
        body = {"partner_id": PARTNER, "external_id": f"agree-{run}-{ex.id}", "text": ex.text}
        value = json.dumps(body).encode()
        producer.send(topics.SUBMISSIONS.name, key=PARTNER.encode(), value=value, headers=signed(value, PARTNER))
    producer.flush()
    producer.close()

    def triaged() -> dict | None:
        with db.transaction(conn) as cur:
            cur.execute("SELECT c.external_id, d.decision FROM intake.cases c JOIN triage.decisions d"
                        " USING (case_ref) WHERE c.external_id LIKE %s", (f"agree-{run}-%",))
            rows = cur.fetchall()
        return {ext.removeprefix(f"agree-{run}-"): decision for ext, decision in rows} \
            if len(rows) == len(examples) else None

    service = wait_for(triaged, 120, interval=0.5, what="every evaluation case triaged")
    lines = "".join(json.dumps({"id": ex.id, "text": ex.text}) + "\n" for ex in examples)
    cli = subprocess.run([sys.executable, "-m", "services.cli", "classify"], input=lines, capture_output=True,
                         text=True, check=True, env=stack.env())
    outputs = [json.loads(line) for line in cli.stdout.splitlines()]
    assert [o["id"] for o in outputs] == [ex.id for ex in examples]
    disagreements = [(o["id"], f) for o in outputs for f in FIELDS if o[f] != service[o["id"]][f]]
    assert disagreements == []
