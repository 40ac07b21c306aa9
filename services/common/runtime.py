"""How a service process runs: an HTTP app (health, plus the service's own routes) in the main thread,
consumer loops, an outbox relay and any background workers in threads, all stopped on SIGTERM.

uvicorn turns SIGTERM/SIGINT into a graceful shutdown; the lifespan's exit then sets the stop flag,
lets each loop finish and commit its batch, drains the outbox, and closes. A loop that cannot go on
(`fail`) stops the process the same way, with exit status 1, so a supervisor restarts it.

Readiness tells the truth: every loop reports whether it is running, retrying after a failure, or has
not completed a cycle for a minute, and the answer is 503 with the reason whenever one is not running.
"""

from __future__ import annotations

import contextlib
import faulthandler
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas import envelope, topics
from schemas.models import OperatorAlert, Urgency
from services.common import db, metrics
from services.common import logging as log
from services.common.consumer import ConsumerLoop, Handler
from services.common.event_auth import EventSigner, EventVerifier, parse_public_keys
from services.common.outbox import OutboxRelay, enqueue
from services.common.settings import Settings


@dataclass(frozen=True)
class ConsumerSpec:
    group: str
    topics: list[str]
    handler: Handler


@dataclass
class Service:
    name: str  # also the name of its PostgreSQL schema
    settings: Settings
    consumers: list[ConsumerSpec] = field(default_factory=list)
    # Factories for extra background threads; each gets the service (for its stop flag and settings).
    workers: list[Callable[[Service], threading.Thread]] = field(default_factory=list)
    routers: list[APIRouter] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    exit_code: int = 0
    server: uvicorn.Server | None = None

    def __post_init__(self) -> None:
        signer, verifier = event_keys(self.name, self.settings)
        self.relay = OutboxRelay(self.name, self.settings, self.stop, on_broker_lost=self.broker_lost,
                                 on_fatal=self.fail, signer=signer)
        self.loops = [
            ConsumerLoop(schema=self.name, group=c.group, topic_names=c.topics, handler=c.handler,
                         settings=self.settings, stop=self.stop, on_commit=self.relay.wake.set, on_fatal=self.fail,
                         verifier=verifier)
            for c in self.consumers
        ]

    def fail(self, reason: str) -> None:
        """A loop cannot go on: stop everything and exit non-zero, so the supervisor starts us again."""
        log.get().error("service_failed", reason=reason)
        self.exit_code = 1
        self.stop.set()
        if self.server is not None:
            self.server.should_exit = True

    def broker_lost(self, problems: list[str]) -> None:
        """The broker lost our topics (the relay has recreated them and is publishing again): every
        consumer rejoins, so it reads the recreated topics from their start, and operators hear of it."""
        for loop in self.loops:
            loop.restart.set()
        alert = OperatorAlert(kind="broker_state_lost", urgency=Urgency.high, service=self.name,
                              message=f"{self.name}: {'; '.join(problems)[:500]}. Topics recreated; "
                              "events kept in the outbox published again; partner submissions not yet "
                              "consumed may be lost: ask partners to resubmit unacknowledged ones.",
                              raised_at=datetime.now(UTC))
        conn = db.connect(self.settings.database_url, retries=3)
        try:
            with db.transaction(conn) as cur:
                enqueue(cur, self.name, [envelope.encode(topics.ALERTS, alert, source=self.name,
                                                         id=envelope.event_id("broker-lost", self.name,
                                                                              alert.raised_at.isoformat()))])
        finally:
            conn.close()

    def start(self) -> None:
        self.threads = [self.relay, *self.loops, *(make(self) for make in self.workers)]
        for t in self.threads:
            t.start()
        log.get().info("service_started", threads=[t.name for t in self.threads])

    def shutdown(self, timeout: float = 20.0) -> None:
        self.stop.set()
        self.relay.wake.set()
        for t in self.threads:
            t.join(timeout)
        log.get().info("service_stopped")

    def ready(self) -> dict[str, bool]:
        checks = {"database": _database_ok(self.settings.database_url), "outbox": self.relay.healthy}
        checks.update({f"consumer:{loop.group}": loop.health.ready() and loop.assigned for loop in self.loops})
        checks.update({f"thread:{t.name}": t.is_alive() for t in self.threads})
        for t in self.threads:
            health = getattr(t, "health", None)
            if health is not None and t not in self.loops and t is not self.relay:
                checks[f"worker:{t.name}"] = health.ready()
        return checks

    def loop_reports(self) -> dict[str, dict]:
        return {t.name: {**t.health.report(), **_counts(t)} for t in self.threads if hasattr(t, "health")}

    def app(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_: FastAPI):
            self.start()
            yield
            self.shutdown()

        app = FastAPI(title=f"grievance-pipeline {self.name}", lifespan=lifespan)
        from services.common.http_errors import install  # one JSON error shape; 503 + Retry-After when the DB is out
        install(app)

        @app.get("/healthz", tags=["health"])
        def healthz() -> dict[str, str]:
            return {"status": "ok", "service": self.name}

        @app.get("/readyz", tags=["health"])
        def readyz() -> JSONResponse:
            checks = self.ready()
            ok = all(checks.values())
            return JSONResponse({"ready": ok, "checks": checks, "loops": self.loop_reports()},
                                status_code=200 if ok else 503)

        @app.get("/metrics", tags=["health"], include_in_schema=False)
        def prometheus() -> Response:
            """Prometheus text format: services/common/metrics.py names what is exported."""
            with contextlib.suppress(Exception):  # the database down: the backlog keeps its last value
                conn = db.connect(self.settings.database_url, retries=1)
                try:
                    with db.transaction(conn) as cur:
                        cur.execute(f"SELECT count(*) FROM {self.name}.outbox WHERE published_at IS NULL")  # noqa: S608 - schema from code
                        metrics.OUTBOX_BACKLOG.labels(self.name).set(cur.fetchone()[0])
                finally:
                    conn.close()
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        for router in self.routers:
            app.include_router(router)
        return app

    def run(self) -> None:
        config = uvicorn.Config(self.app(), host=self.settings.http_host, port=self.settings.http_port,
                                log_level="warning", timeout_graceful_shutdown=10)
        # `kill -USR1 <pid>` prints every thread's stack to the log: how an operator sees where a loop waits.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        self.server = _GracefulServer(config)
        self.server.run()
        if self.exit_code:
            sys.exit(self.exit_code)


