"""The consumer loop every service shares.

poll a batch → one PostgreSQL transaction (processed-event ids + the handler's business rows + outbox
rows, dead letters included) → commit the database → commit the offsets. Offsets are never committed
automatically, so a crash before the offset commit replays the batch, and the processed-event ids make
the replay a no-op: at-least-once delivery with idempotent handling.

A record that is malformed at the edge (an id too long, NUL or control characters in it, headers that
are not text) or that the handler cannot parse, validate or process goes to `<group>.dlq` with the
original key, value and headers, plus headers naming where it came from and why it failed (Spring
Kafka's `kafka_dlt-*` names, values as text), is kept in `<schema>.dead_letters`, and raises an
operator alert; the loop moves on. Its processed-event claim is rolled back with it, so once the cause
is fixed `grievance replay` puts it through.

Dependency outages (PostgreSQL, the broker) are not the record's fault: the batch is rolled back, the
consumer starts again from its committed offsets, and the loop retries with a growing pause while
readiness says it is retrying. Anything else that escapes (a bug) is retried a few times; a loop that
still cannot go on asks the process to exit non-zero, so a supervisor restarts it.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from kafka.structs import OffsetAndMetadata, TopicPartition
from psycopg2.extras import Json

from schemas import envelope, topics
from schemas.envelope import Headers, Message, header
from schemas.models import OperatorAlert, Urgency
from services.common import db, metrics
from services.common import logging as log
from services.common.errors import is_record_fault, is_transient, safe_text
from services.common.event_auth import EventVerifier, UnsignedEvent
from services.common.health import LoopHealth
from services.common.kafka import consumer as make_consumer
from services.common.outbox import enqueue, headers_to_json
from services.common.settings import Settings

MAX_ID_CHARS = 200
MAX_HEADERS = 64
MAX_HEADER_BYTES = 8192
_ID_CHARS = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: what ids are made of
# Topics whose records hold a grievance (or its routing): a dead letter there is a case at risk.
GRIEVANCE_TOPICS = {topics.SUBMISSIONS.name, topics.RECEIVED.name, topics.ROUTED.name}


class MalformedRecord(ValueError):
    """The record breaks the envelope rules before any handler sees it."""


@dataclass(frozen=True)
class Incoming:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers

    @cached_property
    def problem(self) -> str | None:
        """Why the record is malformed at the edge, or None."""
        if len(self.headers) > MAX_HEADERS:
            return f"{len(self.headers)} headers; at most {MAX_HEADERS}"
        for k, v in self.headers:
            if len(k) > 256 or "\x00" in k or len(v or b"") > MAX_HEADER_BYTES:
                return f"header {k[:40]!r} is too long or holds NUL"
        for name in ("ce_id", "ce_source", "ce_type"):
            raw = next((v for k, v in self.headers if k == name), None)
            if raw is None:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return f"{name} is not UTF-8"
            if not text or len(text) > MAX_ID_CHARS or not _ID_CHARS.match(text):
                return f"{name} must be 1–{MAX_ID_CHARS} printable ASCII characters"
        if self.key is not None and len(self.key) > 1024:
            return f"key is {len(self.key)} bytes; at most 1024"
        return None

    @cached_property
    def event_id(self) -> str:
        """The CloudEvents id; without a valid one (a partner sent plain JSON), a digest of the record.

        Not the record's offset: offsets start again when a topic is recreated, contents do not, and
        byte-identical records are the same submission anyway."""
        ce_id = header(self.headers, "ce_id")
        if ce_id and self.problem is None:
            return ce_id
        digest = hashlib.sha256(self.topic.encode() + b"\0" + (self.key or b"") + b"\0" + (self.value or b""))
        return "sha256:" + digest.hexdigest()

    @cached_property
    def dedupe_key(self) -> str:
        """What makes a record a repeat: its id within its source and key (the partner, on the submissions
        topic), so one partner reusing another's ids never makes the other's submission vanish."""
        if self.event_id.startswith("sha256:"):
            return self.event_id
        source = header(self.headers, "ce_source") or ""
        key = (self.key or b"").decode("utf-8", "backslashreplace")
        return f"{source} {key} {self.event_id}"


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


def dead_letter(group: str, record: Incoming, exc: BaseException, data_key: str = "") -> Message:
    """The record for `<group>.dlq`: original key and headers plus the kafka_dlt-* ones; with a data key,
    the value sealed (it may hold a complaint) and marked so, for `grievance replay` to open."""
    from services.common.vault import SEALED_HEADER, SEALED_SCHEME, clear_error, optional

    error_headers = [
        ("kafka_dlt-original-topic", record.topic),
        ("kafka_dlt-original-partition", str(record.partition)),
        ("kafka_dlt-original-offset", str(record.offset)),
        ("kafka_dlt-original-consumer-group", group),
        ("kafka_dlt-exception-fqcn", f"{type(exc).__module__}.{type(exc).__qualname__}"),
        ("kafka_dlt-exception-message", clear_error(exc)),
    ]
    headers = list(record.headers) + [(k, v.encode()) for k, v in error_headers]
    vault = optional(data_key)
    if vault is None or record.value is None:
        return Message(topics.dlq(group), record.key, record.value or b"", headers)
    return Message(topics.dlq(group), record.key, vault.encrypt_bytes(record.value),
                   [*headers, (SEALED_HEADER, SEALED_SCHEME)])


def dead_letter_alert(service: str, group: str, record: Incoming, exc: BaseException) -> Message:
    """An operator alert for a dead letter; the case it names, if its key is a case reference."""
    from services.common.vault import clear_error

    key = (record.key or b"").decode("utf-8", "replace")
    case_ref = key if re.fullmatch(r"GRV-[0-9A-Z]{12}", key) else None
    holds_case = record.topic in GRIEVANCE_TOPICS
    alert = OperatorAlert(
        case_ref=case_ref, kind="dead_letter", urgency=Urgency.high if holds_case else Urgency.medium,
        message=(f"{group} set aside a record of {record.topic} (partition {record.partition}, offset "
                 f"{record.offset}): {type(exc).__name__}: {clear_error(exc, 300)}"
                 + ("; not signed by a service allowed to publish it: a possible forgery by a broker client, do"
                    " not requeue; check who can write to the topic" if isinstance(exc, UnsignedEvent)
                    else "; it may hold a grievance: inspect and requeue it" if holds_case else "")),
        raised_at=datetime.now(UTC), service=service, topic=record.topic, event_id=safe_text(record.event_id, 200))
    return envelope.encode(topics.ALERTS, alert, source=service,
                           id=envelope.event_id("dead-letter-alert", group, record.dedupe_key))


class ConsumerLoop(threading.Thread):
    def __init__(self, *, schema: str, group: str, topic_names: list[str], handler: Handler,
                 settings: Settings, stop: threading.Event, on_commit: Callable[[], None] = lambda: None,
                 on_fatal: Callable[[str], None] = lambda reason: None, verifier: EventVerifier | None = None):
        super().__init__(name=f"{group}-consumer", daemon=True)
        self.verifier = verifier
        self.schema, self.group, self.topic_names = schema, group, topic_names
        self.handler, self.settings, self.stop, self.on_commit = handler, settings, stop, on_commit
        self.on_fatal = on_fatal
        self.health = LoopHealth(self.name)
        self.processed = self.dead_lettered = self.duplicates = 0
        self.restart = threading.Event()  # set by the broker watchdog: rejoin from the committed offsets
        self._pruned_at = float("-inf")  # first prune at the first cycle
        self.logger = log.get().bind(component="consumer", group=group)

    @property
    def assigned(self) -> bool:
        return self.health.assigned

    def run(self) -> None:
        conn = consumer = None
        while not self.stop.is_set():
            try:
                if self.restart.is_set():
                    self.restart.clear()
                    # Only a consumer that holds partitions has positions from before the loss; one still
                    # joining is joining the new broker, and closing it mid-join would stall the group.
                    if consumer is not None and consumer.assignment():
                        self.logger.warning("consumer_rejoin", reason="the broker lost our topics")
                        conn, consumer = self._reset(conn, consumer)
                conn = conn or db.connect(self.settings.database_url, retries=1)
                consumer = consumer or make_consumer(self.settings, self.group, self.topic_names)
                batch = consumer.poll(timeout_ms=200)
                if batch:
                    self._process(conn, consumer, batch)
                self._prune(conn)
                self.health.polled(bool(consumer.assignment()), progressed=bool(batch))
            except Exception as exc:
                transient = is_transient(exc)
                self.health.failed(exc, transient)
                self.logger.warning("consumer_retry", error=safe_text(repr(exc), 500), transient=transient,
                                    failures=self.health.failures)
                conn, consumer = self._reset(conn, consumer)
                if self.health.hopeless(self.settings.loop_max_failures):
                    self.logger.error("consumer_gave_up", error=safe_text(repr(exc), 500))
                    self.on_fatal(f"{self.name}: {type(exc).__name__}: {safe_text(exc, 300)}")
                    break
                self.stop.wait(self.health.backoff_s())
        self._reset(conn, consumer)
        self.health.stopped()

    @staticmethod
    def _reset(conn, consumer) -> tuple[None, None]:
        # Closing without committing means the uncommitted batch is fetched again after reconnecting.
        for closable in (consumer, conn):
            try:
                if closable is consumer and consumer is not None:
                    consumer.close(autocommit=False)
                elif closable is not None:
                    closable.close()
            except Exception:  # noqa: S110 - closing what already failed; the loop reconnects
                pass
        return None, None

    def _process(self, conn: db.Connection, consumer, batch) -> None:
        started = time.perf_counter()
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
        consumer.commit({
            TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(recs[-1].offset + 1, "", -1)
            for tp, recs in batch.items()
        })
        self.processed += len(records)
        for rec in records:
            metrics.CONSUMED.labels(self.schema, self.group, rec.topic).inc()
        metrics.BATCH_SECONDS.labels(self.schema, self.group).observe(time.perf_counter() - started)
        self.on_commit()

    def _transact(self, conn: db.Connection, records: list[Incoming], *, careful: bool) -> None:
        with db.transaction(conn) as cur:
            if careful:
                out = [m for rec in records for m in self._handle_one(cur, rec)]
            else:
                if any(self._problem(rec) for rec in records):
                    raise _RecordFailed("a record is malformed or not authentic")
                fresh = self._fresh(cur, records)
                out = self._handle_all(cur, fresh)
            enqueue(cur, self.schema, out)

    def _problem(self, rec: Incoming) -> str | None:
        """Why the record cannot be taken as it is: a malformed envelope, or an internal event that its
        producer did not sign (forged, tampered, or from a client that merely reached the broker)."""
        if rec.problem is not None or self.verifier is None:
            return rec.problem
        return self.verifier.check(rec.topic, rec.key, rec.value, rec.headers)

    def _fresh(self, cur: db.Cursor, records: list[Incoming]) -> list[Incoming]:
        """The records whose ids are claimed now for the first time; repeats are logged and counted."""
        keys = list(dict.fromkeys(r.dedupe_key for r in records))
        cur.execute(
            f"INSERT INTO {self.schema}.processed_events (consumer_group, event_id)"
            " SELECT %s, unnest(%s::text[]) ON CONFLICT DO NOTHING RETURNING event_id",
            (self.group, keys),
        )
        claimed = {row[0] for row in cur.fetchall()}
        fresh = []
        for rec in records:
            if rec.dedupe_key in claimed:
                claimed.discard(rec.dedupe_key)  # a second copy in the same batch is a duplicate too
                fresh.append(rec)
            else:
                self._duplicate(rec)
        return fresh

    def _duplicate(self, rec: Incoming) -> None:
        self.duplicates += 1
        metrics.DUPLICATES.labels(self.schema, self.group, rec.topic).inc()
        self.logger.info("duplicate_dropped", reason="event already processed by this group", topic=rec.topic,
                         partition=rec.partition, offset=rec.offset, event_id=safe_text(rec.event_id, 200))

    def _handle_all(self, cur: db.Cursor, records: list[Incoming]) -> list[Message]:
        if not records:
            return []
        try:
            return self.handler(cur, records)
        except Exception as exc:
            if not is_record_fault(exc):
                raise
            raise _RecordFailed from exc

    def _handle_one(self, cur: db.Cursor, rec: Incoming) -> list[Message]:
        # The claim is inside the savepoint: a dead-lettered record is not marked processed, so a replay
        # of it once the cause is fixed goes through.
        cur.execute("SAVEPOINT record")
        try:
            if problem := self._problem(rec):
                raise (UnsignedEvent if rec.problem is None else MalformedRecord)(problem)
            if not self._fresh(cur, [rec]):
                cur.execute("RELEASE SAVEPOINT record")
                return []
            messages = self.handler(cur, [rec])
        except Exception as exc:
            if not is_record_fault(exc):
                raise
            cur.execute("ROLLBACK TO SAVEPOINT record")
            return self._set_aside(cur, rec, exc)
        cur.execute("RELEASE SAVEPOINT record")
        return messages

    def _set_aside(self, cur: db.Cursor, rec: Incoming, exc: BaseException) -> list[Message]:
        """Keep the record, publish it to the dead-letter topic and alert, once per record: a batch
        replayed after a crash, or a requeued record that fails again, only counts another attempt. The
        value is sealed when the service has a data key (it may hold a complaint and contact details);
        the error is kept without the input it quotes."""
        from services.common.vault import clear_error, optional

        self.dead_lettered += 1
        metrics.DEAD_LETTERS.labels(self.schema, self.group, rec.topic, type(exc).__name__).inc()
        self.logger.warning("dead_lettered", topic=rec.topic, partition=rec.partition, offset=rec.offset,
                            event_id=safe_text(rec.event_id, 200), error_class=type(exc).__name__,
                            error=clear_error(exc, 500))
        vault = optional(self.settings.data_key)
        sealed = vault is not None and rec.value is not None
        cur.execute(
            f"INSERT INTO {self.schema}.dead_letters (consumer_group, dedupe_key, topic, kafka_partition,"  # noqa: S608 - schema from code
            " kafka_offset, key, value, value_sealed, headers, error_class, error_message)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
            " ON CONFLICT (consumer_group, dedupe_key) DO UPDATE SET attempts = EXCLUDED.attempts"
            f" + {self.schema}.dead_letters.attempts, error_message = EXCLUDED.error_message,"
            " last_failed_at = now() RETURNING attempts",
            (self.group, safe_text(rec.dedupe_key, 600), rec.topic, rec.partition, rec.offset, rec.key,
             vault.encrypt_bytes(rec.value) if sealed else rec.value, sealed,
             Json(headers_to_json(rec.headers)), type(exc).__name__, clear_error(exc)),
        )
        if cur.fetchone()[0] > 1:
            return []
        return [dead_letter(self.group, rec, exc, self.settings.data_key),
                dead_letter_alert(self.schema, self.group, rec, exc)]

    def _prune(self, conn: db.Connection) -> None:
        """Forget processed-event ids older than the retention window (longer than any replay), hourly."""
        if time.monotonic() - self._pruned_at < 3600:
            return
        with db.transaction(conn) as cur:
            cur.execute(f"DELETE FROM {self.schema}.processed_events WHERE consumer_group = %s"  # noqa: S608 - schema from code
                        " AND processed_at < now() - make_interval(days => %s)",
                        (self.group, self.settings.processed_retention_days))
            if cur.rowcount:
                self.logger.info("processed_ids_pruned", count=cur.rowcount,
                                 older_than_days=self.settings.processed_retention_days)
        self._pruned_at = time.monotonic()
