"""The pages in French say nothing in English: every label of the case timeline and the dead-letter view comes
from the catalogue; links to another language keep the view's filters."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from services.dashboard.filters import Filters
from services.dashboard.pages import render
from services.dashboard.sessions import Session

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SESSION = Session("demo-operator", "operator", "token")


def text(html: str) -> str:
    """What a reader sees: no tags, no attributes, no code."""
    html = re.sub(r"<(script|style|code)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def page(template: str, language: str, **context) -> str:
    response = render(template, language, session=SESSION, filters=Filters(range="24h", country="MY"),
                      path="/x", now=AT, ranges=["24h"], urgencies=["critical"], **context)
    return response.body.decode()


CASE = {"case": {"case_ref": "GRV-AAAAAAAAAAAA", "urgency": "critical", "summary": "s", "partner_id": "ngo-np",
                 "recipients": ["ngo-my"], "country_of_work": "MY", "country_of_origin": "NP",
                 "categories": ["forced_labour"], "case_state": "delivered"},
        "timeline": [
            {"at": AT, "kind": "received",
             "detail": {"partner_id": "ngo-np", "channel": "app", "language": "ne", "country_of_work": "MY",
                        "employer": "Acme", "recruiter": "Fast"}},
            {"at": AT, "kind": "triaged", "detail": {"urgency": "critical", "categories": ["forced_labour"],
                                                     "indicators": ["retention_of_identity_documents"],
                                                     "evidence": [], "reasons": ["r"]}},
            {"at": AT, "kind": "delivery_failed", "detail": {"recipient": "ngo-my", "channel": "webhook",
                                                             "attempts": 3, "final": True, "error": "HTTP 500"}}],
        "dead": []}
DEAD = {"record": {"id": 7, "original_topic": "grievance.received", "original_partition": 1, "original_offset": 9,
                   "dlq_topic": "triage.dlq", "consumer_group": "triage", "case_ref": None, "event_id": "e",
                   "error_class": "E", "error_message": "m", "set_aside_at": AT, "value_bytes": 10,
                   "headers": [], "requeues": []}, "done": None}
ENGLISH = ("employer", "recruiter", "ILO", "final", "Consumer group", "Event id", "bytes")


def test_the_french_case_and_dead_letter_pages_have_no_english_labels():
    for template, context in (("case.html", CASE), ("dead_letter.html", DEAD)):
        english, french = text(page(template, "en", **context)), text(page(template, "fr", **context))
        found_en = [w for w in ENGLISH if w in english]
        assert found_en, template  # the words are there in English ...
        assert not [w for w in found_en if w in french], template  # ... and translated in French
    assert "employeur Acme" in text(page("case.html", "fr", **CASE))


def test_the_language_links_keep_the_filters():
    html = page("case.html", "en", **CASE)
    assert 'href="/lang/fr?next=/x%3Frange%3D24h%26country%3DMY"' in html
