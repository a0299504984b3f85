"""Identity: identification, one-time codes, locks and the verified-session guard."""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from autofinance.adapters.notify import readable_body
from autofinance.adapters.security import keyed_hash
from autofinance.adapters.store.db import UnitOfWork
from autofinance.config import Settings
from autofinance.services import errors, identity
from autofinance.services.outbox import newest_messages
from autofinance.services.errors import (
    CodeAlreadyUsed,
    CodeExpired,
    CodeInvalid,
    CodeSendLimitReached,
    IdentificationFailed,
    NoPendingVerification,
    NotVerified,
    ServiceError,
    StepUpRequired,
    VerificationLocked,
)
from autofinance.adapters.store.models import (
    Account,
    AttemptCounter,
    AuditLog,
    Customer,
    OutboxMessage,
    VerificationChallenge,
    VerifiedSession,
)

MARIA = {"account": "7301004821", "username": "mlopez", "zip": "30309", "dob": "1985-03-14",
         "ssn4": "4821", "email": "maria.lopez@example.com", "mobile": "+14045550101"}
CONV = "conv-1"


# --- helpers ----------------------------------------------------------------------------


def identify_maria(uow_factory, settings, clock, conversation=CONV):
    return identity.identify(conversation, MARIA["account"], MARIA["zip"], settings.secret_pepper,
                             uow_factory(), now=clock.now)


def last_code(uow_factory) -> str:
    """The code as the customer reads it in the message we sent (sealed in the outbox)."""
    [message] = newest_messages(uow_factory(), Settings().secret_pepper, 1, kind="otp")
    return re.search(r"\b(\d{6})\b", message.body).group(1)


def send(uow_factory, settings, clock, channel="email", conversation=CONV):
    return identity.send_code(conversation, channel, settings.secret_pepper,
                              uow_factory(), now=clock.now)


def verify(uow_factory, settings, clock, code, conversation=CONV):
    return identity.verify_code(conversation, code, settings.secret_pepper,
                                uow_factory(), now=clock.now)


def verified_maria(uow_factory, settings, clock, conversation=CONV):
    identify_maria(uow_factory, settings, clock, conversation)
    send(uow_factory, settings, clock, conversation=conversation)
    return verify(uow_factory, settings, clock, last_code(uow_factory), conversation)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def maria_id(uow_factory) -> int:
    with uow_factory() as uow:
        return uow.session.scalar(
            select(Account.customer_id).where(Account.account_number == MARIA["account"]))


# --- identify ---------------------------------------------------------------------------


def test_identify_by_account_number_and_zip_opens_a_challenge_and_masks_contacts(
        uow_factory, settings, clock):
    options = identify_maria(uow_factory, settings, clock)

    assert options == identity.ContactOptions("m****@example.com", "***-***-0101")
    with uow_factory() as uow:  # leaving the unit of work expires loaded rows: assert inside
        challenge = uow.session.scalars(select(VerificationChallenge)).one()
        assert challenge.conversation_id == CONV
        assert challenge.channel is None and challenge.code_hash is None
        assert challenge.expires_at == clock.now + timedelta(minutes=15)


def test_identify_by_username_and_date_of_birth(uow_factory, settings, clock):
    options = identity.identify(CONV, "jchen", "1979-11-02", settings.secret_pepper, uow_factory(),
                                now=clock.now)
    assert options.phone_masked == "***-***-0142"


def test_identify_by_account_number_and_ssn_last_four(uow_factory, settings, clock):
    options = identity.identify(CONV, "7301005530", "5530", settings.secret_pepper, uow_factory(),
                                now=clock.now)
    assert options.email_masked == "d****@example.com"


def test_a_wrong_factor_and_an_unknown_account_fail_with_the_same_message(
        uow_factory, settings, clock):
    with pytest.raises(IdentificationFailed) as wrong_factor:
        identity.identify(CONV, MARIA["account"], "30310", settings.secret_pepper,
                          uow_factory(), now=clock.now)
    with pytest.raises(IdentificationFailed) as unknown_account:
        identity.identify(CONV, "7309999999", "30309", settings.secret_pepper,
                          uow_factory(), now=clock.now)
    with pytest.raises(IdentificationFailed) as factor_of_another_customer:
        identity.identify(CONV, MARIA["account"], "1177", settings.secret_pepper,
                          uow_factory(), now=clock.now)

    assert wrong_factor.value.message == unknown_account.value.message
    assert str(wrong_factor.value) == str(factor_of_another_customer.value)
    assert "agent" in wrong_factor.value.message
    with uow_factory() as uow:
        assert uow.session.scalar(select(VerificationChallenge)) is None


