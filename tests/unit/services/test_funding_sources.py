"""New ways to pay: a bank account from chat (checked routing and account numbers, stored as last
four and a token only), a debit card from a single-use page link (Luhn), limits per customer and
per conversation, a notice and an audit row for each, and nothing changed by a refusal."""
from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
from fixtures_store import DANA, MARIA, UowFactory, count, customer_id, set_account
from sqlalchemy import select

from autofinance.adapters.notify import readable_body
from autofinance.adapters.store.models import AuditLog, CardLinkToken, FundingSource, OutboxMessage
from autofinance.config import Settings
from autofinance.services import funding_sources, payments
from autofinance.services.errors import (
    AccountFrozen, CardLinkLimitReached, InvalidBankDetail, InvalidCardDetail, InvalidCardLink,
    NewSourceLimitReached,
)

ROUTING, ACCOUNT = "021000021", "123456789"  # a valid ABA checksum (JPMorgan Chase, New York)
CARD = "4111111111111111"  # Luhn-valid
TODAY = date(2026, 11, 24)


def add(uow_factory: UowFactory, settings: Settings, clock: Any, cid: int, account: str = ACCOUNT,
        routing: str = ROUTING, kind: str = "checking", conversation: str = "conv-1") -> Any:
    return funding_sources.add_bank_account(
        cid, routing, account, kind, funding_sources.conversation_key(conversation, settings.secret_pepper),
        uow_factory(), settings.secret_pepper, now=clock.now)


def everything_stored(uow_factory: UowFactory) -> str:
    """Every row of the tables the use case writes, as text: no full number may appear in it."""
    with uow_factory() as uow:
        rows: list[Any] = []
        for model in (FundingSource, OutboxMessage, AuditLog, CardLinkToken):
            for row in uow.session.scalars(select(model)):
                rows.append({c.name: str(getattr(row, c.key)) for c in model.__table__.columns})
    return json.dumps(rows)


def changes(uow_factory: UowFactory) -> tuple[int, int, int]:
    return count(uow_factory, FundingSource), count(uow_factory, OutboxMessage), count(uow_factory, AuditLog)


@pytest.mark.parametrize("text", ["021000021", "0210-0002-1", " 021 000 021 "])
def test_a_routing_number_with_the_aba_checksum_is_accepted(text: str) -> None:
    assert funding_sources.check_routing_number(text) == "021000021"


@pytest.mark.parametrize("text, reason", [("021000022", "routing_checksum"), ("123456789", "routing_checksum"),
                                          ("02100002", "routing_format"), ("0210000211", "routing_format"),
                                          ("chase", "routing_format")])
def test_a_routing_number_that_fails_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidBankDetail) as refused:
        funding_sources.check_routing_number(text)
    assert refused.value.reason == reason


@pytest.mark.parametrize("text, ok", [("1234", True), ("12345678901234567", True), ("123", False),
                                      ("123456789012345678", False), ("12ab5678", False), ("1234-5678", True)])
def test_an_account_number_has_4_to_17_digits(text: str, ok: bool) -> None:
    if ok:
        assert funding_sources.check_account_number(text) == text.replace("-", "")
    else:
        with pytest.raises(InvalidBankDetail):
            funding_sources.check_account_number(text)


@pytest.mark.parametrize("text, kind", [("checking", "checking"), ("my chequing acct", "checking"),
                                        ("Savings", "savings"), ("savngs", "savings")])
def test_the_account_kind_is_read_from_the_answer(text: str, kind: str) -> None:
    assert funding_sources.check_account_kind(text) == kind


def test_an_answer_naming_no_kind_or_both_is_refused() -> None:
    for text in ("the blue one", "checking or savings"):
        with pytest.raises(InvalidBankDetail):
            funding_sources.check_account_kind(text)


