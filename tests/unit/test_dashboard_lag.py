"""Consumer lag from the broker's answers (pure): committed offsets against partition ends, partitions never
committed counted from their start, the end taken from the larger of ListOffsets and a fetch's high watermark,
and the gauge keeping only the pairs last read."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import REGISTRY

from services.dashboard import lag
from services.dashboard.lag_reader import publish

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_lag_is_the_end_minus_the_committed_offset_summed_over_a_topics_partitions():
    committed = {"triage": {("grievance.received", 0): 7, ("grievance.received", 1): 3}}
    ends = {("grievance.received", 0): 10, ("grievance.received", 1): 3, ("grievance.received", 2): 4,
            ("case.routed", 0): 50}
    starts = {("grievance.received", 2): 1}
    reading = lag.compute(committed, starts, ends, AT)
    # partition 2 was never committed: the group starts there from the partition's start (1)
    assert reading.lags == (lag.TopicLag("triage", "grievance.received", 3 + 0 + 3, 3, 2),)
    assert reading.total("triage") == 6 and reading.idle_groups == () and reading.at == AT


def test_groups_without_offsets_are_idle_and_no_lag_is_negative():
    committed = {"notifier": {}, "intake-status": {("case.routed", 0): 12, ("case.updated", 0): -1}}
    reading = lag.compute(committed, {}, {("case.routed", 0): 9, ("case.updated", 0): 4}, AT)
    # -1 is the broker's "no offset": that topic is not known to be the group's
    assert [(x.group, x.topic, x.lag) for x in reading.lags] == [("intake-status", "case.routed", 0)]
    assert reading.idle_groups == ("notifier",) and reading.refused_groups == ()
    refused = lag.compute({}, {}, {}, AT, refused=("triage", "intake-status"))
    assert refused.refused_groups == ("intake-status", "triage") and refused.lags == ()


def test_the_end_is_the_larger_of_the_listed_offset_and_the_high_watermark():
    assert lag.end_offset(6, 10) == 10  # the listed end was the last batch's base + 1
    assert lag.end_offset(10, 10) == 10 and lag.end_offset(4, None) == 4 and lag.end_offset(0, 0) == 0


def sample(group: str, topic: str) -> float | None:
    return REGISTRY.get_sample_value("grievance_consumer_lag", {"group": group, "topic": topic})


def test_the_gauge_holds_exactly_the_last_reading():
    publish(lag.compute({"g-a": {("t1", 0): 1}, "g-b": {("t2", 0): 0}}, {}, {("t1", 0): 5, ("t2", 0): 2}, AT))
    assert sample("g-a", "t1") == 4 and sample("g-b", "t2") == 2
    publish(lag.compute({"g-a": {("t1", 0): 5}}, {}, {("t1", 0): 5}, AT))
    assert sample("g-a", "t1") == 0 and sample("g-b", "t2") is None