class _GracefulServer(uvicorn.Server):
    """uvicorn, except that after a graceful shutdown on SIGTERM/SIGINT the process exits with status 0
    instead of re-raising the signal, so supervisors can tell a clean stop from a kill."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.handle_exit)
        yield


def event_keys(service: str, settings: Settings) -> tuple[EventSigner, EventVerifier]:
    """This service's signer and every service's verifier; a service never runs without them, since an
    unsigned pipeline would take any event a broker client writes as ours."""
    if not settings.signing_key or not settings.event_keys:
        raise SystemExit(f"{service}: GRIEVANCE_SIGNING_KEY and GRIEVANCE_EVENT_KEYS are required (internal events"
                         " are signed); `grievance keygen --events` prints a set, `grievance dev` makes its own")
    try:
        return EventSigner(service, settings.signing_key), EventVerifier(parse_public_keys(settings.event_keys))
    except ValueError as exc:
        raise SystemExit(f"{service}: {exc}") from exc


def _counts(thread: threading.Thread) -> dict[str, int]:
    names = ("processed", "dead_lettered", "duplicates", "published", "republished", "sent")
    return {n: getattr(thread, n) for n in names if isinstance(getattr(thread, n, None), int)}


def _database_ok(url: str) -> bool:
    try:
        conn = db.connect(url, retries=1)
    except db.TRANSIENT:
        return False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        return True
    finally:
        conn.close()
