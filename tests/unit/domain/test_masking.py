"""Account numbers, emails and phone numbers are shown masked: enough to recognise, never in full."""
from __future__ import annotations

from autofinance.domain.masking import mask_account_number, mask_email, mask_phone


def test_masks_show_only_what_a_customer_needs_to_recognise() -> None:
    assert mask_account_number("1000004821") == "****4821"
    assert mask_email("maria.lopez@example.com") == "m****@example.com"
    assert mask_phone("+14045550101") == "***-***-0101"


def test_a_formatted_phone_number_is_masked_by_its_digits() -> None:
    assert mask_phone("(404) 555-0101") == "***-***-0101"