def test_a_new_identification_expires_the_open_one(uow_factory, settings, clock):
    identify_maria(uow_factory, settings, clock)
    send(uow_factory, settings, clock)
    old_code = last_code(uow_factory)
    identity.identify(CONV, "jchen", "94107", settings.secret_pepper, uow_factory(), now=clock.now)

    with pytest.raises(CodeExpired):
        verify(uow_factory, settings, clock, old_code)


def test_a_customer_locked_by_wrong_codes_answers_like_a_wrong_factor_whatever_is_typed(
        uow_factory, settings, clock):
    with uow_factory() as uow:
        customer = uow.session.get(Customer, maria_id(uow_factory))
        customer.verification_locked_until = clock.now + timedelta(minutes=10)
        uow.commit()

    answers = []
    for conversation, identifier, factor in (("c-wrong", MARIA["account"], "00000"),
                                             ("c-right", MARIA["account"], MARIA["zip"]),
                                             ("c-unknown", "7309999999", MARIA["zip"])):
        with pytest.raises(IdentificationFailed) as refused:
            identity.identify(conversation, identifier, factor, settings.secret_pepper,
                              uow_factory(), now=clock.now)
        answers.append((type(refused.value), refused.value.message))
    assert len(set(answers)) == 1  # the right factor is not confirmed, the lock not shown
    clock.advance(minutes=10)
    assert identify_maria(uow_factory, settings, clock).email_masked == "m****@example.com"


def test_five_failed_identifications_lock_the_conversation_for_fifteen_minutes(
        uow_factory, settings, clock):
    for _ in range(4):
        with pytest.raises(IdentificationFailed):
            identity.identify(CONV, MARIA["account"], "11111", settings.secret_pepper,
                              uow_factory(), now=clock.now)
        clock.advance(seconds=10)
    with pytest.raises(VerificationLocked):
        identity.identify(CONV, MARIA["account"], "11111", settings.secret_pepper,
                          uow_factory(), now=clock.now)

    with pytest.raises(VerificationLocked):  # even the right details, in this conversation
        identify_maria(uow_factory, settings, clock)
    with pytest.raises(IdentificationFailed):  # and the account itself is locked, silently
        identify_maria(uow_factory, settings, clock, conversation="another-conversation")
    clock.advance(minutes=15)
    assert identify_maria(uow_factory, settings, clock).email_masked == "m****@example.com"
    with uow_factory() as uow:
        failures = uow.session.scalars(
            select(AuditLog).where(AuditLog.action == "identify_failed")
            .order_by(AuditLog.id)).all()
        assert [row.details["checked"] for row in failures] == [True] * 5 + [False]
        assert all("11111" not in str(row.details) for row in failures)


def try_identify(uow_factory, settings, clock, conversation, factor,
                 identifier=MARIA["account"], client_key=None) -> str:
    """One identification; the name of what it answered."""
    try:
        identity.identify(conversation, identifier, factor, settings.secret_pepper, uow_factory(),
                          now=clock.now, client_key=client_key)
    except ServiceError as error:
        return type(error).__name__
    return "identified"


def block_maria(uow_factory, settings, clock, prefix="guess"):
    """Five wrong ZIPs from five conversations: Maria's account is blocked from now."""
    for n in range(5):
        assert try_identify(uow_factory, settings, clock, f"{prefix}-{n}", f"{10000 + n}") == (
            "IdentificationFailed")


def checked_flags(uow_factory) -> list[bool]:
    with uow_factory() as uow:
        return [row.details["checked"] for row in uow.session.scalars(
            select(AuditLog).where(AuditLog.action == "identify_failed").order_by(AuditLog.id))]


def test_tries_while_an_account_is_blocked_do_not_extend_the_block(uow_factory, settings, clock):
    """The review kept an account locked with one guess every 15 minutes."""
    block_maria(uow_factory, settings, clock)
    for minutes in (5, 5, 4):  # wrong and right factors from new conversations, all refused
        clock.advance(minutes=minutes)
        for factor in ("11111", MARIA["zip"]):
            assert try_identify(uow_factory, settings, clock, f"try-{minutes}-{factor}",
                                factor) == "IdentificationFailed"
    clock.advance(minutes=1)  # fifteen minutes after the block started, not after the last try

    assert identify_maria(uow_factory, settings, clock, "customer").email_masked == "m****@example.com"


