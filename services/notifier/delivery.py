"""The delivery worker: sends due deliveries by signed webhook, records every attempt, schedules retries.

Rows are claimed with FOR UPDATE SKIP LOCKED, so several notifier instances can share the work. The
webhook-id is the same on every attempt of a delivery: a receiver that saw a send whose acknowledgement
we lost (a crash between its 2xx and our commit) drops the repeat.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import psycopg2.extras

from schemas import envelope, topics
from schemas.models import NotificationDelivered, NotificationFailed, OperatorAlert, Urgency
from services.common import db, signing
from services.common import logging as log
from services.common.directory import Directory
from services.common.errors import is_transient, safe_text
from services.common.health import LoopHealth
from services.common.outbox import enqueue
from services.common.settings import Settings
from services.notifier.payload import with_contact
from services.notifier.retry import next_attempt

SOURCE = "notifier"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Result:
    delivery_id: int
    attempt: int
    status: str
    retry_at: datetime | None
    delivered_at: datetime | None
    messages: list[envelope.Message]


class DeliveryWorker(threading.Thread):
    def __init__(self, settings: Settings, directory: Callable[[], Directory], stop: threading.Event,
                 on_commit=lambda: None, batch: int = 200):
        super().__init__(name="notifier-delivery", daemon=True)
        self.settings, self.directory, self.stop, self.on_commit, self.batch = (
            settings, directory, stop, on_commit, batch)
        self.wake = threading.Event()
        self._local = threading.local()
        self.health = LoopHealth(self.name)
        self.sent = 0
        self.on_fatal: Callable[[str], None] = lambda reason: None
        self.logger = log.get().bind(component="delivery")

    def run(self) -> None:
        conn = None
        with ThreadPoolExecutor(self.settings.delivery_concurrency) as pool:
            while not self.stop.is_set():
                try:
                    conn = conn or db.connect(self.settings.database_url, retries=1)
                    done = self.deliver_due(conn, pool)
                    self.health.ok()
                    if done == 0:
                        self.wake.wait(0.25)
                        self.wake.clear()
                except Exception as exc:  # the worker must outlive any exception; state is in the database
                    transient = is_transient(exc)
                    self.health.failed(exc, transient)
                    self.logger.warning("delivery_loop_error", error=safe_text(repr(exc), 500), transient=transient)
                    with contextlib.suppress(Exception):
                        conn and conn.close()
                    conn = None
                    if self.health.hopeless(self.settings.loop_max_failures):
                        self.on_fatal(f"{self.name}: {type(exc).__name__}: {safe_text(exc, 300)}")
                        break
                    self.stop.wait(self.health.backoff_s())
        if conn is not None:
            conn.close()
        self.health.stopped()

    def deliver_due(self, conn: db.Connection, pool: ThreadPoolExecutor) -> int:
        with db.transaction(conn) as cur:
            cur.execute(
                "SELECT id, case_ref, recipient, payload, attempts FROM notifier.deliveries"
                " WHERE status = 'pending' AND next_attempt_at <= now()"
                " ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED", (self.batch,))
            rows = cur.fetchall()
            if not rows:
                return 0
            outcomes = list(pool.map(lambda r: self.send_safely(r[2], r[3]), rows))
            now = datetime.now(UTC)
            results = [self.result(row, outcome, now) for row, outcome in zip(rows, outcomes, strict=True)]
            psycopg2.extras.execute_values(
                cur, "INSERT INTO notifier.attempts (delivery_id, attempt, status_code, error, duration_ms) VALUES %s",
                [(r.delivery_id, r.attempt, o.status_code, o.error, o.duration_ms)
                 for r, o in zip(results, outcomes, strict=True)])
            psycopg2.extras.execute_values(
                cur, "UPDATE notifier.deliveries d SET status = v.status, attempts = v.attempt,"
                " next_attempt_at = COALESCE(v.retry_at, d.next_attempt_at), delivered_at = v.delivered_at"
                " FROM (VALUES %s) AS v(id, status, attempt, retry_at, delivered_at) WHERE d.id = v.id",
                [(r.delivery_id, r.status, r.attempt, r.retry_at, r.delivered_at) for r in results],
                template="(%s, %s, %s, %s::timestamptz, %s::timestamptz)")
            enqueue(cur, "notifier", [m for r in results for m in r.messages])
        self.sent += len(rows)
        self.on_commit()
        return len(rows)

    def send_safely(self, recipient: str, payload: dict) -> Outcome:
        """An attempt that raised (bad directory data, a bug) is a failed attempt, retried like any other."""
        try:
            return self.send(recipient, payload)
        except Exception as exc:
            return Outcome(None, f"{type(exc).__name__}: {safe_text(exc, 400)}", 0)

    def client(self) -> httpx.Client:
        """One keep-alive client per sending thread: a shared pool's lock costs more than it saves."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(timeout=self.settings.webhook_timeout_s)
        return client

    def contact_for(self, case_ref: str, recipient: str) -> tuple[dict | None, str | None]:
        """Ask intake for the worker's contact details; intake applies the shield and current consent."""
        response = self.client().get(f"{self.settings.intake_url}/v1/internal/contacts/{case_ref}",
                                     params={"recipient": recipient},
                                     headers={"Authorization": f"Bearer {self.settings.internal_token}"})
        if response.status_code == 403:
            return None, response.json().get("detail")
        response.raise_for_status()
        return response.json()["contact"], None

    def send(self, recipient: str, payload: dict) -> Outcome:
        partner = self.directory().get(recipient)
        started = time.perf_counter()
        if partner is None or partner.webhook is None:
            return Outcome(None, f"partner {recipient} has no webhook configured", 0)
        try:
            if payload["disclosure"] == "full":
                payload = with_contact(payload, *self.contact_for(payload["case_ref"], recipient))
        except httpx.HTTPError as exc:
            return Outcome(None, f"contact details unavailable from intake: {type(exc).__name__}: {exc}"[:500], 0)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        hdrs = signing.headers(partner.webhook.secret, payload["delivery_id"], body)
        try:
            response = self.client().post(partner.webhook.url, content=body, headers=hdrs)
            code, error = response.status_code, None if response.is_success else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            code, error = None, f"{type(exc).__name__}: {exc}"[:500]
        return Outcome(code, error, int((time.perf_counter() - started) * 1000))

    def result(self, row: tuple, outcome: Outcome, now: datetime) -> Result:
        """The new state of a delivery after one attempt, and the event that says so."""
        delivery_id, case_ref, recipient, payload, attempts = row
        attempt = attempts + 1
        if outcome.ok:
            event = NotificationDelivered(case_ref=case_ref, recipient=recipient, channel="webhook",
                                          attempts=attempt, status_code=outcome.status_code, delivered_at=now)
            message = envelope.encode(topics.DELIVERED, event, source=SOURCE,
                                      id=envelope.event_id("delivered", case_ref, recipient))
            self.logger.info("delivered", case_ref=case_ref, recipient=recipient, attempt=attempt)
            return Result(delivery_id, attempt, "delivered", None, now, [message])
        retry_at = next_attempt(attempt, now, base_s=self.settings.delivery_backoff_s,
                                max_attempts=self.settings.delivery_max_attempts)
        self.logger.warning("delivery_failed", case_ref=case_ref, recipient=recipient, attempt=attempt,
                            error=outcome.error, final=retry_at is None)
        event = NotificationFailed(case_ref=case_ref, recipient=recipient, channel="webhook", attempts=attempt,
                                   error=outcome.error or "unknown", final=retry_at is None,
                                   next_attempt_at=retry_at, failed_at=now)
        message = envelope.encode(topics.FAILED, event, source=SOURCE,
                                  id=envelope.event_id("failed", case_ref, recipient, str(attempt)))
        messages = [message]
        if retry_at is None:  # given up: a person must find another way to reach this partner
            alert = OperatorAlert(case_ref=case_ref, kind="delivery_failed",
                                  urgency=Urgency((payload.get("case") or {}).get("urgency") or "high"),
                                  message=f"delivery to {recipient} failed after {attempt} attempts: {outcome.error}",
                                  raised_at=now, service=SOURCE)
            messages.append(envelope.encode(topics.ALERTS, alert, source=SOURCE,
                                            id=envelope.event_id("delivery-failed-alert", case_ref, recipient)))
        return Result(delivery_id, attempt, "pending" if retry_at else "failed", retry_at, None, messages)
