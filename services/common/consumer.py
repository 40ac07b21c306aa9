"""The consumer loop every service shares.

poll a batch → one PostgreSQL transaction (processed-event ids + the handler's business rows + outbox
rows, dead letters included) → commit the database → commit the offsets. Offsets are never committed
automatically, so a crash before the offset commit replays the batch, and the processed-event ids make
the replay a no-op: at-least-once delivery with idempotent handling.

A record the handler cannot parse or validate goes to `<group>.dlq` with the original key, value and
headers, plus headers naming where it came from and why it failed (Spring Kafka's `kafka_dlt-*` names,
values as text); the loop moves on. Database or broker outages are not the record's fault: the batch is
rolled back, the consumer seeks back, and the loop retries after a pause.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from psycopg2.extras import Json

from schemas import topics
from schemas.envelope import Headers, Message, header
from services.common import db
from services.common import logging as log
from services.common.kafka import consumer as make_consumer
from services.common.outbox import enqueue, headers_to_json
from services.common.settings import Settings


@dataclass(frozen=True)
class Incoming:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers

    @property
    def event_id(self) -> str:
        """The CloudEvents id; without one (a partner sent plain JSON), a digest of the record's bytes.

        Not the record's offset: offsets start again when a topic is recreated, contents do not, and
        byte-identical records are the same submission anyway."""
        ce_id = header(self.headers, "ce_id")
        if ce_id:
            return ce_id
        digest = hashlib.sha256(self.topic.encode() + b"\0" + (self.key or b"") + b"\0" + (self.value or b""))
        return "sha256:" + digest.hexdigest()


# handler(cursor, fresh records of a batch) -> messages to publish. It raises for bad input and never
# commits; when it raises, the loop calls it again one record at a time to find the bad one.
Handler = Callable[[db.Cursor, list[Incoming]], list[Message]]
RecordHandler = Callable[[db.Cursor, Incoming], list[Message]]


def per_record(handle: RecordHandler) -> Handler:
    """A batch handler from a one-record handler, with the record's event id in every log line."""

    def handle_batch(cur: db.Cursor, records: list[Incoming]) -> list[Message]:
        out: list[Message] = []
        for rec in records:
            log.bind(event_id=rec.event_id)
            try:
                out.extend(handle(cur, rec))
            finally:
                log.unbind("event_id", "case_ref")
        return out

    return handle_batch


class _RecordFailed(Exception):
    """A handler failed on a record of a batch processed without savepoints."""


def dead_letter(group: str, record: Incoming, exc: BaseException) -> Message:
    error_headers = [
        ("kafka_dlt-original-topic", record.topic),
        ("kafka_dlt-original-partition", str(record.partition)),
        ("kafka_dlt-original-offset", str(record.offset)),
        ("kafka_dlt-original-consumer-group", group),
        ("kafka_dlt-exception-fqcn", f"{type(exc).__module__}.{type(exc).__qualname__}"),
        ("kafka_dlt-exception-message", str(exc)[:2000]),
    ]
    headers = list(record.headers) + [(k, v.encode()) for k, v in error_headers]
    return Message(topics.dlq(group), record.key, record.value or b"", headers)