def test_tries_while_an_account_is_blocked_do_not_count_against_it(uow_factory, settings, clock):
    block_maria(uow_factory, settings, clock)
    clock.advance(minutes=10)
    for n in range(5):
        try_identify(uow_factory, settings, clock, f"while-blocked-{n}", f"{20000 + n}")
    clock.advance(minutes=5)  # the block is over; the five tries during it were never checked
    for n in range(4):
        try_identify(uow_factory, settings, clock, f"after-{n}", f"{30000 + n}")

    assert identify_maria(uow_factory, settings, clock, "customer").email_masked == "m****@example.com"
    assert checked_flags(uow_factory) == [True] * 5 + [False] * 5 + [True] * 4


def test_retrying_the_right_factor_on_a_blocked_account_counts_in_the_conversation_like_a_wrong_one(
        uow_factory, settings, clock):
    """Not counting right factors would confirm them: that conversation would lock later."""
    block_maria(uow_factory, settings, clock)

    def retries(conversation: str, factor: str) -> list[str]:
        return [try_identify(uow_factory, settings, clock, conversation, factor) for _ in range(6)]

    assert retries("customer", MARIA["zip"]) == retries("attacker", "11111") == (
        ["IdentificationFailed"] * 4 + ["VerificationLocked"] * 2)


def test_wrong_factors_either_side_of_a_quarter_hour_still_block_the_account_at_five(
        uow_factory, settings, clock):
    """The review: 1 wrong ZIP, 3 more at 14:59, 4 at 15:01, and no block."""
    guesses = iter(f"{40000 + n}" for n in range(8))
    try_identify(uow_factory, settings, clock, "edge-0", next(guesses))
    clock.advance(minutes=14, seconds=59)
    for n in range(3):
        try_identify(uow_factory, settings, clock, f"edge-a{n}", next(guesses))
    clock.advance(seconds=2)
    for n in range(4):
        try_identify(uow_factory, settings, clock, f"edge-b{n}", next(guesses))

    assert try_identify(uow_factory, settings, clock, "customer", MARIA["zip"]) == "IdentificationFailed"
    # the first guess left the last 15 minutes at 15:00; the 5th within them blocked the account
    assert checked_flags(uow_factory) == [True] * 6 + [False] * 3


def test_blocking_an_account_or_a_client_address_is_audited_without_the_identifier(
        uow_factory, settings, clock):
    block_maria(uow_factory, settings, clock)
    try_identify(uow_factory, settings, clock, "later", "11111")  # refused: no second block
    for n in range(5):
        try_identify(uow_factory, settings, clock, f"made-up-{n}", "11111", identifier="7309999999")
    for n in range(10):  # two per account: only the client address fills its count
        try_identify(uow_factory, settings, clock, f"bot-{n}", "11111",
                     identifier=f"73010099{n % 5:02d}", client_key="address-of-the-bot")

    with uow_factory() as uow:
        rows = uow.session.scalars(select(AuditLog).where(
            AuditLog.action == "identification_blocked").order_by(AuditLog.id)).all()
        blocked = [(row.actor, row.subject.split(":")[0], row.details["blocked"]) for row in rows]
        assert blocked == [("system", "customer", "account"), ("system", "identifier", "account"),
                           ("system", "client", "client")]
        assert rows[0].subject == f"customer:{maria_id(uow_factory)}"
        assert rows[0].details["until"] == (clock.now + timedelta(minutes=15)).isoformat()
        for row in rows:
            assert "7309999999" not in str(row.subject) + str(row.details)
            assert "address-of-the-bot" not in str(row.subject) + str(row.details)


def test_the_counter_of_an_unknown_identifier_is_not_the_hash_of_what_was_typed(
        uow_factory, settings, clock):
    """A ZIP typed as the identifier must not leave Maria's ZIP hash in the counters."""
    try_identify(uow_factory, settings, clock, CONV, "11111", identifier=MARIA["zip"])

    with uow_factory() as uow:
        keys = uow.session.scalars(select(AttemptCounter.key)).all()
        maria = uow.session.get(Customer, maria_id(uow_factory))
        factor_hashes = {maria.zip_code_hash, maria.date_of_birth_hash, maria.ssn_last4_hash}
    assert any(key.startswith("identifier:") for key in keys)
    assert not any(hashed in key for key in keys for hashed in factor_hashes)
    assert keyed_hash(MARIA["zip"], settings.secret_pepper) not in " ".join(keys)


def test_a_challenge_keeps_no_send_or_attempt_count_of_its_own():
    """The limits live in the attempt counters; counts on the challenge were never read."""
    assert {"sends", "attempts"}.isdisjoint(VerificationChallenge.__table__.columns.keys())


