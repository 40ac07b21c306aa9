"""The transactional outbox: events are written in the business transaction and published after it.

A relay thread per service reads unpublished rows (FOR UPDATE SKIP LOCKED, in id order), publishes them,
waits for the broker's acknowledgement, then deletes them in the same transaction. A crash between
publish and delete republishes; consumers deduplicate on the deterministic `ce_id`.
"""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Sequence

import psycopg2.extras
from psycopg2.extras import Json

from schemas.envelope import Headers, Message
from services.common import db
from services.common import logging as log
from services.common.kafka import producer as make_producer
from services.common.settings import Settings


def headers_to_json(headers: Headers) -> list[dict[str, str]]:
    """Readable in SQL when the value is text; base64 when it is not."""
    out = []
    for k, v in headers or ():
        try:
            out.append({"k": k, "v": (v or b"").decode("utf-8")})
        except UnicodeDecodeError:
            out.append({"k": k, "b64": base64.b64encode(v).decode()})
    return out


def headers_from_json(items: list[dict[str, str]]) -> Headers:
    return [(i["k"], base64.b64decode(i["b64"]) if "b64" in i else i["v"].encode()) for i in items]


def enqueue(cur: db.Cursor, schema: str, messages: Sequence[Message]) -> None:
    if not messages:
        return
    psycopg2.extras.execute_values(
        cur,
        f"INSERT INTO {schema}.outbox (topic, key, value, headers) VALUES %s",
        [(m.topic, m.key, m.value, Json(headers_to_json(m.headers))) for m in messages],
        page_size=1000,
    )


class OutboxRelay(threading.Thread):
    def __init__(self, schema: str, settings: Settings, stop: threading.Event, batch: int = 2000):
        super().__init__(name=f"{schema}-outbox", daemon=True)
        self.schema, self.settings, self.stop, self.batch = schema, settings, stop, batch
        self.wake = threading.Event()
        self.healthy = False
        self.published = 0

    def run(self) -> None:
        logger = log.get().bind(component="outbox", schema=self.schema)
        conn = producer = None
        while not self.stop.is_set():
            try:
                conn = conn or db.connect(self.settings.database_url)
                producer = producer or make_producer(self.settings)
                self.healthy = True
                if self.publish_once(conn, producer) < self.batch:
                    self.wake.wait(0.5)
                    self.wake.clear()
            except Exception as exc:  # keep relaying whatever happens; state is in the database
                self.healthy = False
                logger.warning("outbox_relay_error", error=repr(exc))
                for closable in (conn, producer):
                    with contextlib.suppress(Exception):
                        closable and closable.close()
                conn = producer = None
                self.stop.wait(1.0)
        # Drain what the last batches wrote before the process exits.
        if conn is not None and producer is not None:
            try:
                while self.publish_once(conn, producer):
                    pass
            finally:
                producer.close()
                conn.close()

    def publish_once(self, conn: db.Connection, producer) -> int:
        with db.transaction(conn) as cur:
            cur.execute(
                f"SELECT id, topic, key, value, headers FROM {self.schema}.outbox"
                " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                (self.batch,),
            )
            rows = cur.fetchall()
            if not rows:
                return 0
            futures = [
                producer.send(topic, key=bytes(key) if key is not None else None, value=bytes(value),
                              headers=headers_from_json(headers))
                for _, topic, key, value, headers in rows
            ]
            producer.flush()
            for f in futures:
                f.get(timeout=0)  # raises if the broker refused one: the rows stay for the next try
            cur.execute(f"DELETE FROM {self.schema}.outbox WHERE id = ANY(%s)", ([r[0] for r in rows],))
        self.published += len(rows)
        return len(rows)
