"""`grievance bench`: end-to-end throughput and latency of the pipeline, next to a raw Kafka hop.

Everything runs in one go on one broker: a raw consume→produce hop with no processing (same client
settings as the services), then N submissions on the partners' topic through intake → triage →
notifier → signed webhooks to the demo inbox, then the HTTP intake on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from kafka.structs import OffsetAndMetadata

from schemas import topics
from services.common import db, directory, signing
from services.common.kafka import consumer as make_consumer
from services.common.kafka import producer as make_producer
from services.devtools.stack import Stack

TEXTS = [
    "My employer took my passport and has not paid me for 3 months.",
    "The agent charged me a recruitment fee of 4000 dollars and the contract changed when I arrived.",
    "We work 14 hours a day with no day off, the dormitory is overcrowded.",
    "My supervisor beat me and locked me in the room. Please help.",
    "How can I renew my work permit? Thank you for your help last month.",
]


def raw_hop(stack: Stack, n: int) -> float:
    """msgs/s of consume → produce → commit with no processing, batch by batch like the services."""
    settings = stack.settings()
    src, dst = f"bench.raw.in.{uuid.uuid4().hex[:6]}", f"bench.raw.out.{uuid.uuid4().hex[:6]}"
    producer = make_producer(settings)
    value = b"x" * 250
    for i in range(n):
        producer.send(src, key=str(i % 64).encode(), value=value)
    producer.flush()
    consumer = make_consumer(settings, f"bench-raw-{uuid.uuid4().hex[:6]}", [src])
    done, started = 0, None
    while done < n:
        batch = consumer.poll(timeout_ms=500)
        if not batch:
            continue
        started = started or time.perf_counter()
        for recs in batch.values():
            for r in recs:
                producer.send(dst, key=r.key, value=r.value, headers=r.headers)
            done += len(recs)
        producer.flush()
        consumer.commit({tp: OffsetAndMetadata(recs[-1].offset + 1, "", -1) for tp, recs in batch.items()})
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    producer.close()
    return n / elapsed if elapsed else float("inf")


def end_to_end(stack: Stack, n: int) -> tuple[float, list[float]]:
    """cases/s from the first submission to the last case's first webhook, and per-case latencies (ms)."""
    inbox = stack.url("inbox")
    baseline = httpx.get(inbox + "/inbox/stats", timeout=30).json()["cases"]  # earlier runs' cases (warm-up)
    settings = stack.settings()
    producer = make_producer(settings)
    secret = directory.load(settings.config_dir).get("ngo-np").webhook.secret  # as the stack loaded it
    run = uuid.uuid4().hex[:8]
    sent_at: dict[str, float] = {}
    start = time.time()
    for i in range(n):
        ext = f"bench-{run}-{i}"
        body = {"partner_id": "ngo-np", "external_id": ext, "text": TEXTS[i % len(TEXTS)],
                "country_of_work": ("MY", "TH", "QA")[i % 3], "country_of_origin": "NP", "language": "en"}
        value = json.dumps(body).encode()
        sent_at[ext] = time.time()
        # As a partner does: each record signed with its secret, or intake refuses it.
        producer.send(topics.SUBMISSIONS.name, key=b"ngo-np", value=value,
                      headers=signing.submission_headers(secret, "ngo-np", ext, value))
    producer.flush()
    producer.close()
    while True:
        stats = httpx.get(inbox + "/inbox/stats", timeout=30).json()
        if stats["cases"] >= n + baseline:
            break
        time.sleep(0.2)
    deliveries = httpx.get(inbox + "/inbox", timeout=120).json()["deliveries"]
    first_webhook: dict[str, float] = {}
    for d in deliveries:
        ref = d["body"]["case_ref"]
        first_webhook[ref] = min(first_webhook.get(ref, d["received_at"]), d["received_at"])
    conn = db.connect(stack.database_url or "")
    with db.transaction(conn) as cur:
        cur.execute("SELECT case_ref, external_id FROM intake.cases WHERE external_id LIKE %s", (f"bench-{run}-%",))
        refs = dict(cur.fetchall())
    conn.close()
    latencies = [(first_webhook[ref] - sent_at[ext]) * 1000 for ref, ext in refs.items() if ref in first_webhook]
    end = max(first_webhook[ref] for ref in refs)
    return n / (end - start), latencies


def http_intake(stack: Stack, n: int, concurrency: int = 8) -> float:
    url = stack.url("intake") + "/v1/grievances"
    run = uuid.uuid4().hex[:8]
    local = threading.local()

    def post(i: int) -> int:
        client = getattr(local, "client", None) or httpx.Client(headers={"Authorization": "Bearer demo-key-ngo-np"})
        local.client = client
        return client.post(url, json={"external_id": f"http-{run}-{i}", "text": TEXTS[i % len(TEXTS)],
                                      "country_of_work": "MY"}).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        codes = list(pool.map(post, range(n)))
    elapsed = time.perf_counter() - started
    if any(c != 202 for c in codes):
        raise RuntimeError(f"HTTP intake answered {sorted(set(codes))}")
    return n / elapsed


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def run(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="grievance-bench-"))
    server = os.environ.get("DATABASE_URL")
    database_url = db.with_database(server, f"grievance_bench_{uuid.uuid4().hex[:8]}") if server else None
    stack = Stack(workdir, database_url=database_url)
    try:
        stack.start_infrastructure()
        stack.start_all()
        print(f"machine: {os.cpu_count()} cores; broker {stack.kafka}; cases {args.cases}", flush=True)
        end_to_end(stack, min(50, args.cases))  # warm-up: group joins, connection pools
        raw = raw_hop(stack, max(args.cases, 10_000))
        print(f"raw consume→produce hop: {raw:,.0f} msgs/s", flush=True)
        e2e, latencies = end_to_end(stack, args.cases)
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        print(f"end to end (Kafka submission → signed webhook): {e2e:,.0f} cases/s; "
              f"latency p50 {p50:,.0f} ms, p99 {p99:,.0f} ms", flush=True)
        rps = http_intake(stack, args.http_requests)
        print(f"HTTP intake: {rps:,.0f} requests/s ({args.http_requests} requests, 8 clients)", flush=True)
        print(f"ratio end-to-end / raw hop: {e2e / raw:.3f}", flush=True)
        print(json.dumps({"e2e_cases_per_s": round(e2e, 1), "raw_hop_msgs_per_s": round(raw, 1),
                          "ratio": round(e2e / raw, 4), "p50_ms": round(p50, 1), "p99_ms": round(p99, 1),
                          "http_requests_per_s": round(rps, 1), "cases": args.cases}))
        return 0
    finally:
        stack.close()
        if database_url:
            db.drop_database(database_url)