def test_the_send_limit_has_one_error_whose_message_is_the_one_the_customer_sees():
    assert not hasattr(errors, "ResendLimitReached")
    assert CodeSendLimitReached.__bases__ == (ServiceError,)


# --- send_code --------------------------------------------------------------------------


@pytest.mark.parametrize("channel, address, masked", [
    ("email", MARIA["email"], "m****@example.com"),
    ("sms", MARIA["mobile"], "***-***-0101"),
])
def test_the_code_goes_to_the_chosen_channel_and_only_its_hash_is_stored(
        uow_factory, settings, clock, channel, address, masked):
    identify_maria(uow_factory, settings, clock)
    sent = send(uow_factory, settings, clock, channel)

    assert sent == identity.CodeSent(channel, masked, 5)
    code = last_code(uow_factory)
    with uow_factory() as uow:
        message = uow.session.scalars(select(OutboxMessage)).one()
        rows = uow.session.execute(text("SELECT * FROM verification_challenges")).all()
        challenge = uow.session.scalars(select(VerificationChallenge)).one()
        body = readable_body(message, settings.secret_pepper)
        assert (message.to, message.channel, message.kind) == (address, channel, "otp")
        assert "expires in 5 minutes" in body and "never call or text" in body
        assert code not in message.body  # sealed at rest
        assert all(code not in str(value) for row in rows for value in row)
        assert challenge.code_hash == keyed_hash(code, settings.secret_pepper)
        assert challenge.channel == channel
        assert challenge.expires_at == clock.now + timedelta(minutes=5)


def test_a_code_cannot_be_sent_without_an_identification(uow_factory, settings, clock):
    with pytest.raises(NoPendingVerification):
        send(uow_factory, settings, clock)


def test_at_most_three_codes_are_sent_per_conversation_however_often_it_identifies(
        uow_factory, settings, clock):
    identify_maria(uow_factory, settings, clock)
    for _ in range(3):
        send(uow_factory, settings, clock, "sms")
    with pytest.raises(CodeSendLimitReached):
        send(uow_factory, settings, clock, "email")
    identify_maria(uow_factory, settings, clock)
    with pytest.raises(CodeSendLimitReached) as refused:
        send(uow_factory, settings, clock, "email")
    assert "agent" in refused.value.message
    with uow_factory() as uow:
        assert len(uow.session.scalars(select(OutboxMessage)).all()) == 3
    clock.advance(hours=1)
    identify_maria(uow_factory, settings, clock)
    assert send(uow_factory, settings, clock).channel == "email"


def test_at_most_five_codes_an_hour_are_sent_per_customer_across_conversations(
        uow_factory, settings, clock):
    for n in range(5):
        identify_maria(uow_factory, settings, clock, conversation=f"conv-{n}")
        send(uow_factory, settings, clock, conversation=f"conv-{n}")
    identify_maria(uow_factory, settings, clock, conversation="conv-5")
    with pytest.raises(CodeSendLimitReached):
        send(uow_factory, settings, clock, conversation="conv-5")
    with uow_factory() as uow:
        assert len(uow.session.scalars(select(OutboxMessage)).all()) == 5


def test_a_resent_code_replaces_the_previous_one(uow_factory, settings, clock):
    identify_maria(uow_factory, settings, clock)
    send(uow_factory, settings, clock)
    first = last_code(uow_factory)
    send(uow_factory, settings, clock, "sms")
    second = last_code(uow_factory)

    if first != second:  # one chance in a million that they are equal
        with pytest.raises(CodeInvalid):
            verify(uow_factory, settings, clock, first)
    assert verify(uow_factory, settings, clock, second).level == "full"


# --- verify_code ------------------------------------------------------------------------


def test_the_correct_code_verifies_the_conversation_at_level_full(uow_factory, settings, clock):
    verified = verified_maria(uow_factory, settings, clock)

    assert verified == identity.VerifiedCustomer(maria_id(uow_factory), "Maria", "full")
    with uow_factory() as uow:
        session = uow.session.scalars(select(VerifiedSession)).one()
        audit = uow.session.scalars(select(AuditLog).where(AuditLog.action == "verified")).one()
        assert (session.conversation_id, session.level, session.method) == (CONV, "full", "otp")
        assert audit.actor == f"customer:{verified.customer_id}"
        assert audit.details == {"method": "otp", "channel": "email", "level": "full"}


def test_a_used_code_is_refused_even_inside_its_window(uow_factory, settings, clock):
    verified_maria(uow_factory, settings, clock)
    code = last_code(uow_factory)
    clock.advance(minutes=1)

    with pytest.raises(CodeAlreadyUsed) as refused:
        verify(uow_factory, settings, clock, code)
    assert "new code" in refused.value.message


