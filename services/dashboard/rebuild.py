"""`grievance dashboard rebuild`: the read model again from the topics. With the dashboard stopped, it empties
the projected tables, forgets the events seen, and deletes the dashboard's consumer groups, so the next start
reads every topic from its beginning (as far back as the broker's retention keeps). Acknowledgements,
requeues, sessions and the audit log are the dashboard's own and stay."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient
from kafka.errors import GroupIdNotFoundError

from services.common import db
from services.common.kafka import CLIENT_DEFAULTS, client_security
from services.common.settings import Settings
from services.dashboard import read_store
from services.dashboard.dlq_reader import GROUP as DLQ_GROUP
from services.dashboard.projector import GROUP

GROUPS = [GROUP, DLQ_GROUP]


def rebuild(settings: Settings) -> list[str]:
    """Returns the consumer groups deleted (a group the broker never had is not an error)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, **CLIENT_DEFAULTS,
                             **client_security(settings))
    try:
        deleted = []
        # kafka-python 3 answers {group: "OK" or the error's class name} (older releases: a list of pairs)
        for group, result in dict(admin.delete_groups(GROUPS)).items():
            if result in ("OK", GroupIdNotFoundError.__name__):
                deleted.append(group)
            else:
                raise RuntimeError(f"the broker would not delete consumer group {group}: {result}"
                                   " (is the dashboard still running?)")
    finally:
        admin.close()
    conn = db.connect(settings.database_url)
    try:
        with db.transaction(conn) as cur:
            read_store.clear(cur, GROUPS)
    finally:
        conn.close()
    return deleted
