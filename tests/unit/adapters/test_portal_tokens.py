"""Portal tokens: HS256 by default, RS256 with the portal's key pair as the option."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from autofinance.config import Secret, Settings
from autofinance.adapters.portal_tokens import issue_token, verify_token
from autofinance.domain.clock import utcnow


def _rs256_settings(tmp_path: Path, name: str = "portal") -> Settings:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / f"{name}.key"
    public = tmp_path / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return Settings(portal_jwt_algorithm="RS256", portal_jwt_private_key_file=str(private),
                    portal_jwt_public_key_file=str(public))


def test_an_hs256_token_round_trips_and_carries_the_customer() -> None:
    claims = verify_token(issue_token(7, "Maria", Settings()), Settings())
    assert claims is not None and (claims.customer_id, claims.first_name) == (7, "Maria")


def test_expired_tokens_and_tokens_signed_with_another_secret_are_refused() -> None:
    assert verify_token(issue_token(7, "Maria", Settings(), now=utcnow() - timedelta(hours=1)), Settings()) is None
    other = Settings(portal_jwt_secret=Secret("another-secret-that-is-at-least-32-bytes"))
    assert verify_token(issue_token(7, "Maria", other), Settings()) is None
    assert verify_token("not.a.token", Settings()) is None and verify_token(None, Settings()) is None


def test_rs256_tokens_verify_with_the_portals_public_key_only(tmp_path: Path) -> None:
    portal = _rs256_settings(tmp_path)
    token = issue_token(7, "Maria", portal)
    assert verify_token(token, portal).customer_id == 7
    assert verify_token(token, _rs256_settings(tmp_path, "impostor")) is None
    assert verify_token(token, Settings()) is None  # an RS256 token is not accepted as HS256
