"""The transactional outbox: events are written in the business transaction and published after it.

A relay thread per service reads unpublished rows (FOR UPDATE SKIP LOCKED, in id order), publishes them,
waits for the broker's acknowledgement, then marks them published in the same transaction. A crash
between publish and mark republishes; consumers deduplicate on the deterministic `ce_id`.

Published rows are kept for `outbox_retention_hours`: when the broker loses its state (the bundled broker
keeps topics in memory; a real cluster can lose an under-replicated partition), the broker watchdog finds
our topics gone or recreated, creates them again with the partition counts we declare, and the relay
publishes the retained rows again. Consumers drop what they had already processed; what the broker lost
is processed now, so nothing waits forever on an event that no longer exists.
"""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections.abc import Callable, Sequence

import psycopg2.extras
from psycopg2.extras import Json

from schemas.envelope import Headers, Message
from services.common import db, metrics
from services.common import logging as log
from services.common.errors import is_transient, safe_text
from services.common.event_auth import EventSigner, allowed_producers
from services.common.health import LoopHealth
from services.common.kafka import BrokerWatch
from services.common.kafka import producer as make_producer
from services.common.settings import Settings


def headers_to_json(headers: Headers) -> list[dict[str, str]]:
    """Readable in SQL when the value is text; base64 when it is not (or holds NUL, which jsonb refuses)."""
    out = []
    for k, v in headers or ():
        key = safe_text(k, 256)
        try:
            text = (v or b"").decode("utf-8")
            if "\x00" in text:
                raise UnicodeDecodeError("utf-8", b"", 0, 1, "NUL")
            out.append({"k": key, "v": text})
        except UnicodeDecodeError:
            out.append({"k": key, "b64": base64.b64encode(v or b"").decode()})
    return out


def headers_from_json(items: list[dict[str, str]]) -> Headers:
    return [(i["k"], base64.b64decode(i["b64"]) if "b64" in i else i["v"].encode()) for i in items]


def enqueue(cur: db.Cursor, schema: str, messages: Sequence[Message]) -> None:
    if not messages:
        return
    psycopg2.extras.execute_values(
        cur,
        f"INSERT INTO {schema}.outbox (topic, key, value, headers) VALUES %s",  # noqa: S608 - schema from code
        [(m.topic, m.key, m.value, Json(headers_to_json(m.headers))) for m in messages],
        page_size=1000,
    )


