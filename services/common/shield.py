"""The identity shield: what each recipient may learn about a worker. Pure rules, used by routing (who
receives what level), intake (whether contact details may be released) and the notifier (what is sent).

Levels: `full` (facts, pseudonym and contact details), `pseudonymous` (facts, complaint text and a
stable pseudonym), `anonymised` (facts only: no text, no pseudonym, no submitting partner).
"""

from __future__ import annotations

from typing import Any

from schemas.models import Disclosure
from services.common.directory import Partner
from services.common.names import entity_key

# Kinds on the employer's side of a supply chain: facts only, never the worker's identity.
EMPLOYER_SIDE_KINDS = frozenset({"brand", "recruitment_agency"})
LEVEL = {Disclosure.anonymised: 0, Disclosure.pseudonymous: 1, Disclosure.full: 2}
_ANONYMISED_DROPS = ("subject_ref", "submitted_by", "text")


def conflict(partner: Partner, employer: str | None, recruiter: str | None) -> str | None:
    """Why a partner must not receive a case at all: it is, or acts for, whoever the worker named."""
    for role, name in (("employer", employer), ("recruiter", recruiter)):
        key = entity_key(name)
        if key and key in partner.entity_keys():
            return f"is or acts for the {role} named in the complaint ({name})"
    return None


def disclosure_for(partner: Partner, consent_share_contact: bool) -> tuple[Disclosure, str]:
    """The level a partner gets: its configured level, capped by its kind and by the worker's consent."""
    level, notes = partner.disclosure, []
    if partner.kind in EMPLOYER_SIDE_KINDS and LEVEL[level] > LEVEL[Disclosure.anonymised]:
        level = Disclosure.anonymised
        notes.append(f"{partner.kind}: facts only")
    if level == Disclosure.full and not consent_share_contact:
        level = Disclosure.pseudonymous
        notes.append("no consent to share contact details")
    return level, "; ".join(notes)


def project(case: dict[str, Any], level: Disclosure, contact: dict[str, Any] | None = None) -> dict[str, Any]:
    """The case as a recipient at `level` sees it."""
    view = dict(case)
    if level == Disclosure.anonymised:
        for name in _ANONYMISED_DROPS:
            view.pop(name, None)
    if level == Disclosure.full and contact:
        view["contact"] = contact
    return view
