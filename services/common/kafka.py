"""Kafka clients with the settings every service shares, topic creation, and the broker watch."""

from __future__ import annotations

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas import topics
from services.common import logging as log
from services.common.settings import Settings

CLIENT_DEFAULTS = {"request_timeout_ms": 30_000}


def client_security(settings: Settings) -> dict[str, str]:
    """The broker security settings given (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_CAFILE) as
    kafka-python client configs; nothing when none is set, so the bundled dev broker stays plaintext."""
    given = {
        "security_protocol": settings.kafka_security_protocol,
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": settings.kafka_sasl_username,  # kafka-python's name for SCRAM users too
        "sasl_plain_password": settings.kafka_sasl_password,
        "ssl_cafile": settings.kafka_ssl_cafile,
    }
    return {name: value for name, value in given.items() if value}


def producer(settings: Settings, **overrides) -> KafkaProducer:
    config = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "acks": "all",
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        **CLIENT_DEFAULTS,
        **client_security(settings),
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
        # A batch takes seconds at most; a member that vanished mid-join holds the group's rebalance for
        # this long, so keep it short rather than the client's five minutes.
        "max_poll_interval_ms": 60_000,
        # Topics are ours to create, with our partition counts; a consumer must never create one.
        "allow_auto_create_topics": False,
        "metadata_max_age_ms": 10_000,  # notice recreated topics and new partitions within seconds
        **CLIENT_DEFAULTS,
        **client_security(settings),
    }
    config.update(overrides)
    c = KafkaConsumer(**config)
    c.subscribe(topic_names)
    return c


def ensure_topics(settings: Settings, groups: list[str] | tuple[str, ...] = topics.CONSUMER_GROUPS,
                  partitions: int | None = None, admin: KafkaAdminClient | None = None) -> list[str]:
    """Create every registry topic and every group's dead-letter topic; returns the names created."""
    names = [t.name for t in topics.ALL] + [topics.dlq(g) for g in groups]
    own = admin is None
    admin = admin or KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=30_000,
                                      **client_security(settings))
    try:
        existing = set(admin.list_topics())
        created = []
        for name in (n for n in names if n not in existing):
            try:
                admin.create_topics([NewTopic(name, partitions or settings.kafka_partitions, 1)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        if own:
            admin.close()


class BrokerWatch:
    """Notices that the broker lost our topics: one missing, or recreated under a new topic id.

    Kafka keeps topics across restarts; the bundled in-memory broker does not, and a real cluster can
    lose a topic to an operator's mistake. Either way, what was on the topic is gone and consumers'
    offsets point nowhere: the caller re-creates the topics and publishes its retained events again."""

    def __init__(self, settings: Settings, seen: dict[str, str | None] | None = None):
        self.settings = settings
        self.admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=10_000,
                                      **client_security(settings))
        # topic name -> topic id when last seen; kept by the caller across reconnections, since a broker
        # that restarts is exactly when the client reconnects and the topics come back under new ids
        self.seen: dict[str, str | None] = {} if seen is None else seen
        self.warned: set[str] = set()

    def check(self) -> list[str]:
        """What changed since the last check, as sentences; empty when all is as before."""
        described = {t["name"]: t for t in self.admin.describe_topics([t.name for t in topics.ALL])}
        problems = []
        for topic in topics.ALL:
            found = described.get(topic.name) or {}
            topic_id = str(found["topic_id"]) if found.get("error_code") == 0 and found.get("topic_id") else None
            if topic_id is None:
                problems.append(f"topic {topic.name} is missing")
            elif topic.name in self.seen and self.seen[topic.name] not in (None, topic_id):
                problems.append(f"topic {topic.name} was recreated")
            elif len(found["partitions"]) != self.settings.kafka_partitions and topic.name not in self.warned:
                self.warned.add(topic.name)
                log.get().warning("topic_partitions_differ", topic=topic.name, partitions=len(found["partitions"]),
                                  declared=self.settings.kafka_partitions)
            self.seen[topic.name] = topic_id
        return problems

    def repair(self) -> list[str]:
        created = ensure_topics(self.settings, admin=self.admin)
        self.seen.clear()
        self.check()
        return created

    def close(self) -> None:
        self.admin.close()
