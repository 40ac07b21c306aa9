"""Which channel a delivery goes by: data-driven, from the partner's directory record. Pure."""

from __future__ import annotations

from typing import Literal

from services.common.directory import Partner

Channel = Literal["webhook", "email"]


def channel_for(partner: Partner | None) -> Channel | None:
    """The webhook when the partner has one, else e-mail when it has an address; None: no way to reach it."""
    if partner is None:
        return None
    if partner.webhook is not None:
        return "webhook"
    return "email" if partner.email else None
