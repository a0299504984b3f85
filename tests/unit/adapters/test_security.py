"""Short secrets are keyed-hashed and passwords argon2-hashed."""
from __future__ import annotations

from autofinance.config import Secret
from autofinance.adapters.security import hash_password, keyed_hash, same_secret, verify_password

PEPPER = Secret("test-pepper")


def test_a_keyed_hash_is_stable_and_does_not_contain_the_secret() -> None:
    digest = keyed_hash("4821", PEPPER)

    assert digest == keyed_hash("4821", PEPPER)
    assert len(digest) == 64 and "4821" not in digest


def test_a_keyed_hash_depends_on_the_pepper() -> None:
    assert keyed_hash("4821", PEPPER) != keyed_hash("4821", Secret("another-pepper"))


def test_same_secret_accepts_the_right_value_and_rejects_others() -> None:
    stored = keyed_hash("4821", PEPPER)

    assert same_secret("4821", stored, PEPPER)
    assert not same_secret("4822", stored, PEPPER)
    assert not same_secret("4821", stored, Secret("another-pepper"))


def test_a_password_hash_verifies_the_password_and_rejects_a_wrong_one() -> None:
    stored = hash_password("correct horse battery staple")

    assert "correct horse" not in stored
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapler", stored)


def test_a_malformed_password_hash_is_a_rejection_not_a_crash() -> None:
    assert not verify_password("anything", "not-an-argon2-hash")

