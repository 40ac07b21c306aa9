"""docker-compose.yml cannot run here (no Docker engine), so its wiring is checked against the code."""

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from schemas import topics
from services.cli import BUILDERS, parser
from services.common import directory, event_auth
from services.common.kafka import client_security
from services.common.settings import ENV_NAMES, Settings
from services.dashboard import dlq_reader, projection, projector
from services.devtools.stack import CONSUMER_GROUPS
from services.intake import service as intake
from services.notifier import service as notifier
from services.triage import service as triage

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
APP_SERVICES = {"intake", "triage", "notifier", "dashboard", "inbox"}
# Only under `--profile monitoring`: third-party images with their own config, not the app (checked in
# tests/unit/test_grafana_dashboard.py).
MONITORING_SERVICES = {"prometheus", "grafana"}
# Settings, and the two demo-inbox names read outside them: the directory's webhook URLs (config/partners.yaml)
# and the inbox's mail server (services/cli.py, cmd_inbox).
KNOWN_ENV = {ENV_NAMES.get(f.name, f.name.upper()) for f in fields(Settings)} | {"DEMO_INBOX_URL", "DEMO_SMTP_PORT"}


def test_every_service_is_there_with_a_healthcheck():
    services = COMPOSE["services"]
    assert set(services) == {"kafka", "kafka-init", "postgres", "init", *APP_SERVICES, *MONITORING_SERVICES}
    assert set(BUILDERS) <= set(services)
    for name in ("kafka", "postgres", *APP_SERVICES):
        assert services[name].get("healthcheck"), name
    for name in MONITORING_SERVICES:  # never started by a plain `docker compose up`
        assert services[name]["profiles"] == ["monitoring"], name
    assert all("profiles" not in services[name] for name in set(services) - MONITORING_SERVICES)
    assert "KRaft" in (ROOT / "docker-compose.yml").read_text()
    assert broker_properties()["process.roles"] == "broker,controller"


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
    assert services["kafka-init"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert services["init"]["depends_on"] == {"kafka-init": {"condition": "service_completed_successfully"},
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


def test_the_notifier_mails_the_demo_inbox():
    """E-mail partners' cases go to the inbox's SMTP server, on the port the inbox listens on."""
    notifier, inbox = (COMPOSE["services"][name]["environment"] for name in ("notifier", "inbox"))
    assert (notifier["SMTP_HOST"], notifier["SMTP_PORT"]) == ("inbox", inbox["DEMO_SMTP_PORT"])
    settings = Settings.from_env({k: with_defaults(v) for k, v in notifier.items()})
    assert settings.smtp_tls == "none" and settings.smtp_port == int(inbox["DEMO_SMTP_PORT"])
    assert "@" in settings.smtp_from


def test_each_signing_key_is_the_one_its_public_key_in_the_shared_list_verifies():
    env = {name: {k: with_defaults(v) for k, v in COMPOSE["services"][name]["environment"].items()}
           for name in event_auth.SERVICES}
    public = event_auth.parse_public_keys(env["intake"]["GRIEVANCE_EVENT_KEYS"])
    assert set(public) == set(event_auth.SERVICES)
    for name in event_auth.SERVICES:
        assert env[name]["GRIEVANCE_EVENT_KEYS"] == env["intake"]["GRIEVANCE_EVENT_KEYS"]
        assert public_key_of(env[name]["GRIEVANCE_SIGNING_KEY"]) in public[name], name


def public_key_of(private_b64: str) -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_b64))
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_compose_tool_validates_the_file():
    result = subprocess.run(["docker-compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------ the broker's principals and ACLs

KAFKA_CLIENTS = ("init", "intake", "triage", "notifier", "dashboard")  # the compose services on the broker
SERVICE_GROUPS = {"intake": (intake.SUBMISSIONS_GROUP, intake.FEEDBACK_GROUP, intake.STATUS_GROUP),
                  "triage": (triage.GROUP,),
                  "notifier": (notifier.GROUP,),
                  "dashboard": (projector.GROUP, dlq_reader.GROUP)}
# What each consumer group reads (its ConsumerSpec in the service's build(); the dashboard's dead-letter reader
# is a thread of its own).
CONSUMES = {intake.SUBMISSIONS_GROUP: (topics.SUBMISSIONS.name,), intake.FEEDBACK_GROUP: (topics.FEEDBACK.name,),
            intake.STATUS_GROUP: tuple(t.name for t in intake._STATUS_TOPICS),
            triage.GROUP: (topics.RECEIVED.name,), notifier.GROUP: (topics.ROUTED.name, topics.CASE_UPDATED.name),
            projector.GROUP: tuple(projection.TOPICS), dlq_reader.GROUP: tuple(dlq_reader.dlq_topics())}
# The groups of the services' consumer loops: each sets bad records aside on its `<group>.dlq`, which
# `grievance topics` creates (CONSUMER_GROUPS) and the dashboard reads and requeues from.
DEAD_LETTERING = (*topics.CONSUMER_GROUPS, projector.GROUP)
# A requeued dead letter goes back, unchanged and still signed by its producer, to the topic it came from.
REQUEUED = {t for g in DEAD_LETTERING for t in CONSUMES[g]}
GROUP_OPERATIONS = {"Read", "Describe", "Delete"}


def with_defaults(value: object) -> str:
    return re.sub(r"\$\{\w+:-([^}]*)\}", lambda m: m.group(1), str(value))


def broker_properties() -> dict[str, str]:
    script = (ROOT / "deploy" / "kafka" / "broker.sh").read_text()
    body = re.search(r'cat > "\$CONFIG" <<EOF\n(.*?)\nEOF', script, re.S).group(1)
    return dict(line.split("=", 1) for line in body.splitlines() if line and not line.startswith("#"))


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory) -> tuple[set[tuple[str, str, str, str, str]], dict[str, str]]:
    """(grants, users: name → password) that kafka-init makes."""
    return grants_and_users(provisioning(tmp_path_factory.mktemp("kafka-init")))


def provisioning(tmp_path: Path) -> list[list[str]]:
    """Every Kafka tool invocation principals.sh makes, run as kafka-init would (its compose environment at
    its defaults), with stand-ins for kafka-configs.sh and kafka-acls.sh that only record their arguments."""
    log = tmp_path / "calls.jsonl"
    for tool in ("kafka-configs.sh", "kafka-acls.sh"):
        stub = tmp_path / tool
        stub.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                        "open(os.environ['STUB_LOG'], 'a').write(json.dumps([os.path.basename(sys.argv[0]),"
                        " *sys.argv[1:]]) + '\\n')\n")
        stub.chmod(0o755)
    init = COMPOSE["services"]["kafka-init"]
    env = {k: with_defaults(v) for k, v in init["environment"].items()}
    env.update(PATH=os.environ["PATH"], KAFKA_BIN=str(tmp_path), STUB_LOG=str(log),
               PARTNERS_FILE=str(ROOT / "config" / "partners.yaml"))
    assert init["command"] == ["sh", "/deploy/principals.sh"]
    assert "./config/partners.yaml:/deploy/partners.yaml:ro" in init["volumes"]
    result = subprocess.run(["sh", str(ROOT / "deploy" / "kafka" / "principals.sh")], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def options(args: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    flags_without_value = {"--add", "--force", "--alter"}
    i = 0
    while i < len(args):
        if args[i] in flags_without_value:
            found.setdefault(args[i], [])
            i += 1
        else:
            found.setdefault(args[i], []).append(args[i + 1])
            i += 2
    return found


def grants_and_users(calls: list[list[str]]) -> tuple[set[tuple[str, str, str, str, str]], dict[str, str]]:
    grants, users = set(), {}
    for tool, *args in calls:
        opts = options(args)
        assert opts["--bootstrap-server"] == ["kafka:9092"] and len(opts["--command-config"]) == 1
        if tool == "kafka-configs.sh":
            assert opts["--entity-type"] == ["users"] and "--alter" in opts
            (name,), (config,) = opts["--entity-name"], opts["--add-config"]
            users[name] = re.fullmatch(r"SCRAM-SHA-512=\[password=(.+)\]", config).group(1)
            continue
        assert tool == "kafka-acls.sh" and "--add" in opts
        pattern = opts.get("--resource-pattern-type", ["literal"])[0]
        resources = [("topic", t) for t in opts.get("--topic", [])] + [("group", g) for g in opts.get("--group", [])]
        for principal, operation, (kind, name) in itertools.product(opts["--allow-principal"], opts["--operation"],
                                                                     resources):
            assert kind == "topic" or operation in GROUP_OPERATIONS, (operation, kind, name)
            grants.add((principal.removeprefix("User:"), operation, kind, name, pattern))
    return grants, users


def expected_grants(partners: list[str]) -> set[tuple[str, str, str, str, str]]:
    """From the topic registry: who produces each topic; from the services: who reads what."""
    assert set(CONSUMES) == {g for gs in SERVICE_GROUPS.values() for g in gs} == {*DEAD_LETTERING, dlq_reader.GROUP}
    assert set(CONSUMER_GROUPS) == set(DEAD_LETTERING)
    assert set(CONSUMES[dlq_reader.GROUP]) == {topics.dlq(g) for g in DEAD_LETTERING}  # every dead letter
    every_topic = {t.name for t in topics.ALL} | {topics.dlq(g) for g in CONSUMER_GROUPS}
    # Creating and describing every topic: `grievance topics`, and each service's broker watch and repair.
    expected = {(p, op, "topic", t, "literal") for p in KAFKA_CLIENTS for op in ("Create", "Describe")
                for t in every_topic}
    for service, groups in SERVICE_GROUPS.items():
        writes = {t.name for t in topics.ALL if t.producer in (service, "every service")}
        writes |= {topics.dlq(g) for g in groups if g in DEAD_LETTERING}
        writes |= REQUEUED if service == "dashboard" else set()
        reads = {t for g in groups for t in CONSUMES[g]}
        expected |= {(service, "Write", "topic", t, "literal") for t in writes}
        expected |= {(service, "Read", "topic", t, "literal") for t in reads}
        expected |= {(service, "Read", "group", g, "literal") for g in groups}
    # The dashboard's lag reader reads every service group's committed offsets (OffsetFetch needs Describe).
    expected |= {("dashboard", "Describe", "group", g, "literal") for g in topics.CONSUMER_GROUPS}
    from_partners = [t.name for t in topics.ALL if t.producer == "partners"]
    assert from_partners == [t.name for t in topics.FROM_PARTNERS]
    for partner in partners:
        expected |= {(partner, op, "topic", t, "literal") for op in ("Write", "Describe") for t in from_partners}
        expected |= {(partner, op, "topic", topics.REJECTED.name, "literal") for op in ("Read", "Describe")}
        expected.add((partner, "Read", "group", partner, "prefixed"))  # consumer groups named after itself
    return expected


def test_acls_let_each_principal_do_only_what_the_code_does(provisioned):
    partners = [p.id for p in directory.load(ROOT / "config").partners]
    grants, users = provisioned
    assert set(users) == {*KAFKA_CLIENTS, *partners}
    expected = expected_grants(partners)
    # A topic, producer or consumer group added in the code needs its line in deploy/kafka/principals.sh.
    assert (sorted(expected - grants), sorted(grants - expected)) == ([], []), "(missing grants, extra grants)"
    # Nobody but the producer the registry names writes a topic between services, and the dashboard, which
    # puts dead letters back where they came from (their consumers check the producer's signature).
    for topic in topics.ALL:
        writers = {p for p, op, kind, name, _ in grants if op == "Write" and name == topic.name}
        producers = (set(event_auth.SERVICES) if topic.producer == "every service" else
                     set(partners) if topic.producer == "partners" else {topic.producer})
        assert writers == producers | ({"dashboard"} if topic.name in REQUEUED else set()), topic.name


def test_each_service_logs_in_as_its_own_principal_with_the_password_kafka_init_gave_it(provisioned):
    _, users = provisioned
    mechanisms = broker_properties()["sasl.enabled.mechanisms"]
    for name in KAFKA_CLIENTS:
        env = {k: with_defaults(v) for k, v in COMPOSE["services"][name]["environment"].items()}
        settings = Settings.from_env(env)
        assert client_security(settings) == {
            "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanisms,
            "sasl_plain_username": name, "sasl_plain_password": users[name]}, name
    assert client_security(Settings()) == {}  # the bundled dev broker: plaintext, no login


def test_the_broker_takes_clients_only_over_sasl_and_allows_nothing_no_acl_allows():
    props = broker_properties()
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    for listener in props["listeners"].split(","):
        name, address = listener.split("://")
        # The one plaintext listener is the controller's, on the loopback interface only.
        assert protocols[name] == "SASL_PLAINTEXT" or address.startswith("127.0.0.1:"), listener
    assert props["advertised.listeners"] == "SASL_PLAINTEXT://kafka:9092"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin;User:ANONYMOUS"
    assert COMPOSE["services"]["kafka"]["command"] == ["sh", "/deploy/broker.sh"]
    for script in ("broker.sh", "principals.sh"):
        subprocess.run(["sh", "-n", str(ROOT / "deploy" / "kafka" / script)], check=True)