def test_a_bank_account_is_stored_as_last_four_and_a_token_usable_at_once(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    cid = customer_id(uow_factory, MARIA)
    added = add(uow_factory, settings, clock, cid, account="98765432106789")
    assert (added.masked_name, added.routing_masked, added.created) == ("checking ****6789", "***0021", True)
    assert added.email_masked == "m****@example.com"
    with uow_factory() as uow:
        source = uow.session.get_one(FundingSource, added.source_id)
        assert (source.kind, source.last4, source.active, source.customer_id) == ("checking", "6789", True, cid)
        assert source.token.startswith("ba_") and "98765432106789" not in source.token
    options = payments.payment_options(cid, uow_factory(), TODAY)
    assert added.source_id in {o.id for o in options.funding_sources}
    stored = everything_stored(uow_factory)
    assert "98765432106789" not in stored and "021000021" not in stored


def test_the_customer_is_emailed_and_the_addition_audited_without_the_numbers(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    cid = customer_id(uow_factory, MARIA)
    add(uow_factory, settings, clock, cid, account="555000111", kind="savings")
    with uow_factory() as uow:
        mail = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "bank_account_added")).one()
        body = readable_body(mail, settings.secret_pepper) or ""
        entry = uow.session.scalars(select(AuditLog).where(AuditLog.action == "funding_source_added")).one()
        to, actor, details = mail.to, entry.actor, entry.details
    assert to == "maria.lopez@example.com"
    assert "savings account ending 0111" in body and "If you didn't add it" in body
    assert "555000111" not in body and ROUTING not in body and "***0021" in body
    assert actor == f"customer:{cid}" and details["last4"] == "0111"
    assert "555000111" not in json.dumps(details)


def test_the_same_account_twice_is_saved_once(uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    cid = customer_id(uow_factory, MARIA)
    first = add(uow_factory, settings, clock, cid)
    before = changes(uow_factory)
    again = add(uow_factory, settings, clock, cid)
    assert (again.source_id, again.created) == (first.source_id, False)
    assert changes(uow_factory) == before


@pytest.mark.parametrize("routing, account, kind", [("021000022", ACCOUNT, "checking"), (ROUTING, "12", "checking"),
                                                    (ROUTING, ACCOUNT, "brokerage")])
def test_a_refused_detail_changes_nothing(uow_factory: UowFactory, settings: Settings, clock: Any,
                                          routing: str, account: str, kind: str) -> None:
    cid = customer_id(uow_factory, MARIA)
    before = changes(uow_factory)
    with pytest.raises(InvalidBankDetail):
        add(uow_factory, settings, clock, cid, routing=routing, account=account, kind=kind)
    assert changes(uow_factory) == before


def test_new_accounts_are_limited_per_conversation(uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    cid = customer_id(uow_factory, MARIA)
    for n in range(funding_sources.MAX_NEW_PER_CONVERSATION):
        add(uow_factory, settings, clock, cid, account=f"1000{n}")
    before = changes(uow_factory)
    with pytest.raises(NewSourceLimitReached) as refused:
        add(uow_factory, settings, clock, cid, account="20001")
    assert refused.value.scope == "conversation" and changes(uow_factory) == before
    key = funding_sources.conversation_key("conv-1", settings.secret_pepper)
    with pytest.raises(NewSourceLimitReached):  # said before the customer types any number
        funding_sources.check_new_source_allowed(cid, key, uow_factory(), now=clock.now)
    add(uow_factory, settings, clock, cid, account="20001", conversation="conv-2")  # another conversation may


def test_new_accounts_are_limited_per_customer_across_conversations_for_a_day(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    cid = customer_id(uow_factory, MARIA)
    for n in range(funding_sources.MAX_NEW_PER_DAY):
        add(uow_factory, settings, clock, cid, account=f"3000{n}", conversation=f"c{n}")
    with pytest.raises(NewSourceLimitReached) as refused:
        add(uow_factory, settings, clock, cid, account="40001", conversation="fresh")
    assert refused.value.scope == "customer"
    add(uow_factory, settings, clock, customer_id(uow_factory, DANA), conversation="fresh")  # others may
    clock.advance(days=1, minutes=1)
    add(uow_factory, settings, clock, cid, account="40001", conversation="fresh")


def test_a_frozen_account_gets_no_new_way_to_pay(uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    set_account(uow_factory, MARIA, fraud_frozen=True)
    before = changes(uow_factory)
    with pytest.raises(AccountFrozen):
        add(uow_factory, settings, clock, customer_id(uow_factory, MARIA))
    assert changes(uow_factory) == before


# --- debit cards, on the page ---------------------------------------------------------------


def send_link(uow_factory: UowFactory, settings: Settings, clock: Any, cid: int) -> str:
    funding_sources.send_card_link(cid, uow_factory(), settings.public_base_url, settings.secret_pepper,
                                   now=clock.now)
    with uow_factory() as uow:
        message = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "card_link")
                                      .order_by(OutboxMessage.id.desc())).first()
        assert message is not None and "/add-card?token=" not in message.body  # sealed at rest
        body = readable_body(message, settings.secret_pepper) or ""
    found = re.search(r"/add-card\?token=([A-Za-z0-9_-]{43})\s", body)
    assert found is not None
    return found.group(1)


def add_card(uow_factory: UowFactory, settings: Settings, clock: Any, token: str, number: str = CARD,
             month: str = "12", year: str = "2029") -> Any:
    return funding_sources.add_debit_card(token, number, month, year, uow_factory(), settings.secret_pepper,
                                          TODAY, now=clock.now)


def test_a_card_link_adds_a_luhn_checked_debit_card_once(uow_factory: UowFactory, settings: Settings,
                                                         clock: Any) -> None:
    cid = customer_id(uow_factory, DANA)
    token = send_link(uow_factory, settings, clock, cid)
    assert funding_sources.card_link_valid(token, uow_factory(), settings.secret_pepper, now=clock.now)
    added = add_card(uow_factory, settings, clock, token, number="4111 1111 1111 1111")
    assert (added.first_name, added.masked_name, added.fee) == ("Dana", "debit card ****1111", "$2.95")
    assert not funding_sources.card_link_valid(token, uow_factory(), settings.secret_pepper, now=clock.now)
    with pytest.raises(InvalidCardLink):
        add_card(uow_factory, settings, clock, token, number="5555555555554444")
    with uow_factory() as uow:
        cards = uow.session.scalars(select(FundingSource).where(FundingSource.customer_id == cid,
                                                                FundingSource.kind == "debit_card")).all()
        mail = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "debit_card_added")).one()
        body = readable_body(mail, settings.secret_pepper) or ""
        found = [(c.last4, c.token[:3]) for c in cards]
    assert found == [("1111", "dc_")]
    assert "debit card ending 1111" in body
    assert CARD not in everything_stored(uow_factory)


