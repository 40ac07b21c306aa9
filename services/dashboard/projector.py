"""The dashboard's projector: every case topic into the read model. Idempotent twice over: the runtime
drops an event id it has seen, and every row is keyed by the event's id or the case."""

from __future__ import annotations

from schemas import envelope, topics
from schemas.envelope import Message
from services.common import db
from services.common.consumer import Incoming
from services.dashboard import read_store
from services.dashboard.projection import PROJECTIONS, project

GROUP = "dashboard"


def handle(cur: db.Cursor, records: list[Incoming]) -> list[Message]:
    """A record that does not parse as its topic's event raises, and the runtime sets it aside."""
    for rec in records:
        if rec.topic not in PROJECTIONS:
            continue
        event = envelope.decode(topics.BY_NAME[rec.topic], rec.value or b"")
        read_store.apply(cur, rec.event_id, project(rec.topic, event))
    return []
