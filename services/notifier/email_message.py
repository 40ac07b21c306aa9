"""The e-mail a partner whose channel is e-mail receives: the webhook body (already cut to the recipient's
disclosure level) rendered from config/email/<language>.yaml in the recipient's language, with that body
attached as case.json. Pure: no network.

Nothing from a case reaches a header unsanitised: header text loses every control and line-break character
(no header injection), NUL and unpaired surrogates go from headers and body alike, and headers are bounded.
The Message-ID is the delivery id's, so every attempt of one delivery carries the same one."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import yaml

# What the notifier puts in `disclosure_note` when it withholds contact details for want of TLS: the
# template says it in the recipient's language.
NO_TLS = "contact details are not sent by e-mail without TLS"
DEFAULT_LANGUAGE = "en"
# The case's fields in the order printed; a field the recipient may not see is absent from the body, so
# absent here too. Any other field is in the attached case.json only.
FIELDS = ("case_ref", "urgency", "summary", "categories", "indicators", "country_of_work", "country_of_origin",
          "sector", "employer", "recruiter", "language", "submitted_by", "subject_ref", "deliver_by",
          "acknowledge_by")
SUBJECT_MAX = 200
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\s]+")
_BODY_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Template:
    language: str
    doc: dict[str, Any]

    def text(self, *path: str, **values: str) -> str:
        node: Any = self.doc
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, str):
            return ""
        return node.format_map(values) if values else node


def load(directory: Path) -> dict[str, Template]:
    """Every template in the directory, by language code (the file name)."""
    templates = {}
    for path in sorted(directory.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("language") != path.stem:
            raise ValueError(f"{path}: an e-mail template whose `language` is {path.stem!r}")
        templates[path.stem] = Template(path.stem, doc)
    if DEFAULT_LANGUAGE not in templates:
        raise ValueError(f"{directory}: no {DEFAULT_LANGUAGE}.yaml, the language every recipient falls back to")
    return templates


def language_for(templates: dict[str, Template], case_language: str | None, partner_languages: list[str]) -> str:
    """The case's language when the partner works in it (a partner listing none works in any), else the
    partner's first language with a template, else English."""
    if case_language in templates and (not partner_languages or case_language in partner_languages):
        return case_language
    return next((lang for lang in partner_languages if lang in templates), DEFAULT_LANGUAGE)


def clean_body(value: object) -> str:
    """Body text: valid UTF-8 (unpaired surrogates replaced), no NUL or other controls, LF line ends."""
    text = str(value).encode("utf-8", "replace").decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    return _BODY_UNSAFE.sub("", text)


def clean_header(value: object, limit: int = SUBJECT_MAX) -> str:
    """Header text: one line (controls and line breaks become a space), bounded."""
    text = _HEADER_UNSAFE.sub(" ", clean_body(value)).strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(clean_body(v) for v in value) or "—"
    return "—" if value in (None, "") else clean_body(value)


def render(t: Template, body: dict[str, Any], partner_name: str, message_id: str) -> tuple[str, str]:
    """(subject, plain text) of one delivery's body in the template's language."""
    case = {**body["case"], **(body["case"].get("sla") or {})}
    urgency = t.text("urgency", case.get("urgency", "")) or str(case.get("urgency", ""))
    names = {"case_ref": clean_header(body["case_ref"], 40), "urgency": clean_header(urgency, 40),
             "partner": clean_header(partner_name), "role": t.text("role", body.get("role", "")),
             "reason": clean_header(body.get("reason") or "", 500), "message_id": message_id}
    lines = [t.text("greeting", **names), ""]
    for name in FIELDS:
        if name in case:
            shown = urgency if name == "urgency" else _value(case[name])
            lines.append(f"{t.text('labels', name)}: {shown}")
    lines.append(f"{t.text('labels', 'disclosure')}: {t.text('disclosure', body['disclosure'])}")
    note = body.get("disclosure_note")
    if note == NO_TLS:
        lines += ["", t.text("notes", "no_tls")]
    elif note:
        lines += ["", t.text("notes", "withheld", note=clean_body(note))]
    if "text" in case:
        lines += ["", f"{t.text('labels', 'text')}:", _value(case["text"])]
    if isinstance(case.get("contact"), dict):
        lines += ["", f"{t.text('labels', 'contact')}:"]
        lines += [f"  {t.text('contact', k) or k}: {_value(v)}" for k, v in case["contact"].items() if v]
    lines += ["", "-- ", t.text("footer", **names).rstrip()]
    return clean_header(t.text("subject", **names)), "\n".join(lines) + "\n"


def message_id(delivery_id: str, sender: str) -> str:
    """<delivery id@sender's domain>: the same on every attempt, so a receiver can drop a repeat."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{clean_header(delivery_id, 100).replace(' ', '')}@{domain}>"


def build(body: dict[str, Any], *, templates: dict[str, Template], partner_name: str, partner_languages: list[str],
          sender: str, to: str, now: datetime) -> EmailMessage:
    """The message for one attempt of one delivery; `body` is the webhook body as it would be sent."""
    lang = language_for(templates, body["case"].get("language"), partner_languages)
    mid = message_id(body["delivery_id"], sender)
    subject, text = render(templates[lang], body, partner_name, mid)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"], msg["Date"] = mid, format_datetime(now)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Grievance-Case-Ref"] = clean_header(body["case_ref"], 40)
    msg.set_content(text)
    msg["Content-Language"] = lang  # a content header: it moves to the text part with the attachment
    attachment = json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8", "replace")
    msg.add_attachment(attachment, maintype="application", subtype="json", filename="case.json")
    return msg
