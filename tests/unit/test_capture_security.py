"""`grievance capture` reads a broker that demands a login with the same security settings as the services
(the bundled dev broker cannot log anyone in, so this checks the client configuration it is given)."""

from __future__ import annotations

import pytest

from services.common.settings import Settings
from services.devtools import replay


class Refused(Exception):
    pass


def test_capture_passes_the_sasl_settings_to_its_consumer(monkeypatch):
    given: dict = {}

    def consumer(**config):
        given.update(config)
        raise Refused

    monkeypatch.setattr(replay, "KafkaConsumer", consumer)
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "broker:9093", "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                                  "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "operator",
                                  "KAFKA_SASL_PASSWORD": "operator-password", "KAFKA_SSL_CAFILE": "/ca.pem"})
    with pytest.raises(Refused):
        list(replay.read_range(settings, "grievance.received"))
    assert given["bootstrap_servers"] == "broker:9093"
    assert (given["security_protocol"], given["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (given["sasl_plain_username"], given["sasl_plain_password"]) == ("operator", "operator-password")
    assert given["ssl_cafile"] == "/ca.pem"
