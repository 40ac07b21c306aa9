"""`grievance what-if` on a replayed capture: a fresh pipeline rebuilt from captured events, then a
candidate directory and rules compared with what was decided."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import yaml

from services.common import db
from services.common.directory import load_yaml
from services.common.settings import REPO_ROOT
from services.devtools.stack import Stack

from .conftest import complaint, submit_http, wait_delivered, wait_for


def grievance(env: dict, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=True).stdout


def test_what_if_on_a_replayed_capture(stack, tmp_path, database_url):
    since = datetime.now(UTC).isoformat()  # this test's cases only: other tests leave other records there
    for text in ("The company has not paid our salary for 3 months.", "My boss hit me and locked me inside.",
                 "How can I check if my recruitment agency is licensed?"):
        body = complaint(text=text)
        submit_http(stack, body)
        wait_delivered(stack, body["external_id"])
    capture = tmp_path / "received.jsonl"
    grievance(stack.env(), "capture", "grievance.received", "-o", str(capture), "--idle-ms", "1500", "--since", since)
    # Distinct cases: a record published twice (an outbox relay retry) is one case.
    captured = len({json.loads(json.loads(line)["value"])["case_ref"] for line in capture.read_text().splitlines()})
    assert captured == 3

    # The replica trusts the keys that signed the captured events, as a staging copy of production would.
    replica = Stack(tmp_path / "replica", database_url=db.with_database(database_url, f"whatif_{uuid.uuid4().hex[:8]}"),
                    event_keys=stack.event_keys)
    try:
        replica.start_infrastructure()
        replica.start("triage")
        replica.wait_ready("triage")
        grievance(replica.env(), "replay", str(capture), "--no-progress")
        conn = db.connect(replica.database_url)

        def decided() -> bool:
            with db.transaction(conn) as cur:
                cur.execute("SELECT count(*) FROM triage.decisions")
                return cur.fetchone()[0] == captured
        try:
            wait_for(decided, 60, what="the replica to triage every replayed case")
        finally:
            with db.transaction(conn) as cur:
                cur.execute("SELECT count(*) FROM triage.decisions")
                print("decided", cur.fetchone()[0], "of", captured, "lines", len(capture.read_text().splitlines()))
        conn.close()

        same = json.loads(grievance(replica.env(), "what-if", "--json"))
        assert same["cases"] == captured and same["changed"] == 0

        directory = load_yaml(REPO_ROOT / "config" / "partners.yaml")
        directory["partners"] = [p for p in directory["partners"] if p["id"] != "ngo-my"]
        candidate_dir = tmp_path / "partners.yaml"
        candidate_dir.write_text(yaml.safe_dump(directory))
        rules = yaml.safe_load((REPO_ROOT / "config" / "routing.yaml").read_text())
        rules["rules"] = [r for r in rules["rules"] if r["name"] != "information-and-feedback"]
        candidate_rules = tmp_path / "routing.yaml"
        candidate_rules.write_text(yaml.safe_dump(rules))

        report = json.loads(grievance(replica.env(), "what-if", "--directory", str(candidate_dir),
                                      "--rules", str(candidate_rules), "--json"))
        assert report["changed"] > 0 and report["recipients_removed"] > 0
        assert all("ngo-my" not in c["added"] for c in report["changes"])
        assert any("ngo-my" in c["removed"] for c in report["changes"])
        assert any(c["rule_after"] == "fallback" for c in report["changes"])
        assert report["urgency_up"] == report["urgency_down"] == 0
        table = grievance(replica.env(), "what-if", "--directory", str(candidate_dir), "--rules", str(candidate_rules))
        assert f"{captured} cases re-run, {report['changed']} would change" in table
        assert "-ngo-my" in table
    finally:
        replica.close()
        db.drop_database(replica.database_url)
