"""The worker's identity stays here: contact details encrypted at rest, a pseudonym on the bus."""

from __future__ import annotations

import hashlib
import hmac
import json

from cryptography.fernet import Fernet

from schemas.models import Contact


class Vault:
    def __init__(self, key: str):
        if not key:
            raise ValueError("GRIEVANCE_DATA_KEY is not set (generate one with `grievance keygen`)")
        self._fernet = Fernet(key.encode())
        self._pseudonym_key = hashlib.sha256(b"subject-ref\x00" + key.encode()).digest()

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, contact: Contact) -> bytes:
        return self._fernet.encrypt(contact.model_dump_json(exclude_none=True).encode())

    def decrypt(self, token: bytes) -> Contact:
        return Contact.model_validate(json.loads(self._fernet.decrypt(bytes(token))))

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
