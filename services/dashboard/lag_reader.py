"""Reads every consumer group's lag from the broker every few seconds: the groups it lists (and the pipeline's
own, listed or not), their committed offsets, and each partition's start and end. The latest reading feeds
the Flow page and the `grievance_consumer_lag{group,topic}` gauge on this service's /metrics.

One reader for every group, not each service for its own: a stopped service is exactly the one whose lag
matters, and it no longer serves /metrics."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import OffsetSpec
from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError
from kafka.structs import TopicPartition

from schemas import topics
from services.common import logging as log
from services.common import metrics
from services.common.errors import is_transient, safe_text
from services.common.health import LoopHealth
from services.common.kafka import CLIENT_DEFAULTS, client_security
from services.common.settings import Settings
from services.dashboard import lag
from services.dashboard.dlq_reader import GROUP as DLQ_GROUP
from services.dashboard.projector import GROUP as PROJECTOR_GROUP

INTERVAL_S = 5.0
KNOWN_GROUPS = (*topics.CONSUMER_GROUPS, PROJECTOR_GROUP, DLQ_GROUP)
FETCH_WAIT_S = 3.0


class LagReader(threading.Thread):
    def __init__(self, settings: Settings, stop: threading.Event, interval_s: float = INTERVAL_S):
        super().__init__(name="lag-reader", daemon=True)
        self.settings, self.stop, self.interval_s = settings, stop, interval_s
        self.health = LoopHealth(self.name)
        self.latest: lag.LagReading | None = None
        self.unreadable: set[str] = set()  # topics this principal may describe but not read (no fetch check)
        self.logger = log.get().bind(component="lag-reader")
        self._admin: KafkaAdminClient | None = None
        self._consumer: KafkaConsumer | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.latest = self.read()
                publish(self.latest)
                self.health.ok()
                wait = self.interval_s
            except Exception as exc:
                forget()
                self.latest = None
                self.health.failed(exc, is_transient(exc))
                self.logger.warning("lag_read_failed", error=safe_text(repr(exc), 500))
                self._close()
                wait = self.health.backoff_s()
            self.stop.wait(wait)
        self._close()
        self.health.stopped()

    def read(self) -> lag.LagReading:
        security = client_security(self.settings)
        self._admin = self._admin or KafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap_servers,
                                                      **CLIENT_DEFAULTS, **security)
        self._consumer = self._consumer or KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, group_id=None, enable_auto_commit=False,
            fetch_max_wait_ms=100, max_partition_fetch_bytes=64 * 1024, fetch_max_bytes=1024 * 1024,
            **CLIENT_DEFAULTS, **security)
        admin = self._admin
        listed = {g["group_id"] for g in admin.list_groups() if g.get("protocol_type") in ("consumer", "", None)}
        groups = sorted(set(KNOWN_GROUPS) | listed)
        committed, refused = {}, []
        for group in groups:  # one at a time: a broker with ACLs may refuse some groups and not others
            try:
                offsets = admin.list_group_offsets([group]).get(group, {})
            except GroupAuthorizationFailedError:
                refused.append(group)
                continue
            committed[group] = {(tp.topic, tp.partition): om.offset for tp, om in offsets.items()}
        partitions = [TopicPartition(t, p) for t in sorted({t for c in committed.values() for t, _ in c})
                      for p in sorted(self._consumer.partitions_for_topic(t) or ())]
        if not partitions:
            return lag.compute(committed, {}, {}, datetime.now(UTC), tuple(refused))
        starts = _offsets(admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in partitions}))
        listed_ends = _offsets(admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions}))
        marks = self._high_watermarks([tp for tp in partitions if listed_ends.get((tp.topic, tp.partition), 0) > 0
                                       and tp.topic not in self.unreadable], listed_ends)
        ends = {p: lag.end_offset(listed_end, marks.get(p)) for p, listed_end in listed_ends.items()}
        return lag.compute(committed, starts, ends, datetime.now(UTC), tuple(refused))

    def _high_watermarks(self, partitions: list[TopicPartition], listed: dict[lag.Partition, int]
                         ) -> dict[lag.Partition, int]:
        """Each partition's high watermark from a fetch of its last listed record (a small read: at most one
        batch per partition)."""
        consumer = self._consumer
        assert consumer is not None  # noqa: S101 - made by read()
        consumer.assign([])  # fresh partition states: no high watermark left from the last reading
        if not partitions:
            return {}
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, listed[(tp.topic, tp.partition)] - 1)
        deadline = time.monotonic() + FETCH_WAIT_S
        while time.monotonic() < deadline and any(consumer.highwater(tp) is None for tp in partitions):
            try:
                consumer.poll(timeout_ms=200)
            except TopicAuthorizationFailedError as exc:
                # Allowed to describe but not to read (a broker with ACLs): its listed end is used as is.
                refused = exc.args[0] if exc.args and isinstance(exc.args[0], set) else set()
                self.unreadable |= refused or {tp.topic for tp in partitions}
                self.logger.info("lag_fetch_check_skipped", topics=sorted(self.unreadable))
                return {}
        return {(tp.topic, tp.partition): hw for tp in partitions if (hw := consumer.highwater(tp)) is not None}

    def _close(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                with contextlib.suppress(Exception):  # closing what may already have failed
                    client.close()
        self._admin = self._consumer = None


def _offsets(answer: dict) -> dict[lag.Partition, int]:
    return {(tp.topic, tp.partition): found.offset for tp, found in answer.items()}


_published: set[tuple[str, str]] = set()  # the gauge's label pairs, to remove those no longer read


def publish(reading: lag.LagReading) -> None:
    """The reading as the gauge's samples; pairs no longer read are removed."""
    current = {(x.group, x.topic): x.lag for x in reading.lags}
    for labels in _published - set(current):
        metrics.CONSUMER_LAG.remove(*labels)
    for (group, topic), value in current.items():
        metrics.CONSUMER_LAG.labels(group, topic).set(value)
    _published.clear()
    _published.update(current)


def forget() -> None:
    """Unknown is not zero: no samples rather than the last reading shown as current."""
    metrics.CONSUMER_LAG.clear()
    _published.clear()
