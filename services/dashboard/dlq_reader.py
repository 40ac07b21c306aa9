"""Reads the pipeline's dead-letter topics (`<group>.dlq`) into dashboard.dlq_records.

Not a runtime consumer loop: a dead letter keeps the event id of the record it holds (the same id as on its
original topic), and may be malformed on purpose (a NUL in its id, headers that are not text), so the
runtime would drop it as a repeat or set it aside once more. Here every record is kept as it is, keyed by
where it came from; nothing about it can fail the loop (text is bounded and cleaned, bytes stored as bytes).
"""

from __future__ import annotations

import contextlib
import re
import threading
from datetime import UTC, datetime

from kafka.structs import OffsetAndMetadata, TopicPartition
from psycopg2.extras import Json

from schemas import topics
from schemas.envelope import Headers, header
from services.common import db
from services.common import logging as log
from services.common.errors import is_transient, safe_text
from services.common.health import LoopHealth
from services.common.kafka import consumer as make_consumer
from services.common.outbox import headers_to_json
from services.common.settings import Settings

GROUP = "dashboard-dlq"
DLT = "kafka_dlt-"
_CASE_REF = re.compile(r"GRV-[0-9A-Z]{12}")


def dlq_topics() -> list[str]:
    return [topics.dlq(g) for g in (*topics.CONSUMER_GROUPS, "dashboard")]


def _text(headers: Headers, name: str, limit: int = 2000) -> str | None:
    try:
        value = header(headers, name)
    except UnicodeDecodeError:
        return None
    return None if value is None else safe_text(value, limit)


def _int(text: str | None) -> int | None:
    return int(text) if text and text.lstrip("-").isdigit() and len(text) < 19 else None


def row(dlq_topic: str, partition: int, offset: int, timestamp_ms: int, key: bytes | None, value: bytes | None,
        headers: Headers) -> dict:
    """The dlq_records row of one dead-letter record (pure)."""
    key_text = (key or b"").decode("utf-8", "replace")
    return {
        "dlq_topic": dlq_topic, "kafka_partition": partition, "kafka_offset": offset,
        "original_topic": _text(headers, DLT + "original-topic", 300),
        "original_partition": _int(_text(headers, DLT + "original-partition", 30)),
        "original_offset": _int(_text(headers, DLT + "original-offset", 30)),
        "consumer_group": _text(headers, DLT + "original-consumer-group", 300),
        "case_ref": key_text if _CASE_REF.fullmatch(key_text) else None,
        "event_id": _text(headers, "ce_id", 300) or "",
        "error_class": _text(headers, DLT + "exception-fqcn", 300),
        "error_message": _text(headers, DLT + "exception-message", 2000),
        "key": key, "value": value, "headers": Json(headers_to_json(headers)),
        "set_aside_at": datetime.fromtimestamp(max(timestamp_ms, 0) / 1000, UTC),
    }


def store(cur: db.Cursor, rows: list[dict]) -> None:
    for r in rows:
        cols = sorted(r)
        cur.execute(f"INSERT INTO dashboard.dlq_records ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"  # noqa: S608 - columns from code
                    " ON CONFLICT DO NOTHING", [r[c] for c in cols])


class DlqReader(threading.Thread):
    def __init__(self, settings: Settings, stop: threading.Event):
        super().__init__(name="dlq-reader", daemon=True)
        self.settings, self.stop = settings, stop
        self.health = LoopHealth(self.name)
        self.processed = 0
        self.on_fatal = lambda reason: None
        self.logger = log.get().bind(component="dlq-reader", group=GROUP)

    def run(self) -> None:
        conn = consumer = None
        while not self.stop.is_set():
            try:
                conn = conn or db.connect(self.settings.database_url, retries=1)
                consumer = consumer or make_consumer(self.settings, GROUP, dlq_topics())
                batch = consumer.poll(timeout_ms=300)
                if batch:
                    with db.transaction(conn) as cur:
                        store(cur, [row(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value,
                                        [(k, v) for k, v in r.headers or ()]) for recs in batch.values() for r in recs])
                    consumer.commit({TopicPartition(tp.topic, tp.partition):
                                     OffsetAndMetadata(recs[-1].offset + 1, "", -1) for tp, recs in batch.items()})
                    self.processed += sum(len(recs) for recs in batch.values())
                self.health.polled(bool(consumer.assignment()), progressed=bool(batch))
            except Exception as exc:
                self.health.failed(exc, is_transient(exc))
                self.logger.warning("dlq_reader_retry", error=safe_text(repr(exc), 500))
                for closable in (consumer, conn):
                    try:
                        if closable is not None:
                            closable.close(autocommit=False) if closable is consumer else closable.close()
                    except Exception:  # noqa: S110 - closing what already failed; the loop reconnects
                        pass
                conn = consumer = None
                if self.health.hopeless(self.settings.loop_max_failures):
                    self.on_fatal(f"{self.name}: {type(exc).__name__}: {safe_text(exc, 300)}")
                    break
                self.stop.wait(self.health.backoff_s())
        for closable in (consumer, conn):
            if closable is not None:
                with contextlib.suppress(Exception):  # shutting down
                    closable.close()
        self.health.stopped()
