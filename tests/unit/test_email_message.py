"""E-mails rendered from config/email templates: language choice, what each disclosure level lets through,
and hostile case text that must not reach a header or break the message."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.settings import REPO_ROOT
from services.notifier import email_message as em

TEMPLATES = em.load(REPO_ROOT / "config" / "email")
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def body(disclosure: str = "pseudonymous", **case: Any) -> dict[str, Any]:
    view = {"case_ref": "GRV-0123456789AB", "subject_ref": "subj-1f2e", "submitted_by": "ngo-np",
            "text": "The agent took my passport.", "language": "fr", "urgency": "high",
            "categories": ["document_retention"], "indicators": ["retention_of_identity_documents"],
            "summary": "passport kept by agent", "country_of_work": "LB", "country_of_origin": "NP",
            "sector": None, "employer": "Cedar Homes", "recruiter": None,
            "sla": {"deliver_by": "2026-03-01T10:00:00Z", "acknowledge_by": "2026-03-02T10:00:00Z"}}
    view.update(case)
    if disclosure == "anonymised":
        for name in ("subject_ref", "submitted_by", "text"):
            view.pop(name)
    return {"type": "case.routed", "delivery_id": "dlv_6f1c0d7e-1111-5222-8333-944455556666",
            "case_ref": view["case_ref"], "role": "primary", "disclosure": disclosure, "reason": "covers LB",
            "rule": "test", "case": view}


def build(b: dict[str, Any], languages: list[str] | None = None) -> email.message.EmailMessage:
    msg = em.build(b, templates=TEMPLATES, partner_name="NGO Levant", partner_languages=languages or [],
                   sender="cases@grievance.example", to="intake@ngo.example", now=NOW)
    # What the receiver parses: the bytes as they go over SMTP.
    return email.message_from_bytes(msg.as_bytes(policy=email.policy.SMTP), policy=email.policy.default)


def text_of(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def keys(node: object, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return {prefix}
    return {k for name, child in node.items() for k in keys(child, f"{prefix}.{name}")}


def test_every_language_has_every_key_and_renders_each_disclosure_level():
    assert {"en", "fr", "ar", "id"} <= set(TEMPLATES)
    reference = keys(TEMPLATES["en"].doc)
    for lang, template in TEMPLATES.items():
        assert keys(template.doc) == reference, lang
        for level in ("full", "pseudonymous", "anonymised"):
            subject, text = em.render(template, body(level, language=lang), "NGO", "<x@y>")
            assert "GRV-0123456789AB" in subject and "GRV-0123456789AB" in text
            assert "{" not in subject and "{" not in text.replace("/v1/cases/{", "")  # every placeholder filled


@pytest.mark.parametrize(("case_language", "partner", "expected"), [
    ("fr", ["ar", "en", "fr"], "fr"),   # the partner works in the case's language
    ("ne", ["ar", "en", "fr"], "ar"),   # it does not: its first language with a template
    ("id", [], "id"),                   # a partner listing no languages works in any
    ("ne", [], "en"),                   # no template for the case's language
    ("ms", ["ms", "ne"], "en"),         # none of the partner's languages has one
    ("ar", ["en"], "en"),               # a template exists, but the partner does not work in it
])
def test_the_recipient_reads_its_language(case_language, partner, expected):
    assert em.language_for(TEMPLATES, case_language, partner) == expected


def test_arabic_and_bahasa_mails_are_in_their_language():
    ar = build(body(language="ar"), ["ar", "en"])
    assert ar.get_body(("plain",))["Content-Language"] == "ar"
    assert "ملف الشكوى" in ar["Subject"] and "كلمات العامل" in text_of(ar)
    bahasa = build(body(language="id"), [])
    assert "Kasus pengaduan" in bahasa["Subject"] and "Kata-kata pekerja" in text_of(bahasa)


def test_only_what_the_disclosure_level_allows_is_in_the_mail():
    anonymised = build(body("anonymised"))
    whole = anonymised.as_string()
    assert "The agent took my passport" not in whole and "subj-1f2e" not in whole and "ngo-np" not in whole
    pseudonymous = text_of(build(body("pseudonymous")))
    assert "The agent took my passport." in pseudonymous and "subj-1f2e" in pseudonymous
    with_contact = body("full")
    with_contact["case"]["contact"] = {"name": "R. Tamang", "phone": "+977 980 000 0000"}
    assert "+977 980 000 0000" in text_of(build(with_contact))


def test_contact_details_withheld_for_want_of_tls_is_said_in_the_mail():
    b = {**body("pseudonymous", language="fr"), "disclosure_note": em.NO_TLS}
    text = text_of(build(b, ["fr"]))
    assert "connexion sans TLS" in text and "+977" not in text


def test_header_injection_nul_surrogates_and_long_text_stay_in_the_body():
    hostile = "urgent\r\nBcc: thief@evil.example\r\n\r\nforged body\x00\ud800 " + "x" * 100_000
    b = body(case_ref="GRV-0123456789AB\r\nBcc: thief@evil.example", summary=hostile, employer=hostile,
             text=hostile + "\n.\nMAIL FROM:<x@evil.example>")
    b["reason"] = hostile
    msg = build(b)
    assert msg["Bcc"] is None and "thief@evil.example" not in str(msg["To"])
    assert all("\n" not in v and "\r" not in v for v in msg.values())
    assert len(msg["Subject"]) <= em.SUBJECT_MAX
    text = text_of(msg)
    assert "\x00" not in text and "\ud800" not in text and "x" * 100_000 in text
    assert msg["Message-ID"].startswith("<dlv_") and "Bcc" not in msg["Message-ID"]


def test_every_attempt_of_a_delivery_carries_the_same_message_id():
    first, again = build(body()), build(body())
    assert first["Message-ID"] == again["Message-ID"] == "<dlv_6f1c0d7e-1111-5222-8333-944455556666@grievance.example>"
    attachment = next(first.iter_attachments())
    assert attachment.get_filename() == "case.json" and b"GRV-0123456789AB" in attachment.get_content()
