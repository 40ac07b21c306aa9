"""The e-mail channel's transport: one SMTP submission per attempt, over STARTTLS, implicit TLS or (for a
relay on the same host or network only) plain TCP, with AUTH when a user name is set.

Each sending thread keeps its connection open between messages (checked with NOOP before reuse, since a
server drops idle clients). The reply decides the attempt: 250 is delivered; anything else (a 4xx, a 5xx,
a refused TLS or login, a server down or too slow) is a failed attempt with the reply recorded, retried by
the delivery stage until its horizon like a webhook's. SMTP gives no more than "the relay took it": a
relay's 250 lost before we record it means one resend, under the same Message-ID."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage

from services.common.errors import safe_text
from services.common.settings import Settings

MODES = ("none", "starttls", "tls")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: str = "starttls"  # none | starttls | tls (implicit, port 465)
    username: str = ""
    password: str = ""
    sender: str = ""
    timeout_s: float = 10.0
    cafile: str = ""  # CA bundle for the server's certificate; empty: the system's

    @classmethod
    def from_settings(cls, s: Settings) -> SmtpConfig:
        if s.smtp_tls not in MODES:
            raise ValueError(f"SMTP_TLS must be one of {', '.join(MODES)}, not {s.smtp_tls!r}")
        return cls(s.smtp_host, s.smtp_port, s.smtp_tls, s.smtp_username, s.smtp_password, s.smtp_from,
                   s.smtp_timeout_s, s.smtp_cafile)

    @property
    def private(self) -> bool:
        """The connection to the relay is encrypted (and its certificate checked)."""
        return self.tls != "none"


class Mailer:
    def __init__(self, config: SmtpConfig):
        self.config = config
        self._local = threading.local()

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.cafile or None)

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.tls == "tls":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout_s, context=self._context())
        else:
            conn = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
        try:
            conn.ehlo()
            if c.tls == "starttls":
                conn.starttls(context=self._context())  # raises unless offered: never falls back to plain text
                conn.ehlo()
            if c.username:
                conn.login(c.username, c.password)
        except BaseException:
            with contextlib.suppress(Exception):
                conn.close()
            raise
        return conn

    def _connection(self) -> smtplib.SMTP:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                if conn.noop()[0] == 250:
                    return conn
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()
        conn = self._local.conn = self._connect()
        return conn

    def _drop(self) -> None:
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def send(self, msg: EmailMessage, to: str) -> tuple[int | None, str | None]:
        """(reply code, error): (250, None) once the relay accepted the message."""
        if not self.config.host or not self.config.sender:
            return None, "e-mail delivery is not configured (SMTP_HOST, SMTP_FROM)"
        try:
            self._connection().send_message(msg, self.config.sender, [to])
            return 250, None
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (None, b""))
            error = reply_error(code, reply)
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, AUTH refused, 421, …
            code, error = exc.smtp_code, reply_error(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPException, OSError) as exc:  # refused, timed out, TLS failed, disconnected
            code, error = None, f"{type(exc).__name__}: {safe_text(exc, 400)}"
        self._drop()  # a connection that failed once is not trusted with the next message
        return (code if isinstance(code, int) and code >= 300 else None), error


def reply_error(code: int | None, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    kind = "permanent" if code and 500 <= code < 600 else "temporary" if code and 400 <= code < 500 else "reply"
    return f"SMTP {code} ({kind}): {safe_text(' '.join(text.split()), 400)}"
