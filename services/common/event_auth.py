"""Who may publish what between services: every internal event is signed by the service that produced it,
and every consumer checks the signature against the producer the topic registry names.

Ed25519, one key pair per service: a service holds only its own private key and the others' public
keys, so a compromised notifier cannot forge triage's routing, and a client that merely reaches the
broker cannot forge anything. The signature covers the topic, the key, the CloudEvents attributes and
the value, so a tampered event fails; a replayed one carries its original `ce_id` and is dropped as a
repeat. Partners' submissions are authenticated with the partner's own secret instead (intake).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas import topics
from schemas.envelope import Headers

HEADER = "grievance-signature"
_SIGNED = ("ce_id", "ce_source", "ce_type", "ce_time", "ce_subject")
SERVICES = ("intake", "triage", "notifier", "dashboard")  # the dashboard publishes only alerts (its dead letters)


class UnsignedEvent(ValueError):
    """An internal event without a valid signature of a service allowed to publish it."""


def canonical(topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> bytes:
    """The bytes a signature covers: unambiguous (length-prefixed), independent of header order."""
    parts = [topic.encode(), key or b"", value or b""]
    found = {k: v for k, v in headers if k in _SIGNED}
    parts += [k.encode() + b"=" + (found.get(k) or b"") for k in _SIGNED]
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def allowed_producers(topic: str) -> tuple[str, ...]:
    """The services whose signature an event on this topic may carry; () for topics not between services."""
    registered = topics.BY_NAME.get(topic)
    if registered is None:
        return ()
    if registered.producer == "every service":
        return SERVICES
    return (registered.producer,) if registered.producer in SERVICES else ()


class EventSigner:
    def __init__(self, service: str, private_key_b64: str):
        self.service = service
        self._key = Ed25519PrivateKey.from_private_bytes(_raw(private_key_b64, "signing key"))

    def headers(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> Headers:
        signature = self._key.sign(canonical(topic, key, value, headers))
        stamp = f"ed25519;{self.service};{base64.b64encode(signature).decode()}"
        return [(k, v) for k, v in headers if k != HEADER] + [(HEADER, stamp.encode())]


class EventVerifier:
    def __init__(self, public_keys: Mapping[str, list[str] | str]):
        # Several keys per service while it rotates: the new one listed beside the old until every
        # service signs with the new.
        self._keys = {name: [Ed25519PublicKey.from_public_bytes(_raw(b64, f"public key of {name}"))
                             for b64 in ([keys] if isinstance(keys, str) else keys)]
                      for name, keys in public_keys.items()}

    def check(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> str | None:
        """Why the event is not authentic, or None when it is (or the topic is not between services)."""
        producers = allowed_producers(topic)
        if not producers:
            return None
        stamps = [v for k, v in headers if k == HEADER]
        if len(stamps) != 1:
            return f"{len(stamps)} {HEADER} headers; an event between services carries exactly one"
        try:
            scheme, signer, signature = stamps[0].decode("ascii").split(";")
            raw = base64.b64decode(signature, validate=True)
        except (UnicodeDecodeError, ValueError, binascii.Error):
            return f"{HEADER} is not ed25519;<service>;<base64>"
        if scheme != "ed25519" or signer not in producers:
            return f"signed by {signer!r}, but only {', '.join(producers)} publish {topic}"
        keys = self._keys.get(signer)
        if not keys:
            return f"no public key for {signer}"
        signed = canonical(topic, key, value, headers)
        for public in keys:
            try:
                public.verify(raw, signed)
                return None
            except InvalidSignature:
                continue
        return f"signature of {signer} does not match the event: forged or tampered"


def generate() -> tuple[str, str]:
    """A new key pair as (private, public), base64 of the raw 32 bytes each."""
    private = Ed25519PrivateKey.generate()
    raw_public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    raw_private = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(raw_private).decode(), base64.b64encode(raw_public).decode()


def parse_public_keys(spec: str) -> dict[str, list[str]]:
    """`intake=<b64>,triage=<b64>,notifier=<b64>` → {service: [b64]}; a service named twice has two keys."""
    keys: dict[str, list[str]] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not value:
            raise ValueError(f"GRIEVANCE_EVENT_KEYS: expected service=<base64 public key>, got {item[:40]!r}")
        keys.setdefault(name.strip(), []).append(value.strip())
    return keys


def _raw(b64: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} is not base64") from exc
    if len(raw) != 32:
        raise ValueError(f"{what} must be 32 bytes (base64 of a raw Ed25519 key), got {len(raw)}")
    return raw