class OutboxRelay(threading.Thread):
    def __init__(self, schema: str, settings: Settings, stop: threading.Event, batch: int = 2000,
                 on_broker_lost: Callable[[list[str]], None] = lambda problems: None,
                 on_fatal: Callable[[str], None] = lambda reason: None, signer: EventSigner | None = None):
        super().__init__(name=f"{schema}-outbox", daemon=True)
        self.signer = signer
        self.schema, self.settings, self.stop, self.batch = schema, settings, stop, batch
        self.on_broker_lost, self.on_fatal = on_broker_lost, on_fatal
        self.wake = threading.Event()
        self.health = LoopHealth(self.name)
        self.published = self.republished = 0
        self._pruned_at = float("-inf")  # first prune at the first cycle
        self.topic_ids: dict[str, str | None] = {}

    @property
    def healthy(self) -> bool:
        return self.health.ready()

    def run(self) -> None:
        logger = log.get().bind(component="outbox", schema=self.schema)
        conn = producer = watch = None
        while not self.stop.is_set():
            try:
                conn = conn or db.connect(self.settings.database_url, retries=1)
                producer = producer or make_producer(self.settings)
                watch = watch or BrokerWatch(self.settings, dict(self.topic_ids or self._load_topic_ids(conn)))
                # Before publishing, make sure the broker still has our topics as we declared them: a
                # producer writing to a topic the broker lost would have it auto-created with defaults.
                if problems := watch.check():
                    logger.error("broker_state_lost", problems=problems)
                    watch.repair()
                    self.republish(conn)
                    self.on_broker_lost(problems)
                if watch.seen != self.topic_ids:
                    self._save_topic_ids(conn, watch.seen)
                published = self.publish_once(conn, producer)
                self._prune(conn)
                self.health.ok()
                if published < self.batch:
                    self.wake.wait(0.5)
                    self.wake.clear()
            except Exception as exc:
                transient = is_transient(exc)
                self.health.failed(exc, transient)
                logger.warning("outbox_relay_error", error=safe_text(repr(exc), 500), transient=transient)
                for closable in (conn, producer, watch):
                    with contextlib.suppress(Exception):
                        closable and closable.close()
                conn = producer = watch = None
                if self.health.hopeless(self.settings.loop_max_failures):
                    self.on_fatal(f"{self.name}: {type(exc).__name__}: {safe_text(exc, 300)}")
                    break
                self.stop.wait(self.health.backoff_s())
        # Drain what the last batches wrote before the process exits.
        if conn is not None and producer is not None:
            try:
                while self.publish_once(conn, producer):
                    pass
            except Exception as exc:
                logger.warning("outbox_drain_failed", error=safe_text(repr(exc), 500))
            finally:
                producer.close()
                conn.close()
                if watch is not None:
                    watch.close()
        self.health.stopped()

    def publish_once(self, conn: db.Connection, producer) -> int:
        with db.transaction(conn) as cur:
            cur.execute(
                f"SELECT id, topic, key, value, headers FROM {self.schema}.outbox WHERE published_at IS NULL"  # noqa: S608 - schema from code
                " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                (self.batch,),
            )
            rows = cur.fetchall()
            if not rows:
                return 0
            self._send(producer, rows)
            cur.execute(f"UPDATE {self.schema}.outbox SET published_at = now() WHERE id = ANY(%s)",  # noqa: S608 - schema from code
                        ([r[0] for r in rows],))
        self.published += len(rows)
        for _, topic, *_ in rows:
            metrics.PUBLISHED.labels(self.schema, topic).inc()
        return len(rows)

    def _load_topic_ids(self, conn: db.Connection) -> dict[str, str | None]:
        with db.transaction(conn) as cur:
            cur.execute(f"SELECT topic, topic_id FROM {self.schema}.broker_topics")  # noqa: S608 - schema from code
            self.topic_ids = dict(cur.fetchall())
        return self.topic_ids

    def _save_topic_ids(self, conn: db.Connection, seen: dict[str, str | None]) -> None:
        rows = [(topic, topic_id) for topic, topic_id in seen.items() if topic_id]
        with db.transaction(conn) as cur:
            psycopg2.extras.execute_values(
                cur, f"INSERT INTO {self.schema}.broker_topics (topic, topic_id) VALUES %s ON CONFLICT (topic)"  # noqa: S608 - schema from code
                " DO UPDATE SET topic_id = EXCLUDED.topic_id, seen_at = now()", rows)
        self.topic_ids = dict(seen)

    def republish(self, conn: db.Connection) -> int:
        """Mark every retained row unpublished again, so the relay sends it to the recreated topics."""
        with db.transaction(conn) as cur:
            cur.execute(f"UPDATE {self.schema}.outbox SET published_at = NULL WHERE published_at IS NOT NULL")  # noqa: S608 - schema from code
            count = cur.rowcount
        self.republished += count
        log.get().warning("outbox_republish", schema=self.schema, rows=count)
        return count

    def _send(self, producer, rows) -> None:
        futures = []
        for _, topic, key, value, headers in rows:
            key, value, headers = (bytes(key) if key is not None else None), bytes(value), headers_from_json(headers)
            # Signed as it leaves: what consumers check is what was sent. Only events of the topic registry: a
            # dead letter keeps its producer's signature, so it verifies again when requeued.
            if self.signer is not None and allowed_producers(topic):
                headers = self.signer.headers(topic, key, value, headers)
            futures.append(producer.send(topic, key=key, value=value, headers=headers))
        producer.flush()
        for f in futures:
            f.get(timeout=0)  # raises if the broker refused one: the rows stay for the next try

    def _prune(self, conn: db.Connection) -> None:
        if time.monotonic() - self._pruned_at < 600:
            return
        with db.transaction(conn) as cur:
            cur.execute(f"DELETE FROM {self.schema}.outbox WHERE published_at < now() - make_interval(hours => %s)",  # noqa: S608 - schema from code
                        (self.settings.outbox_retention_hours,))
        self._pruned_at = time.monotonic()