def test_an_expired_code_is_refused(uow_factory, settings, clock):
    identify_maria(uow_factory, settings, clock)
    send(uow_factory, settings, clock)
    clock.advance(minutes=6)

    with pytest.raises(CodeExpired):
        verify(uow_factory, settings, clock, last_code(uow_factory))


def test_a_wrong_code_says_how_many_tries_are_left(uow_factory, settings, clock):
    identify_maria(uow_factory, settings, clock)
    send(uow_factory, settings, clock)
    bad = wrong(last_code(uow_factory))

    with pytest.raises(CodeInvalid) as first:
        verify(uow_factory, settings, clock, bad)
    with pytest.raises(CodeInvalid) as second:
        verify(uow_factory, settings, clock, bad)
    assert (first.value.attempts_left, second.value.attempts_left) == (4, 3)
    assert "3 tries left" in second.value.message


def test_five_wrong_codes_lock_the_customer_for_fifteen_minutes_in_every_conversation(
        uow_factory, settings, clock):
    identify_maria(uow_factory, settings, clock)
    send(uow_factory, settings, clock)
    code = last_code(uow_factory)
    for _ in range(4):
        with pytest.raises(CodeInvalid):
            verify(uow_factory, settings, clock, wrong(code))
    with pytest.raises(VerificationLocked) as locked:
        verify(uow_factory, settings, clock, wrong(code))
    assert locked.value.until == clock.now + timedelta(minutes=15)

    with pytest.raises(VerificationLocked):  # the right code no longer helps
        verify(uow_factory, settings, clock, code)
    clock.advance(minutes=14)
    with pytest.raises(IdentificationFailed):  # nor a new conversation: it looks like a wrong factor
        identify_maria(uow_factory, settings, clock, conversation="conv-2")

    clock.advance(minutes=1)
    assert verified_maria(uow_factory, settings, clock, conversation="conv-2").level == "full"


def test_resending_does_not_buy_more_guesses(uow_factory, settings, clock):
    identify_maria(uow_factory, settings, clock)
    for _ in range(2):
        send(uow_factory, settings, clock)
        for _ in range(2):
            with pytest.raises(CodeInvalid):
                verify(uow_factory, settings, clock, wrong(last_code(uow_factory)))
    send(uow_factory, settings, clock)
    with pytest.raises(VerificationLocked):
        verify(uow_factory, settings, clock, wrong(last_code(uow_factory)))


def test_codes_and_personal_data_never_reach_the_logs(uow_factory, settings, clock, caplog):
    caplog.set_level(logging.DEBUG)
    identify_maria(uow_factory, settings, clock)
    with pytest.raises(IdentificationFailed):
        identity.identify(CONV, MARIA["account"], "1985-01-01", settings.secret_pepper,
                          uow_factory(), now=clock.now)
    verified_maria(uow_factory, settings, clock)

    for secret in (last_code(uow_factory), *MARIA.values()):
        assert secret not in caplog.text


# --- require_verified and sessions ------------------------------------------------------


def test_an_unverified_conversation_is_refused(uow_factory, clock):
    with pytest.raises(NotVerified):
        identity.require_verified(CONV, "read", uow_factory(), now=clock.now)


def test_a_verified_conversation_passes_at_either_level(uow_factory, settings, clock):
    verified_maria(uow_factory, settings, clock)
    for level in ("read", "full"):
        passed = identity.require_verified(CONV, level, uow_factory(), now=clock.now)
        assert (passed.first_name, passed.level) == ("Maria", "full")


def test_verification_is_per_conversation(uow_factory, settings, clock):
    verified_maria(uow_factory, settings, clock)
    with pytest.raises(NotVerified):
        identity.require_verified("someone-else", "read", uow_factory(), now=clock.now)


def test_verification_lapses_after_fifteen_minutes_of_inactivity(uow_factory, settings, clock):
    verified_maria(uow_factory, settings, clock)
    verified_at = clock.now
    clock.advance(minutes=15, seconds=1)

    with pytest.raises(NotVerified):
        identity.require_verified(CONV, "read", uow_factory(), now=clock.now)
    clock.advance(seconds=-30)  # a lapsed session stays ended
    with pytest.raises(NotVerified):
        identity.require_verified(CONV, "read", uow_factory(), now=clock.now)
    with uow_factory() as uow:
        ended = uow.session.scalars(select(VerifiedSession)).one().ended_at
    assert ended == verified_at + timedelta(minutes=15)


