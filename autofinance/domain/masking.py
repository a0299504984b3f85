"""How account numbers, emails and phone numbers are shown: never in full."""
from __future__ import annotations


def mask_account_number(account_number: str) -> str:
    """****4821"""
    return f"****{account_number[-4:]}"


def mask_email(email: str) -> str:
    """maria.lopez@example.com -> m****@example.com"""
    local, _, domain = email.partition("@")
    return f"{local[:1]}****@{domain}"


def mask_phone(phone: str) -> str:
    """+14045550101 -> ***-***-0101"""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"***-***-{digits[-4:]}"
