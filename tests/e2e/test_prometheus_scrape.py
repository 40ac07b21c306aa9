"""Debian's Prometheus scrapes the running stack with the compose profile's scrape job (its targets swapped for
the local services) and answers the Grafana dashboard's queries."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from services.devtools.stack import DASHBOARD, SERVICES, die_with_parent, free_port, wait_for_port

from .conftest import complaint, submit_http, wait_for

ROOT = Path(__file__).resolve().parents[2]

# CI installs it (.ci/run): there a missing binary fails the suite instead of skipping it.
pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None and not os.environ.get("CI"),
                                reason="the prometheus binary is not installed (Debian package prometheus; .ci/run)")


def served(stack) -> tuple[str, ...]:
    """The services this stack runs (the session stack leaves the dashboard out): each serves /metrics."""
    return (*SERVICES, *([DASHBOARD] if stack.dashboard else []))


@pytest.fixture
def prometheus(stack, tmp_path):
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [stack.url(name).removeprefix("http://") for name in served(stack)]}]
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with (tmp_path / "prometheus.log").open("w") as log:
        proc = subprocess.Popen(
            ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent(signal.SIGTERM))
    try:
        wait_for_port(port, timeout=30, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def query(base: str, expr: str) -> list[dict]:
    response = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (expr, body)
    return body["data"]["result"]


def test_prometheus_scrapes_every_service_and_sees_the_events_consumed(stack, prometheus):
    submit_http(stack, complaint())

    seen: list[dict] = []

    def all_up():
        seen[:] = httpx.get(f"{prometheus}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        return len(seen) == len(served(stack)) and all(t["health"] == "up" for t in seen) and seen

    try:
        targets = wait_for(all_up, 30, 0.5, what="every service scraped and up")
    except AssertionError as e:
        raise AssertionError([(t["scrapeUrl"], t["health"], t["lastError"]) for t in seen]) from e
    assert {t["labels"]["instance"] for t in targets} == {stack.url(s).removeprefix("http://") for s in served(stack)}

    def consumed():
        result = query(prometheus, 'grievance_events_consumed_total{topic="grievance.received"}')
        return [r for r in result if float(r["value"][1]) >= 1]

    result = wait_for(consumed, 30, 0.5, what="grievance_events_consumed_total scraped")
    assert "triage" in {r["metric"]["service"] for r in result}


def test_prometheus_answers_every_dashboard_query(stack, prometheus):
    """What Grafana sends is valid PromQL for a real Prometheus ($__rate_interval is Grafana's to fill)."""
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/grievance-pipeline.json").read_text())
    # Each target is scraped on its own schedule: wait until every service has been scraped once.
    wait_for(lambda: len(query(prometheus, "up == 1")) == len(served(stack)), 30, 0.5, what="every service scraped")
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            query(prometheus, target["expr"].replace("$__rate_interval", "1m"))
    def backlog_services():
        return {r["metric"]["service"] for r in query(prometheus, "max by (service) (grievance_outbox_backlog)")}

    wait_for(lambda: backlog_services() == set(served(stack)), 30, 0.5, what="every service's outbox backlog scraped")
    assert backlog_services() == set(served(stack))