def test_activity_slides_the_inactivity_window(uow_factory, settings, clock):
    verified_maria(uow_factory, settings, clock)
    for _ in range(3):
        clock.advance(minutes=10)
        identity.require_verified(CONV, "read", uow_factory(), now=clock.now)
    clock.advance(minutes=14)
    assert identity.require_verified(CONV, "full", uow_factory(), now=clock.now).level == "full"


def test_activity_is_written_at_most_every_30_seconds(uow_factory, settings, clock):
    verified_maria(uow_factory, settings, clock)
    verified_at = clock.now

    def last_seen() -> datetime:
        with uow_factory() as uow:
            return uow.session.scalars(select(VerifiedSession)).one().last_seen_at

    clock.advance(seconds=20)
    identity.require_verified(CONV, "read", uow_factory(), now=clock.now)
    assert last_seen() == verified_at  # a burst of actions writes nothing
    clock.advance(seconds=10)
    identity.require_verified(CONV, "read", uow_factory(), now=clock.now)
    assert last_seen() == clock.now


def test_a_portal_session_may_read_but_must_step_up_to_change(uow_factory, clock):
    customer_id = maria_id(uow_factory)
    started = identity.start_portal_session(CONV, customer_id, uow_factory(), now=clock.now)

    assert started == identity.VerifiedCustomer(customer_id, "Maria", "read")
    assert identity.require_verified(CONV, "read", uow_factory(), now=clock.now).level == "read"
    with pytest.raises(StepUpRequired):
        identity.require_verified(CONV, "full", uow_factory(), now=clock.now)


def test_a_code_upgrades_a_portal_session_and_the_portal_does_not_downgrade_it(
        uow_factory, settings, clock):
    identity.start_portal_session(CONV, maria_id(uow_factory), uow_factory(), now=clock.now,
                                  channel="unknown")
    verified_maria(uow_factory, settings, clock)  # verify_code's default channel is "unknown"
    again = identity.start_portal_session(CONV, maria_id(uow_factory), uow_factory(),
                                          now=clock.now, channel="unknown")

    assert again.level == "full"
    assert identity.require_verified(CONV, "full", uow_factory(), now=clock.now).level == "full"


def test_a_session_counts_only_on_the_channel_it_was_verified_on(uow_factory, settings, clock):
    identify_maria(uow_factory, settings, clock)
    send(uow_factory, settings, clock)
    identity.verify_code(CONV, last_code(uow_factory), settings.secret_pepper, uow_factory(),
                         now=clock.now, channel="twilio")

    assert identity.require_verified(CONV, "full", uow_factory(), now=clock.now,
                                     channel="twilio").level == "full"
    with pytest.raises(NotVerified):
        identity.require_verified(CONV, "read", uow_factory(), now=clock.now, channel="rest")


def test_end_verification_ends_the_session_and_pending_codes(uow_factory, settings, clock):
    verified_maria(uow_factory, settings, clock)
    identify_maria(uow_factory, settings, clock)
    send(uow_factory, settings, clock)
    pending = last_code(uow_factory)

    identity.end_verification(CONV, uow_factory(), now=clock.now)

    with pytest.raises(NotVerified):
        identity.require_verified(CONV, "read", uow_factory(), now=clock.now)
    with pytest.raises(CodeExpired):
        verify(uow_factory, settings, clock, pending)


# --- verify_conversation: the assistant's guard -------------------------------------------


def count_transactions(monkeypatch):
    """Records each unit of work entered from now on."""
    opened = []
    enter = UnitOfWork.__enter__

    def counted(uow):
        opened.append(uow)
        return enter(uow)

    monkeypatch.setattr(UnitOfWork, "__enter__", counted)
    return opened


def test_a_portal_customer_is_verified_at_read_in_one_transaction(uow_factory, clock, monkeypatch):
    customer_id = maria_id(uow_factory)
    transactions = count_transactions(monkeypatch)

    verified = identity.verify_conversation(CONV, "read", "socketio", customer_id, uow_factory(),
                                            now=clock.now)

    assert verified == identity.VerifiedCustomer(customer_id, "Maria", "read")
    assert len(transactions) == 1
    with uow_factory() as uow:
        session = uow.session.scalars(select(VerifiedSession)).one()
        audit = uow.session.scalars(select(AuditLog).where(AuditLog.action == "verified")).one()
        assert (session.method, session.level, session.channel) == ("portal", "read", "socketio")
        assert audit.actor == f"customer:{customer_id}" and audit.subject == CONV
        assert audit.details == {"method": "portal", "level": "read"}


