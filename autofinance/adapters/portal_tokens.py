"""Tokens the lender's website (the portal) gives a signed-in customer's chat widget.

The portal signs `sub` (our customer id) and a short expiry; the socket.io channel checks the
token when the widget connects, and the action server checks it again before treating the
conversation as the portal's customer. HS256 with a shared secret by default; RS256 with the
portal's public key as an option.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

import jwt

from autofinance.config import Settings
from autofinance.domain.clock import utcnow

ISSUER = "meridian-portal"
AUDIENCE = "meridian-assistant"
DEFAULT_LIFETIME = timedelta(minutes=30)


@dataclass(frozen=True)
class PortalClaims:
    customer_id: int
    first_name: str
    expires_at: datetime


def _signing_key(settings: Settings) -> str:
    if settings.portal_jwt_algorithm == "RS256":
        return Path(settings.portal_jwt_private_key_file).read_text()
    return settings.portal_jwt_secret.reveal()


def _verifying_key(settings: Settings) -> str:
    if settings.portal_jwt_algorithm == "RS256":
        return Path(settings.portal_jwt_public_key_file).read_text()
    return settings.portal_jwt_secret.reveal()


def issue_token(customer_id: int, first_name: str, settings: Settings,
                now: Optional[datetime] = None, lifetime: timedelta = DEFAULT_LIFETIME) -> str:
    """What the portal does when a customer signs in (here: the demo page's "Sign in as")."""
    now = now or utcnow()
    claims = {"sub": str(customer_id), "name": first_name, "iss": ISSUER, "aud": AUDIENCE,
              "iat": int(now.timestamp()), "exp": int((now + lifetime).timestamp())}
    return jwt.encode(claims, _signing_key(settings), algorithm=settings.portal_jwt_algorithm)


def verify_token(token: Optional[str], settings: Settings) -> Optional[PortalClaims]:
    """The claims of a valid, unexpired token from our portal; None for anything else."""
    if not token or not isinstance(token, str):
        return None
    try:
        claims = jwt.decode(token, _verifying_key(settings), algorithms=[settings.portal_jwt_algorithm],
                            audience=AUDIENCE, issuer=ISSUER, options={"require": ["exp", "sub"]})
        return PortalClaims(int(claims["sub"]), str(claims.get("name", "")),
                            datetime.fromtimestamp(claims["exp"], tz=timezone.utc))
    except (jwt.PyJWTError, ValueError, OSError):
        return None
