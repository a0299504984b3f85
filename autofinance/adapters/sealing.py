"""Sealing a value that must cross turns of a conversation without being readable there.

Rasa keeps no state of its own between turns but the tracker, and the tracker is stored. A
value the next turn needs (the identifier the customer gave) is encrypted and authenticated
with a key derived from SECRET_PEPPER, and expires with the identification window.
"""
from __future__ import annotations

import base64
import hashlib
from typing import Optional

from cryptography.fernet import Fernet, InvalidToken

from autofinance.config import Secret

PREFIX = "sealed:"  # the redacting tracker store leaves such values alone
LIFETIME_SECONDS = 15 * 60


def _fernet(pepper: Secret, purpose: bytes = b"meridian-seal:") -> Fernet:
    key = hashlib.sha256(purpose + pepper.reveal().encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: str, pepper: Secret) -> str:
    return PREFIX + _fernet(pepper).encrypt(value.encode()).decode()


def unseal(sealed: Optional[str], pepper: Secret) -> Optional[str]:
    """The original value, or None if it is not sealed, was tampered with, or expired."""
    if not sealed or not sealed.startswith(PREFIX):
        return None
    try:
        return _fernet(pepper).decrypt(sealed[len(PREFIX):].encode(), ttl=LIFETIME_SECONDS).decode()
    except InvalidToken:
        return None


# Secrets the store must read back (a staff member's TOTP seed) are kept encrypted under their
# own key, without an expiry: a copy of the database alone yields no second factor.
_AT_REST = b"meridian-at-rest:"


def seal_at_rest(value: str, pepper: Secret) -> str:
    return PREFIX + _fernet(pepper, _AT_REST).encrypt(value.encode()).decode()


def unseal_at_rest(sealed: str, pepper: Secret) -> Optional[str]:
    """The stored secret, or None if it is not sealed or the pepper changed."""
    if not sealed.startswith(PREFIX):
        return None
    try:
        return _fernet(pepper, _AT_REST).decrypt(sealed[len(PREFIX):].encode()).decode()
    except InvalidToken:
        return None
