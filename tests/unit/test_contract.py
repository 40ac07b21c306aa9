"""The checked-in JSON Schemas and AsyncAPI document are what the models generate."""

import json

import yaml

from schemas import generate, topics


def test_checked_in_contract_matches_the_models():
    assert generate.check() == [], "run `grievance schemas` and commit the result"


def test_every_topic_has_a_schema_and_a_channel():
    doc = yaml.safe_load(generate.ASYNCAPI_FILE.read_text())
    assert doc["asyncapi"].startswith("3.")
    assert {c["address"] for c in doc["channels"].values()} == {t.name for t in topics.ALL}
    for t in topics.ALL:
        schema = json.loads((generate.JSONSCHEMA_DIR / f"{t.name}.json").read_text())
        assert schema["additionalProperties"] is (t in topics.FROM_PARTNERS)


def test_topic_registry_is_one_to_one():
    assert len(topics.BY_NAME) == len(topics.ALL) == len(topics.BY_EVENT_TYPE)
    assert all(topics.for_model(t.model) is t for t in topics.ALL)