@pytest.mark.parametrize("number, month, year", [("4111111111111112", "12", "2029"), ("411111111111", "12", "2029"),
                                                 (CARD, "10", "2026"), (CARD, "13", "2029"), (CARD, "x", "29")])
def test_a_bad_card_leaves_the_link_usable_and_adds_nothing(uow_factory: UowFactory, settings: Settings, clock: Any,
                                                            number: str, month: str, year: str) -> None:
    token = send_link(uow_factory, settings, clock, customer_id(uow_factory, DANA))
    before = count(uow_factory, FundingSource)
    with pytest.raises(InvalidCardDetail):
        add_card(uow_factory, settings, clock, token, number=number, month=month, year=year)
    assert count(uow_factory, FundingSource) == before
    assert funding_sources.card_link_valid(token, uow_factory(), settings.secret_pepper, now=clock.now)


def test_a_card_link_expires_after_30_minutes_and_a_newer_one_cancels_it(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    cid = customer_id(uow_factory, DANA)
    old = send_link(uow_factory, settings, clock, cid)
    new = send_link(uow_factory, settings, clock, cid)
    with pytest.raises(InvalidCardLink):
        add_card(uow_factory, settings, clock, old)
    clock.advance(minutes=31)
    with pytest.raises(InvalidCardLink):
        add_card(uow_factory, settings, clock, new)
    with pytest.raises(InvalidCardLink):
        add_card(uow_factory, settings, clock, "not-a-token")


def test_card_links_are_limited_per_day(uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    cid = customer_id(uow_factory, DANA)
    for _ in range(funding_sources.MAX_CARD_LINKS_PER_DAY):
        send_link(uow_factory, settings, clock, cid)
    with pytest.raises(CardLinkLimitReached):
        funding_sources.send_card_link(cid, uow_factory(), settings.public_base_url, settings.secret_pepper,
                                       now=clock.now)


def test_a_card_counts_toward_the_customers_daily_limit(uow_factory: UowFactory, settings: Settings,
                                                        clock: Any) -> None:
    cid = customer_id(uow_factory, DANA)
    token = send_link(uow_factory, settings, clock, cid)
    for n in range(funding_sources.MAX_NEW_PER_DAY):
        add(uow_factory, settings, clock, cid, account=f"5000{n}", conversation=f"c{n}")
    with pytest.raises(NewSourceLimitReached):
        add_card(uow_factory, settings, clock, token)
    assert funding_sources.card_link_valid(token, uow_factory(), settings.secret_pepper, now=clock.now)
