"""Prometheus metrics every service exports on GET /metrics (prometheus-client's default registry, one per
process). Names are the contract with deploy/ dashboards and alert rules: change them there too.

Counters are counted where the work is done (the consumer loop, the outbox relay, the delivery worker);
the outbox backlog, which needs the database, is read when scraped (one small query)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("grievance_events_consumed_total", "Records taken from the broker and processed",
                   ["service", "group", "topic"])
DUPLICATES = Counter("grievance_events_duplicate_total", "Records dropped as already processed by the group",
                     ["service", "group", "topic"])
DEAD_LETTERS = Counter("grievance_dead_letters_total", "Records set aside to <group>.dlq",
                       ["service", "group", "topic", "error"])
PUBLISHED = Counter("grievance_events_published_total", "Events the outbox relay published",
                    ["service", "topic"])
BATCH_SECONDS = Histogram("grievance_batch_processing_seconds",
                          "Time to process one polled batch (one transaction and offset commit)",
                          ["service", "group"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
DELIVERIES = Counter("grievance_deliveries_total", "Delivery attempts by outcome",
                     ["channel", "outcome"])  # outcome: delivered, failed, dead_lettered, deferred
DELIVERY_SECONDS = Histogram("grievance_delivery_seconds", "Time of one send to a partner (webhook or e-mail)",
                             ["channel"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
OUTBOX_BACKLOG = Gauge("grievance_outbox_backlog", "Outbox rows committed but not yet published (read at scrape)",
                       ["service"])
CONSUMER_LAG = Gauge("grievance_consumer_lag", "Records on a topic a consumer group has not committed yet, read"
                     " from the broker (committed offsets against partition ends) by the dashboard's lag reader",
                     ["group", "topic"])
SIGN_INS = Counter("grievance_dashboard_sign_ins_total", "Sign-ins to the operators' dashboard by outcome",
                   ["outcome"])  # outcome: signed_in, failed, throttled (refused by the sign-in limit)
