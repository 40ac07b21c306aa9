"""docker-compose.yml as written, without Docker: each compose service's exact command and environment
(the image's ENV included) run as a local process, against the bundled broker and a fresh database on the
local PostgreSQL. Only network names are mapped (kafka:9092, postgres:5432, http://intake:8080,
http://inbox:8090, the demo inbox's SMTP server inbox:8025, and each service's HTTP port); every other variable
is what the file sets, with each ${VAR:-default} taken at its default, as `docker compose up` does with nothing
set."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from services.common import db
from services.common.settings import REPO_ROOT
from services.devtools.dev import DEMO_COMPLAINT
from services.devtools.stack import Stack, die_with_parent, free_port

from .conftest import wait_for

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
APP_SERVICES = ("inbox", "intake", "triage", "notifier", "dashboard")  # the order compose may start them in: any
AUTH = {"Authorization": "Bearer demo-key-ngo-np"}  # the key in the README's curl
VENV_BIN = Path(sys.executable).parent
# Paths inside the image, and the one address that must not be 0.0.0.0 outside a container.
IMAGE_PATHS = {"/app/config": str(REPO_ROOT / "config"), "0.0.0.0": "127.0.0.1"}
BROKER_LOGIN = ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD")


def image_env() -> dict[str, str]:
    """The Dockerfile's ENV lines."""
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(item.split("=", 1) for item in shlex.split(line[4:]))
    return env


def with_defaults(value: str) -> str:
    resolved = re.sub(r"\$\{\w+:-([^}]*)\}", lambda m: m.group(1), str(value))
    assert "$" not in resolved, f"{value}: only ${{VAR:-default}} is mapped"
    return resolved


def local_env(service: str, network: dict[str, str], database_url: str, http_port: int,
              smtp_port: int) -> dict[str, str]:
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(REPO_ROOT), "LANG": "C.UTF-8"}
    env.update({k: IMAGE_PATHS.get(v, v) for k, v in image_env().items()})
    for name, raw in COMPOSE[service]["environment"].items():
        value = with_defaults(raw)
        if value.startswith("postgresql://"):
            url = urlsplit(value)
            assert (url.hostname, url.port, url.password) == ("postgres", 5432, "postgres"), value
            value = database_url
        for compose_address, local in network.items():
            value = value.replace(compose_address, local)
        if name == "SMTP_HOST":  # the demo inbox's mail server, by its bare compose host name
            assert value == "inbox", value
            value = "127.0.0.1"
        if name in ("SMTP_PORT", "DEMO_SMTP_PORT"):
            assert value == COMPOSE["inbox"]["environment"]["DEMO_SMTP_PORT"], (name, value)
            value = str(smtp_port)
        env[name] = value
    env["GRIEVANCE_HTTP_PORT"] = str(http_port)
    # The bundled broker cannot authenticate anyone (README, Security model), so the local run is
    # plaintext; the SASL principals and ACLs are checked in tests/unit/test_compose.py.
    for name in BROKER_LOGIN:
        env.pop(name, None)
    leftover = {k: v for k, v in env.items() if re.search(r"\b(kafka|postgres|intake|inbox):\d", v)}
    assert not leftover, f"unmapped network names in {service}: {leftover}"
    return env


def health_url(service: str, port: int) -> str:
    """The URL in the compose healthcheck, on the service's local port."""
    url = urlsplit(re.search(r"http://[^'\" ]+", " ".join(COMPOSE[service]["healthcheck"]["test"])).group(0))
    assert str(url.port) == COMPOSE[service]["environment"]["GRIEVANCE_HTTP_PORT"], url
    return url._replace(netloc=f"127.0.0.1:{port}").geturl()


@pytest.fixture()
def broker(tmp_path):
    stack = Stack(tmp_path / "broker")
    stack.start_broker()
    yield stack.kafka
    stack.close()


@pytest.fixture()
def fresh_database(database_url):
    url = db.with_database(database_url, f"grievance_compose_{uuid.uuid4().hex[:8]}")
    yield url
    db.drop_database(url)


