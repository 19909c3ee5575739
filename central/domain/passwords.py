"""Station passwords, stored as scrypt hashes and compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, cost: int = _N) -> str:
    """`cost` is scrypt's N; lower it only for throw-away data (benchmarks)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=cost, r=_R, p=_P)
    return f"scrypt${cost}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt),
                                n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def is_password_hash(text: str) -> bool:
    return text.startswith("scrypt$") and text.count("$") == 5


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
