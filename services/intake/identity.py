"""The worker's identity stays here: contact details encrypted at rest, a pseudonym on the bus.

The encryption itself is the shared vault's (services.common.vault), so rotation and `grievance rekey`
cover contact details like every other sealed copy."""

from __future__ import annotations

import hashlib
import hmac
import json

from schemas.models import Contact
from services.common.vault import DataVault


class Vault(DataVault):
    def __init__(self, key: str):
        super().__init__(key)
        # From the oldest key listed, so putting a new key in front keeps every worker's pseudonym.
        self._pseudonym_key = self.derive(b"subject-ref")

    def encrypt(self, contact: Contact) -> bytes:
        return self.encrypt_bytes(contact.model_dump_json(exclude_none=True).encode())

    def decrypt(self, token: bytes) -> Contact:
        return Contact.model_validate(json.loads(self.decrypt_bytes(token)))

    def subject_ref(self, partner_id: str, dedupe_key: str, contact: Contact | None) -> str:
        """A stable pseudonym: the same worker (by passport, phone or e-mail) gets the same reference
        across cases and partners; with no contact, one per case. Not reversible without the key."""
        anchor = None
        if contact:
            for kind in ("passport_number", "phone", "email", "messaging_handle"):
                value = getattr(contact, kind)
                if value:
                    anchor = f"{kind}:{''.join(value.lower().split())}"
                    break
        anchor = anchor or f"case:{partner_id}:{dedupe_key}"
        return "SUBJ-" + hmac.new(self._pseudonym_key, anchor.encode(), hashlib.sha256).hexdigest()[:20]