class ConsumerLoop(threading.Thread):
    def __init__(self, *, schema: str, group: str, topic_names: list[str], handler: Handler,
                 settings: Settings, stop: threading.Event, on_commit: Callable[[], None] = lambda: None):
        super().__init__(name=f"{group}-consumer", daemon=True)
        self.schema, self.group, self.topic_names = schema, group, topic_names
        self.handler, self.settings, self.stop, self.on_commit = handler, settings, stop, on_commit
        self.assigned = False
        self.processed = self.dead_lettered = self.duplicates = 0
        self.logger = log.get().bind(component="consumer", group=group)

    def run(self) -> None:
        conn = consumer = None
        while not self.stop.is_set():
            try:
                conn = conn or db.connect(self.settings.database_url)
                consumer = consumer or make_consumer(self.settings, self.group, self.topic_names)
                batch = consumer.poll(timeout_ms=200)
                self.assigned = bool(consumer.assignment())
                if batch:
                    self._process(conn, consumer, batch)
            except (KafkaError, *db.TRANSIENT) as exc:
                self.logger.warning("consumer_retry", error=repr(exc))
                conn, consumer = self._reset(conn, consumer)
                self.stop.wait(1.0)
        if consumer is not None:
            consumer.close(autocommit=False)
        if conn is not None:
            conn.close()

    @staticmethod
    def _reset(conn, consumer) -> tuple[None, None]:
        # Closing without committing means the uncommitted batch is fetched again after reconnecting.
        try:
            if consumer is not None:
                consumer.close(autocommit=False)
            if conn is not None:
                conn.close()
        except Exception:
            pass
        return None, None

    def _process(self, conn: db.Connection, consumer, batch) -> None:
        records = [
            Incoming(r.topic, r.partition, r.offset, r.key, r.value, [(k, v) for k, v in r.headers or ()])
            for recs in batch.values() for r in recs
        ]
        try:
            self._transact(conn, records, careful=False)
        except _RecordFailed:
            # Some record is bad: redo the batch with a savepoint per record, so only that one is
            # dead-lettered. Batches of good records never pay for the savepoints.
            self._transact(conn, records, careful=True)
        if self.settings.crash_after_db_commit == self.group:
            self.logger.warning("fault_injected_crash_after_db_commit")
            os._exit(70)
        consumer.commit({
            TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(recs[-1].offset + 1, "", -1)
            for tp, recs in batch.items()
        })
        self.processed += len(records)
        self.on_commit()

    def _transact(self, conn: db.Connection, records: list[Incoming], *, careful: bool) -> None:
        with db.transaction(conn) as cur:
            fresh_ids = self._claim(cur, records)
            fresh = []
            for rec in records:
                if rec.event_id in fresh_ids:
                    fresh_ids.discard(rec.event_id)  # a second copy in the same batch is a duplicate too
                    fresh.append(rec)
            self.duplicates += len(records) - len(fresh)
            if careful:
                out = [m for rec in fresh for m in self._handle_one(cur, rec)]
            else:
                out = self._handle_all(cur, fresh)
            enqueue(cur, self.schema, out)

    def _claim(self, cur: db.Cursor, records: list[Incoming]) -> set[str]:
        """Record every event id of the batch as processed; returns the ids seen for the first time."""
        ids = list(dict.fromkeys(r.event_id for r in records))
        cur.execute(
            f"INSERT INTO {self.schema}.processed_events (consumer_group, event_id)"
            " SELECT %s, unnest(%s::text[]) ON CONFLICT DO NOTHING RETURNING event_id",
            (self.group, ids),
        )
        return {row[0] for row in cur.fetchall()}

    def _handle_all(self, cur: db.Cursor, records: list[Incoming]) -> list[Message]:
        if not records:
            return []
        try:
            return self.handler(cur, records)
        except (KafkaError, *db.TRANSIENT):
            raise
        except Exception as exc:
            raise _RecordFailed from exc

    def _handle_one(self, cur: db.Cursor, rec: Incoming) -> list[Message]:
        cur.execute("SAVEPOINT record")
        try:
            messages = self.handler(cur, [rec])
        except (KafkaError, *db.TRANSIENT):
            raise
        except Exception as exc:  # the record's fault: keep it, dead-letter it, move on
            cur.execute("ROLLBACK TO SAVEPOINT record")
            self.dead_lettered += 1
            self.logger.warning("dead_lettered", topic=rec.topic, partition=rec.partition, event_id=rec.event_id,
                                offset=rec.offset, error_class=type(exc).__name__, error=str(exc)[:500])
            cur.execute(
                f"INSERT INTO {self.schema}.dead_letters (consumer_group, topic, kafka_partition,"
                " kafka_offset, key, value, headers, error_class, error_message)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (self.group, rec.topic, rec.partition, rec.offset, rec.key, rec.value,
                 Json(headers_to_json(rec.headers)), type(exc).__name__, str(exc)[:2000]),
            )
            return [dead_letter(self.group, rec, exc)]
        cur.execute("RELEASE SAVEPOINT record")
        return messages
