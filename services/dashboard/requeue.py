"""Requeue a dead letter from the page: the record goes back to its original topic exactly as
`grievance replay` of a captured dead letter would send it (services/devtools/replay.py: original headers,
so its event id and signature, without the kafka_dlt-* ones; a sealed value opened with the data key).
The consumers that took it already drop it as a repeat; the group that set it aside processes it again."""

from __future__ import annotations

import base64
import threading

from services.common import db
from services.common.kafka import producer as make_producer
from services.common.settings import Settings
from services.common.vault import optional
from services.devtools.replay import prepared


class NotFound(LookupError):
    pass


def _line(cur: db.Cursor, record_id: int) -> dict:
    cur.execute("SELECT dlq_topic, kafka_partition, kafka_offset, key, value, headers FROM dashboard.dlq_records"
                " WHERE id = %s", (record_id,))
    found = cur.fetchone()
    if found is None:
        raise NotFound(record_id)
    topic, partition, offset, key, value, headers = found
    return {"topic": topic, "partition": partition, "offset": offset, "headers": headers,
            "key_b64": base64.b64encode(bytes(key)).decode() if key is not None else None,
            **({"value_b64": base64.b64encode(bytes(value)).decode()} if value is not None else {"value": None})}


class Requeuer:
    """Publishes outside any database transaction; the producer is made on first use and kept."""

    def __init__(self, settings: Settings, pool: db.Pool):
        self.settings, self.pool = settings, pool
        self._producer = None
        self._lock = threading.Lock()

    def requeue(self, record_id: int, user_id: str) -> str:
        """Publishes the record back; returns the topic. Raises NotFound, or CannotOpen (replay.py) when a
        sealed value cannot be opened (nothing is published then)."""
        with self.pool.transaction() as cur:
            line = _line(cur, record_id)
        if line.get("key_b64") is None:
            line.pop("key_b64")
            line["key"] = None
        [(topic, headers, key, value)] = prepared([line], "", optional(self.settings.data_key))
        with self._lock:
            self._producer = self._producer or make_producer(self.settings)
            self._producer.send(topic, key=key, value=value, headers=headers).get(timeout=10)
        with self.pool.transaction() as cur:
            cur.execute("INSERT INTO dashboard.requeues (dlq_record, requeued_by) VALUES (%s, %s)",
                        (record_id, user_id))
        return topic

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
