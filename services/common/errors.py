"""Telling a dependency outage (wait and retry) from a fault of the record or of the code (set it aside).

psycopg2 raises OperationalError for a dropped connection and also for "index row size exceeds btree
maximum"; only the first is worth waiting out. Retrying the second forever is how one 8,000-character
id once stalled a consumer while readiness still said ready.
"""

from __future__ import annotations

import psycopg2
from kafka.errors import KafkaError

# SQLSTATE classes and codes that mean "the database is not available right now".
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57P")  # connection exception, insufficient resources, operator
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available


def is_transient(exc: BaseException) -> bool:
    """True when exc says a dependency (PostgreSQL, the broker) is unavailable, not that the input is bad."""
    if isinstance(exc, KafkaError | psycopg2.InterfaceError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, psycopg2.Error):
        code = exc.pgcode
        if code is None:  # raised by libpq itself: the connection failed or was lost
            return isinstance(exc, psycopg2.OperationalError)
        return code in _TRANSIENT_SQLSTATES or code.startswith(_TRANSIENT_SQLSTATE_CLASSES)
    return False


# SQLSTATE classes that mean our schema or the server is wrong, not the record: undefined table or
# column, insufficient privilege, invalid transaction state, internal and system errors.
_SYSTEMIC_SQLSTATE_CLASSES = ("42", "25", "XX", "58", "3F", "3D", "0A")


def is_systemic(exc: BaseException) -> bool:
    """True when exc would fail every record alike: dead-lettering them all would hide the real fault."""
    code = getattr(exc, "pgcode", None) if isinstance(exc, psycopg2.Error) else None
    return code is not None and code.startswith(_SYSTEMIC_SQLSTATE_CLASSES)


def is_record_fault(exc: BaseException) -> bool:
    """True when the record at hand is to blame: set it aside and go on with the others."""
    return not is_transient(exc) and not is_systemic(exc)


def safe_text(value: object, limit: int = 2000) -> str:
    """Text PostgreSQL and JSON can hold: no NUL, no unpaired surrogates, bounded."""
    text = str(value)[:limit].replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
