"""Settings from environment variables: one frozen object, read once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS_DIR = REPO_ROOT / "migrations"


@dataclass(frozen=True)
class Settings:
    # field name → environment variable: the upper-cased name unless ENV_NAMES says otherwise
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/grievance"
    config_dir: Path = REPO_ROOT / "config"
    data_key: str = ""  # Fernet key for contact details at rest
    kafka_session_timeout_ms: int = 6000
    kafka_max_poll_records: int = 500
    kafka_partitions: int = 3  # of every topic we create
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    webhook_timeout_s: float = 5.0
    # 0: per urgency from config/delivery.yaml (the retry horizon decides); set, they override it (tests)
    delivery_max_attempts: int = 0
    delivery_backoff_s: float = 0.0
    delivery_concurrency: int = 16
    log_level: str = "info"
    # A loop that fails this many cycles in a row for a reason other than a dependency outage exits the
    # process (non-zero), so its supervisor restarts it.
    loop_max_failures: int = 5
    # Processed-event ids are kept this long: longer than any topic retention or replay.
    processed_retention_days: int = 30
    # Published outbox rows are kept this long, so what a broker loses can be published again.
    outbox_retention_hours: int = 24
    # Shared secret for service-to-service calls (the notifier asking intake for contact details).
    internal_token: str = ""
    # This service's Ed25519 private key, and every service's public key (`intake=…,triage=…,notifier=…`):
    # internal events are signed by their producer and checked by every consumer.
    signing_key: str = ""
    event_keys: str = ""
    intake_url: str = "http://127.0.0.1:8080"
    # The delivery policy file (backoff, horizon per urgency, per-partner limit, breaker, lease); empty:
    # config/delivery.yaml in the config directory.
    delivery_policy: str = ""
    # Partners' signed Kafka submissions: how far a webhook-timestamp may be from our clock (replay window).
    submission_tolerance_s: int = 300
    # Broker security, as kafka-python names it: empty means PLAINTEXT (the bundled dev broker). With
    # SASL_PLAINTEXT or SASL_SSL, the service's own principal (docker-compose.yml: SCRAM-SHA-512).
    kafka_security_protocol: str = ""
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_cafile: str = ""  # CA bundle that signed the broker's certificate (SSL, SASL_SSL)
    # E-mail delivery, for partners with an e-mail address and no webhook. SMTP_TLS: starttls, tls (implicit,
    # usually port 465) or none (a relay on this host only: contact details are then never put in a mail).
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_username: str = ""  # AUTH when set
    smtp_password: str = ""
    smtp_from: str = ""  # the sender address; its domain ends every Message-ID
    smtp_timeout_s: float = 10.0
    smtp_cafile: str = ""  # CA bundle that signed the relay's certificate; empty: the system's

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        values = {}
        for f in fields(cls):
            raw = env.get(ENV_NAMES.get(f.name, f.name.upper()))
            if raw:
                values[f.name] = Path(raw) if f.type == "Path" else _cast(f.default, raw)
        return cls(**values)


ENV_NAMES = {
    "config_dir": "GRIEVANCE_CONFIG_DIR",
    "data_key": "GRIEVANCE_DATA_KEY",
    "http_host": "GRIEVANCE_HTTP_HOST",
    "http_port": "GRIEVANCE_HTTP_PORT",
    "internal_token": "GRIEVANCE_INTERNAL_TOKEN",
    "signing_key": "GRIEVANCE_SIGNING_KEY",
    "event_keys": "GRIEVANCE_EVENT_KEYS",
}


def _cast(default: object, raw: str) -> object:
    return type(default)(raw) if isinstance(default, int | float) else raw