def test_a_portal_session_counts_only_with_the_token_of_its_customer(uow_factory, clock):
    customer_id = maria_id(uow_factory)
    identity.verify_conversation(CONV, "read", "socketio", customer_id, uow_factory(),
                                 now=clock.now)

    for token_customer in (None, customer_id + 1):
        with pytest.raises(NotVerified):
            identity.verify_conversation(CONV, "read", "socketio", token_customer, uow_factory(),
                                         now=clock.now)
    assert identity.verify_conversation(CONV, "read", None, customer_id, uow_factory(),
                                        now=clock.now).level == "read"


def test_a_portal_sign_in_is_kept_but_a_change_still_needs_a_code(uow_factory, clock):
    with pytest.raises(StepUpRequired):
        identity.verify_conversation(CONV, "full", None, maria_id(uow_factory), uow_factory(),
                                     now=clock.now)
    with uow_factory() as uow:
        session = uow.session.scalars(select(VerifiedSession)).one()
        assert (session.method, session.channel, session.ended_at) == ("portal", "socketio", None)


def test_a_code_verified_conversation_needs_no_portal_token(uow_factory, settings, clock):
    verified_maria(uow_factory, settings, clock)
    for level in ("read", "full"):
        passed = identity.verify_conversation(CONV, level, None, None, uow_factory(), now=clock.now)
        assert (passed.first_name, passed.level) == ("Maria", "full")


def test_an_unknown_portal_customer_or_no_token_verifies_nobody(uow_factory, clock):
    for token_customer in (None, 999_999):
        with pytest.raises(NotVerified):
            identity.verify_conversation(CONV, "read", "socketio", token_customer, uow_factory(),
                                         now=clock.now)
    with uow_factory() as uow:
        assert uow.session.scalars(select(VerifiedSession)).all() == []


def test_a_lapsed_session_ends_and_the_portal_token_signs_in_again(uow_factory, settings, clock):
    verified_maria(uow_factory, settings, clock)
    verified_at = clock.now
    clock.advance(minutes=16)

    again = identity.verify_conversation(CONV, "read", None, maria_id(uow_factory), uow_factory(),
                                         now=clock.now)

    assert again.level == "read"
    with uow_factory() as uow:
        sessions = uow.session.scalars(select(VerifiedSession).order_by(VerifiedSession.id)).all()
        assert [(s.method, s.ended_at) for s in sessions] == [
            ("otp", verified_at + timedelta(minutes=15)), ("portal", None)]


# --- start_step_up: a signed-in customer verifies with a code only ---------------------------


def portal_maria(uow_factory, clock, conversation=CONV, channel="socketio") -> int:
    """Maria signed in on the website: her conversation holds a 'read' portal session."""
    customer_id = maria_id(uow_factory)
    identity.verify_conversation(conversation, "read", channel, customer_id, uow_factory(),
                                 now=clock.now)
    return customer_id


def step_up(uow_factory, clock, customer_id, conversation=CONV, channel="socketio"):
    return identity.start_step_up(conversation, customer_id, uow_factory(), now=clock.now,
                                  channel=channel)


def test_a_step_up_opens_a_verification_for_the_portal_customer_and_masks_her_contacts(
        uow_factory, clock):
    customer_id = portal_maria(uow_factory, clock)

    options = step_up(uow_factory, clock, customer_id)

    assert options == identity.ContactOptions("m****@example.com", "***-***-0101")
    with uow_factory() as uow:
        challenge = uow.session.scalars(select(VerificationChallenge)).one()
        assert (challenge.conversation_id, challenge.customer_id) == (CONV, customer_id)
        assert challenge.code_hash is None
        assert challenge.expires_at == clock.now + timedelta(minutes=15)
        audit = uow.session.scalars(select(AuditLog).where(AuditLog.action == "step_up_started")).one()
        assert (audit.actor, audit.subject, audit.details) == (
            f"customer:{customer_id}", CONV, {"method": "portal"})


def test_a_code_after_a_step_up_upgrades_the_portal_session_to_full(uow_factory, settings, clock):
    customer_id = portal_maria(uow_factory, clock)
    step_up(uow_factory, clock, customer_id)
    sent = identity.send_code(CONV, "sms", settings.secret_pepper, uow_factory(), now=clock.now)
    verified = identity.verify_code(CONV, last_code(uow_factory), settings.secret_pepper,
                                    uow_factory(), now=clock.now, channel="socketio")

    assert sent.destination_masked == "***-***-0101"
    assert verified == identity.VerifiedCustomer(customer_id, "Maria", "full")
    assert identity.verify_conversation(CONV, "full", "socketio", customer_id, uow_factory(),
                                        now=clock.now).level == "full"
    with uow_factory() as uow:
        message = uow.session.scalars(select(OutboxMessage)).one()
        assert message.to == MARIA["mobile"]  # the phone on file, nothing typed


