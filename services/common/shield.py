"""The identity shield: what each recipient may learn about a worker. Pure rules, used by routing (who
receives what level), intake (whether contact details may be released) and the notifier (what is sent).

Levels: `full` (facts, pseudonym and contact details), `pseudonymous` (facts, complaint text and a
stable pseudonym), `anonymised` (facts only: no text, no pseudonym, no submitting partner).

Two questions, asked at two moments: routing records what a recipient's role allows (`role_disclosure`);
intake decides at each send whether the worker's consent held then lets contact details go
(`disclosure_for`). Consent given after routing therefore takes effect, and consent withdrawn stops it.
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


def employer_side(partner: Partner) -> bool:
    """A brand or agency, or an organisation that is or acts for an employer or recruiter (`represents`):
    it receives only cases linked to it by its supply chain, and facts only."""
    return partner.kind in EMPLOYER_SIDE_KINDS or bool(partner.represents)


def conflict(partner: Partner, employer: str | None, recruiter: str | None) -> str | None:
    """Why a partner must not receive a case at all: it is, or acts for, whoever the worker named."""
    for role, name in (("employer", employer), ("recruiter", recruiter)):
        key = entity_key(name)
        if key and key in partner.entity_keys():
            return f"is or acts for the {role} named in the complaint ({name})"
    return None


def role_disclosure(partner: Partner) -> tuple[Disclosure, str]:
    """The most a partner's role allows, whatever the worker's consent: its configured level, facts only
    for the employer's side. Routing records this; contact details still need consent at send time."""
    level = partner.disclosure
    if employer_side(partner) and LEVEL[level] > LEVEL[Disclosure.anonymised]:
        who = partner.kind if partner.kind in EMPLOYER_SIDE_KINDS else "acts for an employer or recruiter"
        return Disclosure.anonymised, f"{who}: facts only"
    return level, ""


def disclosure_for(partner: Partner, consent_share_contact: bool,
                   contact_back: bool = True) -> tuple[Disclosure, str]:
    """What a partner may get now: its role's level, without contact details unless the worker consents
    now both to share them and to be contacted back (`contact_back: false` keeps them from everyone)."""
    level, note = role_disclosure(partner)
    notes = [note] if note else []
    if level == Disclosure.full and not (consent_share_contact and contact_back):
        level = Disclosure.pseudonymous
        notes.append("the worker does not want to be contacted back" if not contact_back
                     else "no consent to share contact details")
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
