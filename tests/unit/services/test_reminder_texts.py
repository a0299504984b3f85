"""The reminder catalogue: every kind has its email and its text, and every placeholder is given."""
from __future__ import annotations

import string

from autofinance.domain.reminders import ReminderPolicy
from autofinance.services import reminder_texts

GIVEN = {"first_name", "url", "account", "amount", "due_date", "source", "origin", "paid_on",
         "quote_number", "good_through", "end_date", "case_number", "outcome", "insurer", "policy",
         "expired_on"}


def _kinds() -> list[str]:
    policy = ReminderPolicy()
    return (["payment_due", "payment_returned", "payoff_expiring", "decision", "insurance_lapsed"]
            + [f"payment_missed_{d}" for d in policy.late_days]
            + [f"lease_ending_{d}" for d in policy.lease_end_days])


def test_every_kind_has_an_email_and_a_text_using_only_the_values_the_rules_give() -> None:
    catalogue = reminder_texts.catalogue()
    for kind in _kinds():
        for part in ("subject", "body", "text"):
            names = {name for _, name, _, _ in string.Formatter().parse(catalogue[kind][part]) if name}
            assert names <= GIVEN, (kind, part, names - GIVEN)


def test_a_text_stays_within_two_sms_segments_with_the_opt_out_line() -> None:
    long_values = {name: "x" * 12 for name in GIVEN}
    for kind in _kinds():
        assert len(reminder_texts.text(kind, long_values, "sms")) <= 306, kind
