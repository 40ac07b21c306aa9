"""A demo partner inbox: receives webhooks for every partner in the directory, verifies signatures,
and drops repeats by webhook-id, the way a partner's receiver should; with `serve_mail`, the e-mails to
partners whose channel is e-mail too (services/devtools/mailbox.py), listed with the webhooks under the
delivery id their Message-ID carries. Used by `grievance dev`, the tests and the benchmark."""

from __future__ import annotations

import html
import json
import threading
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from services.common import signing
from services.common.directory import Directory
from services.devtools import mailbox


class Inbox:
    def __init__(self, directory: Directory):
        self.directory = directory
        self.lock = threading.Lock()
        self.received: dict[str, dict[str, Any]] = {}  # webhook-id → first delivery
        self.posts = 0  # every verified POST, repeats included
        self.mails = 0  # every accepted e-mail, repeats included
        self.rejected = 0

    def file_mail(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.mails += 1
            if entry["webhook_id"] in self.received:
                self.received[entry["webhook_id"]]["times_received"] += 1
            else:
                self.received[entry["webhook_id"]] = entry

    def refuse_mail(self) -> None:
        with self.lock:
            self.rejected += 1

    def serve_mail(self, host: str, port: int):
        """The SMTP server, in its own thread; returns its controller (stop() ends it)."""
        return mailbox.serve(mailbox.MailHandler(self.directory, self.file_mail, self.refuse_mail), host, port)

    def app(self) -> FastAPI:
        app = FastAPI(title="demo partner inbox")

        @app.post("/webhooks/{partner_id}")
        async def receive(partner_id: str, request: Request) -> JSONResponse:
            body = await request.body()
            partner = self.directory.get(partner_id)
            try:
                if partner is None or partner.webhook is None:
                    raise signing.BadSignature(f"unknown partner {partner_id}")
                signing.verify(partner.webhook.secrets, dict(request.headers), body)
            except signing.BadSignature as exc:
                with self.lock:
                    self.rejected += 1
                return JSONResponse({"error": str(exc)}, status_code=401)
            msg_id = request.headers["webhook-id"]
            with self.lock:
                self.posts += 1
                duplicate = msg_id in self.received
                if duplicate:
                    self.received[msg_id]["times_received"] += 1
                else:
                    self.received[msg_id] = {"webhook_id": msg_id, "partner_id": partner_id,
                                             "received_at": time.time(), "times_received": 1,
                                             "body": json.loads(body)}
            return JSONResponse({"ok": True, "duplicate": duplicate})

        @app.get("/inbox")
        def inbox(case_ref: str | None = None) -> dict[str, Any]:
            with self.lock:
                items = [r for r in self.received.values() if case_ref in (None, r["body"]["case_ref"])]
                return {"posts": self.posts, "mails": self.mails, "rejected": self.rejected, "deliveries": items}

        @app.get("/inbox/stats")
        def stats() -> dict[str, Any]:
            with self.lock:
                cases = {r["body"]["case_ref"] for r in self.received.values()}
                return {"posts": self.posts, "mails": self.mails, "unique": len(self.received), "cases": len(cases),
                        "rejected": self.rejected}

        @app.get("/", response_class=HTMLResponse)
        def page() -> str:
            with self.lock:
                latest = sorted(self.received.values(), key=lambda r: -r["received_at"])[:200]
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
                    r["partner_id"], r.get("channel", "webhook"), r["body"]["case_ref"], r["body"]["case"]["urgency"],
                    ", ".join(r["body"]["case"]["categories"]), r["body"]["role"])) + "</tr>"
                for r in latest)
            mails = "".join(
                f"<details><summary>{html.escape(r['partner_id'])}: {html.escape(r['subject'])}</summary>"
                f"<pre dir=auto>{html.escape(r['text'])}</pre></details>"
                for r in sorted(latest, key=lambda r: r["partner_id"]) if r.get("channel") == "email")
            return ("<!doctype html><meta charset=utf-8><title>Demo partner inbox</title>"
                    "<meta http-equiv=refresh content=3><h1>Demo partner inbox</h1>"
                    f"<p>{len(self.received)} verified deliveries</p><table border=1 cellpadding=4>"
                    "<tr><th>partner</th><th>channel</th><th>case</th><th>urgency</th><th>categories</th>"
                    f"<th>role</th></tr>{rows}</table><h2>E-mails, by partner</h2>{mails}")

        return app
