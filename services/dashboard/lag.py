"""Consumer lag: how far each consumer group's committed offsets are behind the end of the partitions it
reads. Pure: the broker's answers come in as plain mappings (services/dashboard/lag_reader.py asks for them).

A group's topics are those it has committed offsets on (the broker keeps no subscription for a stopped
group). A partition of such a topic without a committed offset counts from the partition's start, where the
group's consumers begin (auto_offset_reset=earliest)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

Partition = tuple[str, int]  # (topic, partition)


@dataclass(frozen=True)
class TopicLag:
    group: str
    topic: str
    lag: int  # records at the end of the topic the group has not committed
    partitions: int
    behind: int  # partitions with a lag


@dataclass(frozen=True)
class LagReading:
    at: datetime
    lags: tuple[TopicLag, ...]
    idle_groups: tuple[str, ...]  # known groups with no committed offset at all
    refused_groups: tuple[str, ...] = ()  # groups whose offsets this principal may not read (broker ACLs)

    def total(self, group: str) -> int:
        return sum(x.lag for x in self.lags if x.group == group)


def end_offset(listed: int, high_watermark: int | None) -> int:
    """A partition's end: the larger of the broker's ListOffsets answer and the high watermark of a fetch.
    Some Kafka-protocol brokers answer ListOffsets with the last batch's base offset + 1, short of the end
    when that batch holds several records; a fetch's high watermark is right there. Either alone is the end
    on Apache Kafka."""
    return max(listed, high_watermark if high_watermark is not None else -1)


def compute(committed: Mapping[str, Mapping[Partition, int]], starts: Mapping[Partition, int],
            ends: Mapping[Partition, int], at: datetime, refused: tuple[str, ...] = ()) -> LagReading:
    """Lag per (group, topic) from each group's committed offsets and each partition's start and end."""
    lags = []
    for group in sorted(committed):
        offsets = {p: o for p, o in committed[group].items() if o is not None and o >= 0}
        for topic in sorted({t for t, _ in offsets}):
            partitions = sorted(p for p in ends if p[0] == topic)
            behind = [max(ends[p] - offsets.get(p, starts.get(p, 0)), 0) for p in partitions]
            lags.append(TopicLag(group, topic, sum(behind), len(partitions), sum(1 for b in behind if b)))
    idle = tuple(sorted(g for g in committed if not any(x.group == g for x in lags)))
    return LagReading(at, tuple(lags), idle, tuple(sorted(refused)))
