"""When to try a failed delivery again. Pure."""

from __future__ import annotations

import random
from datetime import datetime, timedelta


def next_attempt(attempts: int, now: datetime, *, base_s: float, max_attempts: int,
                 cap_s: float = 3600.0, rng: random.Random | None = None) -> datetime | None:
    """Exponential backoff with full jitter; None once the attempts are exhausted."""
    if attempts >= max_attempts:
        return None
    ceiling = min(cap_s, base_s * 2 ** (attempts - 1))
    return now + timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))

