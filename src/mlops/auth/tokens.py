"""API token secrets: made from 32 random bytes, shown once, kept only as their sha256.

A secret with 256 bits of entropy cannot be guessed or brute-forced from its hash, so a plain
sha256 (not a slow password hash) is enough, and it makes every request's lookup one indexed
query. The ``mlops_`` prefix lets secret scanners (and people) recognise a leaked token.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from mlops.errors import InvalidInputError

TOKEN_PREFIX = "mlops_"
SHOWN_PREFIX = 12
"""Characters of a token kept in clear (``mlops_`` and 6 more) to tell tokens apart."""

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def new_secret() -> str:
    """A fresh token: ``mlops_`` and 43 URL-safe base64 characters (32 random bytes)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The sha256 (hex) under which a token is stored and looked up."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_duration(text: str) -> int:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"45s"`` or ``"2w"`` as milliseconds."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise InvalidInputError(
            f"duration {text!r} is not valid; use a positive number and a unit, e.g. 30d, 12h, "
            "90m, 45s or 2w"
        )
    return int(match.group(1)) * _SECONDS[match.group(2)] * 1000
