"""docker-compose.yml cannot run here (no Docker engine), so its wiring is checked against the code."""

import shutil
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from services.cli import BUILDERS, parser
from services.common.settings import ENV_NAMES, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
APP_SERVICES = {"intake", "triage", "notifier", "inbox"}
KNOWN_ENV = {ENV_NAMES.get(f.name, f.name.upper()) for f in fields(Settings)} | {"DEMO_INBOX_URL"}


def test_every_service_is_there_with_a_healthcheck():
    services = COMPOSE["services"]
    assert set(services) == {"kafka", "postgres", "init", *APP_SERVICES}
    assert set(BUILDERS) <= set(services)
    for name in ("kafka", "postgres", *APP_SERVICES):
        assert services[name].get("healthcheck"), name
    assert "KRaft" in (ROOT / "docker-compose.yml").read_text()
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_commands_are_real_cli_commands():
    for name in APP_SERVICES:
        command = COMPOSE["services"][name]["command"]
        assert command[0] == "grievance"
        parser().parse_args(command[1:])  # raises SystemExit on an unknown command
    init = " ".join(COMPOSE["services"]["init"]["command"])
    # Without the partner directory in PostgreSQL, intake refuses every key.
    assert "grievance migrate" in init and "grievance topics" in init and "grievance directory load" in init


def test_services_start_after_init_which_waits_for_healthy_infrastructure():
    services = COMPOSE["services"]
    assert services["init"]["depends_on"] == {"kafka": {"condition": "service_healthy"},
                                              "postgres": {"condition": "service_healthy"}}
    for name in APP_SERVICES:
        assert services[name]["depends_on"] == {"init": {"condition": "service_completed_successfully"}}


def test_environment_names_are_settings_the_code_reads_and_ports_match():
    for name in APP_SERVICES:
        env = COMPOSE["services"][name]["environment"]
        assert set(env) <= KNOWN_ENV, set(env) - KNOWN_ENV
        port = env["GRIEVANCE_HTTP_PORT"]
        published = COMPOSE["services"][name]["ports"][0].split(":")[1]
        assert published == port
        assert port in str(COMPOSE["services"][name]["healthcheck"]["test"])
    assert COMPOSE["services"]["intake"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_the_notifier_can_ask_intake_for_contact_details():
    """Full-disclosure deliveries need the contact details from intake: its URL, and one token for both."""
    intake, notifier = (COMPOSE["services"][name]["environment"] for name in ("intake", "notifier"))
    assert notifier["INTAKE_URL"] == f"http://intake:{intake['GRIEVANCE_HTTP_PORT']}"
    assert intake["GRIEVANCE_INTERNAL_TOKEN"] == notifier["GRIEVANCE_INTERNAL_TOKEN"]
    assert notifier["GRIEVANCE_INTERNAL_TOKEN"].startswith("${GRIEVANCE_INTERNAL_TOKEN:-")  # a demo default


def test_the_image_builds_from_the_dockerfile():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert COMPOSE["services"]["intake"]["build"] == "."
    for path in ("schemas", "services", "migrations", "config"):
        assert f"COPY {path} {path}" in dockerfile


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_compose_tool_validates_the_file():
    result = subprocess.run(["docker-compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
