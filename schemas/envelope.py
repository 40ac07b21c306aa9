"""CloudEvents 1.0 in Kafka binary mode: attributes travel as `ce_*` headers, the value is the data.

Event ids are deterministic where a retry could emit the same event again (uuid5 of what caused it),
so every consumer can deduplicate on `ce_id`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from schemas.topics import CE_SOURCE_PREFIX, Topic

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
_NAMESPACE = uuid.UUID("6f1c2b8e-3d4a-5b6c-8d9e-0a1b2c3d4e5f")

Headers = list[tuple[str, bytes]]
M = TypeVar("M", bound=BaseModel)


def event_id(*parts: str) -> str:
    """A deterministic event id: the same cause always yields the same id."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


@dataclass(frozen=True)
class Message:
    """One Kafka record ready to publish."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers

    @property
    def id(self) -> str | None:
        return header(self.headers, "ce_id")


def header(headers: Iterable[tuple[str, bytes | None]], name: str) -> str | None:
    for k, v in headers or ():
        if k == name and v is not None:
            return v.decode("utf-8", "replace")
    return None


def encode(topic: Topic, event: BaseModel, *, id: str, source: str, time: datetime | None = None,
           extra_headers: Headers | None = None) -> Message:
    if not isinstance(event, topic.model):
        raise TypeError(f"{topic.name} carries {topic.model.__name__}, not {type(event).__name__}")
    key = getattr(event, topic.key_field, None)
    headers: Headers = [
        ("ce_specversion", SPECVERSION.encode()),
        ("ce_id", id.encode()),
        ("ce_source", f"{CE_SOURCE_PREFIX}/{source}".encode()),
        ("ce_type", topic.event_type.encode()),
        ("ce_time", (time or datetime.now(UTC)).isoformat().encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    if key is not None:
        headers.append(("ce_subject", str(key).encode()))
    headers.extend(extra_headers or [])
    value = _whole_minute_offsets(event).model_dump_json().encode()
    return Message(topic.name, None if key is None else str(key).encode(), value, headers)


def _whole_minute_offsets(value: Any) -> Any:
    """JSON times carry their UTC offset in whole minutes (RFC 3339), and pydantic drops the seconds of a
    finer one, moving the instant: a zone's local mean time before it took a standard offset (Asia/Kuwait
    before 1950 is +03:11:56), or a hand-made tzinfo. Such a time is sent in UTC instead: the same instant.
    Returns `value` itself when nothing needed changing (every time in the pipeline is UTC)."""
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is None or not offset % timedelta(minutes=1):
            return value
        try:
            return value.astimezone(UTC)
        except OverflowError:  # within a day of year 1 or 9999: no UTC form to send instead
            return value
    if isinstance(value, BaseModel):
        changed = {name: new for name in type(value).model_fields
                   if (new := _whole_minute_offsets(old := getattr(value, name))) is not old}
        return value.model_copy(update=changed) if changed else value
    if isinstance(value, list):
        items = [_whole_minute_offsets(v) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, dict):
        entries = {k: _whole_minute_offsets(v) for k, v in value.items()}
        return entries if any(entries[k] is not v for k, v in value.items()) else value
    return value


def decode(topic: Topic, value: bytes, model: type[M] | None = None) -> M:
    """Parse a record's value as the topic's event; raises pydantic.ValidationError or ValueError."""
    return (model or topic.model).model_validate_json(value)  # type: ignore[return-value]
