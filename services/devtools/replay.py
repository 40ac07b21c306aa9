"""Capture a topic range to JSON Lines, and replay such a file back onto the bus.

Each line: topic, partition, offset, timestamp (ms), key, value, headers. Text stays readable (`key`,
`value`, header values as strings); bytes that are not UTF-8 go base64 in `key_b64` / `value_b64` / `b64`.
Replays keep the original headers, so `ce_id` is unchanged and every consumer drops what it has already
processed: replaying a capture twice creates no second case and no second notification.

A dead letter's value is sealed with the data vault (header `grievance-sealed: fernet`), in the capture
file too; replay opens it with GRIEVANCE_DATA_KEY before putting it back on its original topic, and
refuses to publish anything when a sealed record cannot be opened.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Iterator
from datetime import datetime

from kafka import KafkaConsumer, TopicPartition
from tqdm import tqdm

from schemas.envelope import Headers, header
from services.common.kafka import CLIENT_DEFAULTS, client_security
from services.common.kafka import producer as make_producer
from services.common.outbox import headers_from_json, headers_to_json
from services.common.settings import Settings
from services.common.vault import SEALED_HEADER, DataVault, InvalidToken, optional

DLT_PREFIX = "kafka_dlt-"


def _text_or_b64(name: str, data: bytes | None) -> dict:
    if data is None:
        return {name: None}
    try:
        return {name: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_b64": base64.b64encode(data).decode()}


def _bytes(line: dict, name: str) -> bytes | None:
    if f"{name}_b64" in line:
        return base64.b64decode(line[f"{name}_b64"])
    return None if line.get(name) is None else line[name].encode("utf-8")


def _ms(iso: str | None) -> int | None:
    return None if not iso else int(datetime.fromisoformat(iso).timestamp() * 1000)


def read_range(settings: Settings, topic: str, *, from_offset: int | None = None, to_offset: int | None = None,
               since_ms: int | None = None, until_ms: int | None = None, idle_ms: int = 2000) -> Iterator[dict]:
    """Records of a topic within the range, read until nothing new arrives for idle_ms.

    Times are filtered on each record's own timestamp rather than with offsets_for_times, whose answers
    some Kafka-protocol brokers get wrong; the end is found by reading until idle, not from end_offsets.
    """
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False,
                             group_id=None, **CLIENT_DEFAULTS, **client_security(settings))
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        for tp in tps:
            if from_offset is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, from_offset)
        last_new = time.monotonic()
        while (time.monotonic() - last_new) * 1000 < idle_ms:
            batch = consumer.poll(timeout_ms=200)
            for recs in batch.values():
                last_new = time.monotonic()
                for r in recs:
                    if to_offset is not None and r.offset > to_offset:
                        continue
                    if (since_ms is not None and r.timestamp < since_ms) or (
                            until_ms is not None and r.timestamp >= until_ms):
                        continue
                    yield {"topic": r.topic, "partition": r.partition, "offset": r.offset,
                           "timestamp": r.timestamp, **_text_or_b64("key", r.key),
                           **_text_or_b64("value", r.value), "headers": headers_to_json(r.headers or [])}
    finally:
        consumer.close()


def capture(settings: Settings, args: argparse.Namespace) -> int:
    n = 0
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for line in read_range(settings, args.topic, from_offset=args.from_offset, to_offset=args.to_offset,
                               since_ms=_ms(args.since), until_ms=_ms(args.until), idle_ms=args.idle_ms):
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            n += 1
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"captured {n} record(s) from {args.topic}", file=sys.stderr)
    return 0


def target(line: dict, prefix: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Where a captured record goes back to. A dead letter goes back to the topic it came from, without
    its error headers and seal mark (value_for opens the value), so an operator can replay dead letters
    once the cause is fixed."""
    headers = headers_from_json(line["headers"])
    original = header(headers, DLT_PREFIX + "original-topic")
    if original:
        return prefix + original, [(k, v) for k, v in headers
                                   if not k.startswith(DLT_PREFIX) and k != SEALED_HEADER]
    return prefix + line["topic"], headers


class CannotOpen(ValueError):
    """A sealed dead letter that the configured keys do not open: nothing is published."""


def value_for(line: dict, vault: DataVault | None) -> bytes:
    """The value to publish: a sealed dead letter going back to its topic is opened first, since its
    consumers read the original bytes (a dead letter replayed onto a dead-letter topic stays sealed)."""
    value = _bytes(line, "value") or b""
    headers = headers_from_json(line["headers"])
    if header(headers, SEALED_HEADER) is None or header(headers, DLT_PREFIX + "original-topic") is None:
        return value
    where = f"{line.get('topic')} partition {line.get('partition')} offset {line.get('offset')}"
    if vault is None:
        raise CannotOpen(f"the dead letter at {where} is sealed: set GRIEVANCE_DATA_KEY to replay it")
    try:
        return vault.decrypt_bytes(value)
    except InvalidToken:
        raise CannotOpen(f"no key in GRIEVANCE_DATA_KEY opens the dead letter at {where}") from None


def prepared(lines: list[dict], prefix: str, vault: DataVault | None) -> list[tuple[str, Headers, bytes | None, bytes]]:
    """(topic, headers, key, value) of every line; CannotOpen before anything is published."""
    return [(*target(line, prefix), _bytes(line, "key"), value_for(line, vault)) for line in lines]


def replay(settings: Settings, args: argparse.Namespace) -> int:
    with open(args.file, encoding="utf-8") as f:
        lines = [json.loads(raw) for raw in f if raw.strip()]
    try:
        records = prepared(lines, args.topic_prefix, optional(settings.data_key))
    except ValueError as exc:  # CannotOpen, or GRIEVANCE_DATA_KEY that is no key
        print(f"grievance replay: {exc}; nothing was published", file=sys.stderr)
        return 1
    producer = make_producer(settings)
    started = time.monotonic()
    try:
        for i, (topic, headers, key, value) in enumerate(
                tqdm(records, unit="rec", disable=args.no_progress, file=sys.stderr)):
            if args.rate > 0:  # pace to the requested rate
                delay = started + i / args.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush()
    finally:
        producer.close()
    print(f"replayed {len(lines)} record(s) in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0