def test_compose_stack_delivers_the_readme_complaint(tmp_path, broker, fresh_database):
    ports = {name: free_port() for name in ("init", "smtp", *APP_SERVICES)}
    network = {"kafka:9092": broker, "http://intake:8080": f"http://127.0.0.1:{ports['intake']}",
               "http://inbox:8090": f"http://127.0.0.1:{ports['inbox']}"}
    envs = {name: local_env(name, network, fresh_database, ports[name], ports["smtp"])
            for name in ("init", *APP_SERVICES)}
    started = time.monotonic()

    init = subprocess.run(COMPOSE["init"]["command"], env=envs["init"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=180)
    assert init.returncode == 0, init.stdout + init.stderr

    procs: dict[str, subprocess.Popen] = {}
    try:
        for name in APP_SERVICES:
            with (tmp_path / f"{name}.log").open("ab") as log:
                procs[name] = subprocess.Popen(COMPOSE[name]["command"], env=envs[name], cwd=REPO_ROOT, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True,
                                               preexec_fn=die_with_parent(signal.SIGTERM))
        for name in APP_SERVICES:
            wait_for(lambda name=name: healthy(procs[name], health_url(name, ports[name]), tmp_path / f"{name}.log"),
                     120, interval=0.2, what=f"{name} healthy")
        ready = time.monotonic()

        intake, inbox = f"http://127.0.0.1:{ports['intake']}", f"http://127.0.0.1:{ports['inbox']}"
        submitted = time.monotonic()
        received = deliver(intake, inbox, {**DEMO_COMPLAINT, "external_id": f"compose-{uuid.uuid4().hex[:8]}"})
        delivered = time.monotonic()
        print(f"compose stack: init and start {ready - started:.1f}s; submit → delivered {delivered - submitted:.2f}s;"
              f" {len(received)} verified webhooks ({', '.join(sorted(d['partner_id'] for d in received))})")

        # With the worker's consent, full-disclosure recipients get the contact details: the notifier asks
        # intake for them (INTAKE_URL, GRIEVANCE_INTERNAL_TOKEN).
        consented = {**DEMO_COMPLAINT, "external_id": f"compose-{uuid.uuid4().hex[:8]}",
                     "contact": {"name": "R. Tamang", "phone": "+977 980 000 0000"}, "consent": {"share_contact": True}}
        full = [d["body"] for d in deliver(intake, inbox, consented) if d["body"]["disclosure"] == "full"]
        assert full and all(b["case"]["contact"]["name"] == "R. Tamang" for b in full), full

        # An e-mail partner (ngo-levant has no webhook) gets its case from the notifier through SMTP_HOST.
        lebanese = {**DEMO_COMPLAINT, "external_id": f"compose-{uuid.uuid4().hex[:8]}", "language": "ar",
                    "country_of_work": "LB", "text": "أخذ صاحب العمل جواز سفري ولم يدفع راتبي منذ ثلاثة أشهر"}
        mailed = [d for d in deliver(intake, inbox, lebanese) if d.get("channel") == "email"]
        assert [d["partner_id"] for d in mailed] == ["ngo-levant"], mailed

        # The dashboard's projector, logged in as compose configures it, reads every case into its read model.
        refs = {received[0]["body"]["case_ref"], full[0]["case_ref"], mailed[0]["body"]["case_ref"]}
        wait_for(lambda: projected(fresh_database, refs) == refs, 30, what="the cases on the dashboard's read model")
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                pytest.fail(f"{name} did not stop on SIGTERM")


def deliver(intake: str, inbox: str, body: dict) -> list[dict]:
    """Submits as the README's curl does; once the case is delivered, what the demo inbox received for it."""
    answer = httpx.post(f"{intake}/v1/grievances", json=body, headers=AUTH, timeout=10)
    assert answer.status_code == 202, answer.text
    case_ref = answer.json()["case_ref"]
    status = wait_for(lambda: (s := httpx.get(f"{intake}/v1/grievances/{case_ref}", headers=AUTH,
                                              timeout=10).json())["status"] == "delivered" and s,
                      30, what=f"case {case_ref} delivered")
    received = httpx.get(f"{inbox}/inbox", params={"case_ref": case_ref}, timeout=10).json()
    assert received["rejected"] == 0  # the inbox keeps only webhooks whose signature it verified
    assert {d["partner_id"] for d in received["deliveries"]} == {d["recipient"] for d in status["deliveries"]}
    return received["deliveries"]


def projected(database_url: str, case_refs: set[str]) -> set[str]:
    conn = db.connect(database_url)
    try:
        with db.transaction(conn) as cur:
            cur.execute("SELECT case_ref FROM dashboard.cases WHERE case_ref = ANY(%s)", (list(case_refs),))
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def healthy(proc: subprocess.Popen, url: str, log: Path) -> bool:
    assert proc.poll() is None, f"exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
