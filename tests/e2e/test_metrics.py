"""Prometheus metrics on every service, scraped over HTTP after real traffic: what was consumed, published
and delivered is counted, with the names services/common/metrics.py promises."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .conftest import complaint, submit_http, wait_delivered, wait_for


def scrape(stack, service: str) -> dict[tuple[str, tuple], float]:
    response = httpx.get(stack.url(service) + "/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items())


def test_every_service_counts_what_it_consumed_published_and_delivered(stack):
    before = {s: scrape(stack, s) for s in ("intake", "triage", "notifier")}
    body = complaint()
    submit_http(stack, body)
    delivered = len(wait_delivered(stack, body["external_id"])["deliveries"])

    def grown():
        after = {s: scrape(stack, s) for s in ("intake", "triage", "notifier")}
        ok = (total(after["triage"], "grievance_events_consumed_total", topic="grievance.received")
              > total(before["triage"], "grievance_events_consumed_total", topic="grievance.received")
              and total(after["notifier"], "grievance_deliveries_total", outcome="delivered")
              >= total(before["notifier"], "grievance_deliveries_total", outcome="delivered") + delivered
              and total(after["intake"], "grievance_events_published_total", topic="grievance.received")
              > total(before["intake"], "grievance_events_published_total", topic="grievance.received"))
        return after if ok else None

    after = wait_for(grown, 20, 0.5, what="counters grown by one case")
    assert total(after["triage"], "grievance_batch_processing_seconds_count", group="triage") >= 1
    assert total(after["notifier"], "grievance_delivery_seconds_count", channel="webhook") >= delivered
    assert ("grievance_outbox_backlog", (("service", "intake"),)) in after["intake"]
    assert total(after["intake"], "grievance_dead_letters_total") == total(before["intake"],
                                                                          "grievance_dead_letters_total")
