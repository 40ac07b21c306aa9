"""The demo inbox's SMTP side: an aiosmtpd server that takes the notifier's e-mails for every partner whose
channel is e-mail, files each under the partner its address belongs to, and drops repeats by Message-ID,
the way a partner's mail intake should. Used by `grievance dev`, the tests and the benchmark."""

from __future__ import annotations

import email
import email.policy
import json
import time
from typing import Any

from aiosmtpd.controller import Controller

from services.common.directory import Directory


def read(content: bytes, rcpt_tos: list[str], directory: Directory) -> dict[str, Any]:
    """The inbox entry for one received mail; ValueError when it is not a case mail for a known partner."""
    msg = email.message_from_bytes(content, policy=email.policy.default)
    to = {a.lower() for a in rcpt_tos}
    partner = next((p for p in directory.partners if p.email and p.email.lower() in to), None)
    if partner is None:
        raise ValueError(f"no partner has the address {', '.join(sorted(to))}")
    case = next((part for part in msg.iter_attachments() if part.get_filename() == "case.json"), None)
    if case is None:
        raise ValueError("no case.json attached")
    text = msg.get_body(("plain",))
    message_id = str(msg["Message-ID"] or "").strip()
    return {"webhook_id": message_id.strip("<>").partition("@")[0], "message_id": message_id,
            "partner_id": partner.id, "channel": "email", "received_at": time.time(), "times_received": 1,
            "subject": str(msg["Subject"] or ""), "language": text["Content-Language"] if text else None,
            "text": text.get_content() if text else "", "body": json.loads(case.get_content())}


class MailHandler:
    """aiosmtpd calls handle_DATA once per message; `file(entry)` answers whether it was a repeat."""

    def __init__(self, directory: Directory, file, refuse):
        self.directory, self.file, self.refuse = directory, file, refuse

    async def handle_DATA(self, server, session, envelope) -> str:
        try:
            entry = read(envelope.content, envelope.rcpt_tos, self.directory)
        except (ValueError, KeyError, UnicodeError) as exc:
            self.refuse()
            return f"550 {' '.join(str(exc).split())[:200]}"
        self.file(entry)
        return "250 OK"


def serve(handler: MailHandler, host: str, port: int) -> Controller:
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    return controller
