"""Generates the published contract from the models: one JSON Schema per topic and an AsyncAPI 3.0
document. The files are checked in; `grievance schemas --check` (and a test) fail when they drift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from schemas import topics
from schemas.envelope import CONTENT_TYPE, SPECVERSION

HERE = Path(__file__).resolve().parent
JSONSCHEMA_DIR = HERE / "jsonschema"
ASYNCAPI_FILE = HERE / "asyncapi.yaml"

# What a service consumes, beside what it produces (the registry's `producer`).
CONSUMERS = {
    "grievance.submissions": ["intake"],
    "grievance.received": ["triage"],
    "grievance.rejected": ["partners"],
    "grievance.triaged": ["intake"],
    "case.routed": ["notifier", "intake"],
    "notification.delivered": ["intake"],
    "notification.failed": ["intake"],
    "directory.changed": ["operators"],
    "consent.changed": ["operators"],
    "operator.alerts": ["operators"],
    "case.updated": ["notifier", "partners", "operators"],
    "case.feedback": ["intake"],
    "case.sla_breached": ["intake", "operators"],
}


def json_schema(topic: topics.Topic) -> dict[str, Any]:
    schema = topic.model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://grievance-pipeline.org/schemas/{topic.name}.json"
    schema["description"] = topic.description
    if topic in topics.FROM_PARTNERS:
        # Tolerant on purpose: partners may send fields we do not know yet; they are ignored.
        schema["additionalProperties"] = True
    return schema


def asyncapi() -> dict[str, Any]:
    channels, operations, messages = {}, {}, {}
    ce_headers = {
        "type": "object",
        "description": "CloudEvents 1.0, Kafka binary content mode",
        "properties": {
            "ce_specversion": {"const": SPECVERSION}, "ce_id": {"type": "string"},
            "ce_source": {"type": "string"}, "ce_type": {"type": "string"},
            "ce_time": {"type": "string", "format": "date-time"}, "ce_subject": {"type": "string"},
            "content-type": {"const": CONTENT_TYPE},
        },
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type"],
    }
    for t in topics.ALL:
        msg = t.model.__name__
        messages[msg] = {
            "name": msg, "title": t.event_type, "contentType": CONTENT_TYPE, "summary": t.description,
            "headers": ce_headers if t not in topics.FROM_PARTNERS else {"type": "object"},
            "payload": {"$ref": f"./jsonschema/{t.name}.json"},
            "bindings": {"kafka": {"key": {"type": "string", "description": f"the event's {t.key_field}"}}},
        }
        cid = t.name.replace(".", "_")
        channels[cid] = {"address": t.name, "description": t.description,
                         "messages": {msg: {"$ref": f"#/components/messages/{msg}"}}}
        operations[f"{t.producer}_sends_{cid}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [{"$ref": f"#/channels/{cid}/messages/{msg}"}]}
        for consumer in CONSUMERS[t.name]:
            operations[f"{consumer}_receives_{cid}"] = {
                "action": "receive", "channel": {"$ref": f"#/channels/{cid}"},
                "messages": [{"$ref": f"#/channels/{cid}/messages/{msg}"}]}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "grievance-pipeline events", "version": "1.0.0",
                 "description": "Topics of the grievance pipeline. Every consumer group also has a "
                                "`<group>.dlq` dead-letter topic carrying the original bytes and "
                                "`kafka_dlt-*` headers."},
        "defaultContentType": CONTENT_TYPE,
        "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka"}},
        "channels": channels, "operations": operations, "components": {"messages": messages},
    }


def rendered() -> dict[Path, str]:
    files = {JSONSCHEMA_DIR / f"{t.name}.json": json.dumps(json_schema(t), indent=2, ensure_ascii=False) + "\n"
             for t in topics.ALL}
    files[ASYNCAPI_FILE] = yaml.safe_dump(asyncapi(), sort_keys=False, allow_unicode=True, width=100)
    return files


def write() -> list[str]:
    JSONSCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for path, text in rendered().items():
        path.write_text(text, encoding="utf-8")
        written.append(str(path.relative_to(HERE.parent)))
    return written


def check() -> list[str]:
    """The files that differ from what the models generate (missing ones included)."""
    return [str(p.relative_to(HERE.parent)) for p, text in rendered().items()
            if not p.exists() or p.read_text(encoding="utf-8") != text]
