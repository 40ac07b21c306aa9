"""Operators' passwords: scrypt (hashlib, no extra dependency) with a random salt, stored as
`scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`; compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P, DKLEN = 2**14, 8, 1, 32


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=DKLEN)
    return f"scrypt${N}${R}${P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or int(n) > 2**20 or int(r) > 32 or int(p) > 16:
            return False
        expected = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(password.encode()[:1024], salt=base64.b64decode(salt, validate=True), n=int(n),
                             r=int(r), p=int(p), dklen=len(expected), maxmem=2**27)
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


# Verified against when the user is unknown, so a wrong name costs the same time as a wrong password.
DUMMY = hash_password(secrets.token_urlsafe(16))