@pytest.mark.parametrize("setup", ["nobody", "another-customer", "other-channel", "lapsed",
                                   "code-verified", "password-changed"])
def test_a_step_up_needs_a_live_portal_read_session_of_that_very_customer(
        uow_factory, settings, clock, setup):
    customer_id = maria_id(uow_factory)
    if setup == "another-customer":
        identity.verify_conversation(CONV, "read", "socketio", customer_id + 1, uow_factory(),
                                     now=clock.now)
    elif setup in ("other-channel", "lapsed", "password-changed"):
        portal_maria(uow_factory, clock, channel="rest" if setup == "other-channel" else "socketio")
        if setup == "lapsed":
            clock.advance(minutes=16)
        if setup == "password-changed":
            clock.advance(seconds=1)
            with uow_factory() as uow:
                uow.session.execute(text("UPDATE online_credentials SET sessions_valid_after = :t "
                                         "WHERE customer_id = :c"), {"t": clock.now, "c": customer_id})
                uow.commit()
    elif setup == "code-verified":
        verified_maria(uow_factory, settings, clock)

    with pytest.raises(NotVerified):
        step_up(uow_factory, clock, customer_id)
    with uow_factory() as uow:
        assert uow.session.scalars(select(VerificationChallenge).where(
            VerificationChallenge.code_hash.is_(None),
            VerificationChallenge.expires_at > clock.now)).all() == []


def test_a_step_up_is_refused_while_the_customer_is_locked_by_wrong_codes(uow_factory, clock):
    customer_id = portal_maria(uow_factory, clock)
    with uow_factory() as uow:
        uow.session.get(Customer, customer_id).verification_locked_until = clock.now + timedelta(minutes=10)
        uow.commit()

    with pytest.raises(VerificationLocked):
        step_up(uow_factory, clock, customer_id)
    clock.advance(minutes=10)
    portal_maria(uow_factory, clock)
    assert step_up(uow_factory, clock, customer_id).email_masked == "m****@example.com"


def test_a_step_up_is_refused_while_the_account_is_blocked_by_wrong_factors(
        uow_factory, settings, clock):
    block_maria(uow_factory, settings, clock)
    customer_id = portal_maria(uow_factory, clock)

    with pytest.raises(VerificationLocked):
        step_up(uow_factory, clock, customer_id)


def test_a_step_up_is_refused_in_a_conversation_blocked_by_wrong_factors(uow_factory, settings, clock):
    for n in range(5):
        try_identify(uow_factory, settings, clock, CONV, f"{20000 + n}", identifier="7309999999")
    customer_id = portal_maria(uow_factory, clock)

    with pytest.raises(VerificationLocked):
        step_up(uow_factory, clock, customer_id)


def test_a_step_up_counts_no_failure_and_buys_no_extra_codes(uow_factory, settings, clock):
    customer_id = portal_maria(uow_factory, clock)
    for _ in range(3):
        step_up(uow_factory, clock, customer_id)
        identity.send_code(CONV, "email", settings.secret_pepper, uow_factory(), now=clock.now)
    step_up(uow_factory, clock, customer_id)

    with pytest.raises(CodeSendLimitReached):
        identity.send_code(CONV, "email", settings.secret_pepper, uow_factory(), now=clock.now)
    with uow_factory() as uow:
        scopes = set(uow.session.scalars(select(AttemptCounter.scope)))
        counted = uow.session.execute(text(
            "SELECT COUNT(*) FROM counted_attempts c JOIN attempt_counters a ON a.id = c.counter_id "
            "WHERE a.scope LIKE 'identify%'")).scalar()
    assert counted == 0 and "code_send_conversation" in scopes


def test_wrong_codes_after_a_step_up_lock_the_customer_like_any_others(uow_factory, settings, clock):
    customer_id = portal_maria(uow_factory, clock)
    step_up(uow_factory, clock, customer_id)
    send(uow_factory, settings, clock)
    code = last_code(uow_factory)
    for _ in range(4):
        with pytest.raises(CodeInvalid):
            verify(uow_factory, settings, clock, wrong(code))
    with pytest.raises(VerificationLocked):
        verify(uow_factory, settings, clock, wrong(code))
    with pytest.raises(VerificationLocked):
        step_up(uow_factory, clock, customer_id)
