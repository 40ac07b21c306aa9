"""Kafka clients with the settings every service shares, and topic creation."""

from __future__ import annotations

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas import topics
from services.common.settings import Settings

CLIENT_DEFAULTS = {"request_timeout_ms": 30_000}


def producer(settings: Settings, **overrides) -> KafkaProducer:
    config = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "acks": "all",
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        **CLIENT_DEFAULTS,
    }
    config.update(overrides)
    return KafkaProducer(**config)


def consumer(settings: Settings, group: str, topic_names: list[str], **overrides) -> KafkaConsumer:
    config = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "group_id": group,
        "enable_auto_commit": False,  # offsets are committed only after the database commit
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": max(500, settings.kafka_session_timeout_ms // 4),
        "max_poll_records": settings.kafka_max_poll_records,
        "fetch_max_wait_ms": 100,
        **CLIENT_DEFAULTS,
    }
    config.update(overrides)
    c = KafkaConsumer(**config)
    c.subscribe(topic_names)
    return c


def ensure_topics(settings: Settings, groups: list[str], partitions: int = 3) -> list[str]:
    """Create every registry topic and every group's dead-letter topic; returns the names created."""
    names = [t.name for t in topics.ALL] + [topics.dlq(g) for g in groups]
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=30_000)
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        created = []
        for name in missing:
            try:
                admin.create_topics([NewTopic(name, partitions, 1)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
