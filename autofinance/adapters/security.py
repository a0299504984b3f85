"""Hashing of secrets: keyed hashes for short secrets, argon2 for passwords."""
from __future__ import annotations

import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from autofinance.config import Secret

_password_hasher = PasswordHasher()


def keyed_hash(value: str, pepper: Secret) -> str:
    """HMAC-SHA256 of a short secret (SSN last four, one-time code, reset token).

    A plain hash of four digits is reversed by trying all 10,000; the server-side pepper
    makes the stored value useless without the key.
    """
    return hmac.new(pepper.reveal().encode(), value.encode(), hashlib.sha256).hexdigest()


def same_secret(value: str, stored_hash: str, pepper: Secret) -> bool:
    return hmac.compare_digest(keyed_hash(value, pepper), stored_hash)


def hash_password(password: str) -> str:
    return _password_hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
