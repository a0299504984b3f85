"""The account store's tables, as typed SQLAlchemy 2.x models.

Rules a bad caller could break are constraints in the schema (unique keys, checks, foreign
keys), not only in code. Money columns are exact (`Money`: cents in the database), times are
aware UTC (`UTCDateTime`). No full bank or card number, SSN or one-time code is stored: funding
sources keep a last-four and an opaque token, secrets keep only a keyed hash. Verification factors
(SSN last four, ZIP, date of birth) exist only as keyed hashes; what must be read back (the
mailing ZIP, a staff TOTP seed, an outbox message with a code or link) is sealed.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from autofinance.adapters.store.types import Money, UTCDateTime
from autofinance.domain.clock import utcnow


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    email: Mapped[str] = mapped_column(String(254))
    mobile: Mapped[str] = mapped_column(String(20))  # E.164, e.g. +14045550101
    # Verification factors: keyed hashes (security.keyed_hash), never the value.
    zip_code_hash: Mapped[str] = mapped_column(String(64))  # of the 5-digit ZIP
    date_of_birth_hash: Mapped[str] = mapped_column(String(64))  # of YYYY-MM-DD
    ssn_last4_hash: Mapped[str] = mapped_column(String(64))
    # The mailing ZIP letters need, sealed (sealing.seal_at_rest): a copy of the store alone
    # does not give it away as a verification factor.
    zip_code_sealed: Mapped[str] = mapped_column(String(255))
    address_line1: Mapped[str] = mapped_column(String(120), default="")
    city: Mapped[str] = mapped_column(String(80), default="")
    state: Mapped[str] = mapped_column(String(2), default="")
    verification_locked_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # statements by 'mail' (paper, the default) or by 'email' (paperless), and since when; only
    # services.paperless writes it (no CHECK: SQLite can't add one to a table others point at)
    statement_delivery: Mapped[str] = mapped_column(String(5), default="mail", server_default="mail")
    statement_delivery_changed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # Reminders and alerts (services.reminders): where the customer wants them, and their local
    # time for quiet hours. A text channel is used only while its consent is on record (when it
    # was given; None: never, or withdrawn, e.g. by STOP); email needs none.
    time_zone: Mapped[str] = mapped_column(String(40), default="America/New_York",
                                           server_default="America/New_York")
    reminder_channel: Mapped[str] = mapped_column(String(8), default="email", server_default="email")
    sms_consent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    whatsapp_consent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    telegram_consent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    telegram_chat_id: Mapped[Optional[str]] = mapped_column(String(32))

    accounts: Mapped[list["Account"]] = relationship(back_populates="customer")
    funding_sources: Mapped[list["FundingSource"]] = relationship(back_populates="customer")
    credential: Mapped[Optional["OnlineCredential"]] = relationship(back_populates="customer")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Account(Base):
    """A retail installment loan or a lease."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("product IN ('loan', 'lease')", name="ck_accounts_product"),
        CheckConstraint("status IN ('current', 'past_due', 'closed')", name="ck_accounts_status"),
        CheckConstraint("payment_due_day BETWEEN 1 AND 28", name="ck_accounts_due_day"),
        CheckConstraint("principal_balance >= 0", name="ck_accounts_principal"),
        CheckConstraint("monthly_payment > 0", name="ck_accounts_monthly_payment"),
        CheckConstraint("past_due_amount >= 0", name="ck_accounts_past_due"),
        CheckConstraint("payments_remaining >= 0", name="ck_accounts_payments_remaining"),
        CheckConstraint(
            "product = 'loan' OR (residual_value IS NOT NULL AND money_factor IS NOT NULL)",
            name="ck_accounts_lease_terms",
        ),
        CheckConstraint("product = 'lease' OR apr IS NOT NULL", name="ck_accounts_loan_terms"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_number: Mapped[str] = mapped_column(String(10), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product: Mapped[str] = mapped_column(String(5))
    status: Mapped[str] = mapped_column(String(10), default="current")
    opened_on: Mapped[date] = mapped_column(Date)
    first_payment_date: Mapped[date] = mapped_column(Date)
    maturity_date: Mapped[date] = mapped_column(Date)
    apr: Mapped[Optional[Decimal]] = mapped_column(Numeric(6, 4, asdecimal=True))  # 5.4900 = 5.49%
    money_factor: Mapped[Optional[Decimal]] = mapped_column(Numeric(8, 6, asdecimal=True))
    principal_balance: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    monthly_payment: Mapped[Decimal] = mapped_column(Money())
    payment_due_day: Mapped[int] = mapped_column(Integer)
    next_due_date: Mapped[date] = mapped_column(Date)
    past_due_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    days_past_due: Mapped[int] = mapped_column(Integer, default=0)
    payments_remaining: Mapped[int] = mapped_column(Integer)
    fees_due: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    # the day of the last courtesy fee waiver: one in 12 months, checked in the same UPDATE
    last_fee_waiver_on: Mapped[Optional[date]] = mapped_column(Date)
    residual_value: Mapped[Optional[Decimal]] = mapped_column(Money())
    purchase_option_fee: Mapped[Optional[Decimal]] = mapped_column(Money())
    annual_mileage_allowance: Mapped[Optional[int]] = mapped_column(Integer)
    fraud_frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    last_extension_on: Mapped[Optional[date]] = mapped_column(Date)
    last_due_date_change_on: Mapped[Optional[date]] = mapped_column(Date)
    # the day the loan was paid in full (status 'closed'); the title's release follows it
    paid_off_on: Mapped[Optional[date]] = mapped_column(Date)
    # a GAP (guaranteed asset protection) contract was sold with the loan or lease
    gap_coverage: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    customer: Mapped[Customer] = relationship(back_populates="accounts")
    vehicle: Mapped[Optional["Vehicle"]] = relationship(back_populates="account")
    payments: Mapped[list["Payment"]] = relationship(back_populates="account")


class Vehicle(Base):
    __tablename__ = "vehicles"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    make: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(40))
    vin: Mapped[str] = mapped_column(String(17), unique=True)

    account: Mapped[Account] = relationship(back_populates="vehicle")

    @property
    def description(self) -> str:
        return f"{self.year} {self.make} {self.model}"


class VehicleTitle(Base):
    """The financed vehicle's title while we hold a lien on it, and its release after payoff.

    `kind` says how the state keeps it: 'electronic' (the lien lives in the state's records and
    is released to them) or 'paper' (we hold the paper title, sign the release and mail it).
    Dates record each step: requested at payoff, released, and (paper) mailed to the owner.
    """

    __tablename__ = "vehicle_titles"
    __table_args__ = (
        CheckConstraint("kind IN ('electronic', 'paper')", name="ck_titles_kind"),
        CheckConstraint("status IN ('lien_held', 'release_requested', 'released', 'mailed')",
                        name="ck_titles_status"),
        CheckConstraint("status = 'lien_held' OR release_requested_on IS NOT NULL",
                        name="ck_titles_requested_on"),
        CheckConstraint("status NOT IN ('released', 'mailed') OR released_on IS NOT NULL",
                        name="ck_titles_released_on"),
        CheckConstraint("status <> 'mailed' OR (kind = 'paper' AND mailed_on IS NOT NULL)",
                        name="ck_titles_mailed_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    state: Mapped[str] = mapped_column(String(2))  # where the vehicle is titled: 'GA'
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="lien_held")
    release_requested_on: Mapped[Optional[date]] = mapped_column(Date)
    released_on: Mapped[Optional[date]] = mapped_column(Date)
    mailed_on: Mapped[Optional[date]] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InsurancePolicy(Base):
    """The physical-damage insurance the contract requires on the vehicle. One active policy per
    account (the database says so); an update marks the old one replaced and keeps it. The policy
    number is sealed at rest and shown only by its last four."""

    __tablename__ = "insurance_policies"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'replaced')", name="ck_insurance_status"),
        CheckConstraint("expires_on > effective_on", name="ck_insurance_dates"),
        CheckConstraint("length(policy_last4) = 4", name="ck_insurance_last4"),
        Index(
            "uq_insurance_active_account",
            "account_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    insurer: Mapped[str] = mapped_column(String(60))
    policy_number_sealed: Mapped[str] = mapped_column(String(255))
    policy_last4: Mapped[str] = mapped_column(String(4))
    effective_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    replaced_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())


class FundingSource(Base):
    """A saved bank account or debit card: a last-four and a processor token, never the number."""

    __tablename__ = "funding_sources"
    __table_args__ = (
        CheckConstraint("kind IN ('checking', 'savings', 'debit_card')", name="ck_funding_kind"),
        CheckConstraint("length(last4) = 4", name="ck_funding_last4"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    last4: Mapped[str] = mapped_column(String(4))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # added by the customer (chat or the card page); None for sources that came with the account
    created_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # keyed hash of the conversation it was added in (limits per conversation); None elsewhere
    added_in: Mapped[Optional[str]] = mapped_column(String(64), index=True)

    customer: Mapped[Customer] = relationship(back_populates="funding_sources")

    @property
    def masked_name(self) -> str:
        """'checking ****6789' / 'debit card ****1111'."""
        return f"{self.kind.replace('_', ' ')} ****{self.last4}"


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_payments_amount"),
        CheckConstraint("fee >= 0", name="ck_payments_fee"),
        CheckConstraint(
            "status IN ('scheduled', 'pending', 'posted', 'cancelled', 'returned')",
            name="ck_payments_status",
        ),
        CheckConstraint(
            "origin IN ('chat', 'autopay', 'portal', 'phone', 'mail')", name="ck_payments_origin"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    funding_source_id: Mapped[Optional[int]] = mapped_column(ForeignKey("funding_sources.id"))
    amount: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    scheduled_for: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="scheduled")
    origin: Mapped[str] = mapped_column(String(10), default="chat")
    confirmation_number: Mapped[str] = mapped_column(String(20), unique=True)
    idempotency_key: Mapped[Optional[str]] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cancelled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    account: Mapped[Account] = relationship(back_populates="payments")
    funding_source: Mapped[Optional[FundingSource]] = relationship()


class Fee(Base):
    """A late or returned-payment fee, with the reason the customer is told; a waived fee keeps
    its row and says when and why it was waived. Unpaid fees add up in `Account.fees_due`."""

    __tablename__ = "fees"
    __table_args__ = (
        CheckConstraint("kind IN ('late', 'returned_payment')", name="ck_fees_kind"),
        CheckConstraint("amount > 0", name="ck_fees_amount"),
        CheckConstraint("status IN ('charged', 'paid', 'waived')", name="ck_fees_status"),
        CheckConstraint("status <> 'waived' OR waived_at IS NOT NULL", name="ck_fees_waived_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    payment_id: Mapped[Optional[int]] = mapped_column(ForeignKey("payments.id"))  # the one returned
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Money())
    reason: Mapped[str] = mapped_column(String(200))  # 'payment due Nov 15 arrived Nov 28'
    charged_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="charged")
    waived_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    waiver_reason: Mapped[Optional[str]] = mapped_column(String(40))  # 'courtesy'
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    payment: Mapped[Optional["Payment"]] = relationship()


class AutopayEnrolment(Base):
    __tablename__ = "autopay_enrolments"
    __table_args__ = (
        CheckConstraint("day_of_month BETWEEN 1 AND 28", name="ck_autopay_day"),
        CheckConstraint("amount > 0", name="ck_autopay_amount"),
        # at most one active enrolment per account, enforced by the database
        Index(
            "uq_autopay_active_account",
            "account_id",
            unique=True,
            sqlite_where=text("active = 1"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    funding_source_id: Mapped[int] = mapped_column(ForeignKey("funding_sources.id"))
    day_of_month: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money())
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cancelled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    funding_source: Mapped[FundingSource] = relationship()


class OnlineCredential(Base):
    """Website sign-in: a password hash (never the password) and the lock state."""

    __tablename__ = "online_credentials"
    __table_args__ = (CheckConstraint("failed_sign_ins >= 0", name="ck_credentials_failed"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), unique=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    sessions_valid_after: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    customer: Mapped[Customer] = relationship(back_populates="credential")


class VerificationChallenge(Base):
    """One identification and the one-time code sent for it; only the code's keyed hash is kept.

    Created when the customer is identified (channel and code still empty), completed when the
    code is sent and entered.
    """

    __tablename__ = "verification_challenges"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms')", name="ck_challenge_channel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[Optional[str]] = mapped_column(String(5))
    code_hash: Mapped[Optional[str]] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    code_sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())


class AttemptCounter(Base):
    """One key's limit of one kind (`scope`): a conversation, a client, a customer. Its row is
    what concurrent attempts on the key queue behind (services.attempts locks it until commit);
    it holds the key's block, and its `CountedAttempt`s the times of the attempts that count.
    """

    __tablename__ = "attempt_counters"
    __table_args__ = (
        UniqueConstraint("scope", "key", name="uq_attempt_counters_scope_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(24))  # e.g. 'identify_account', 'code_send_customer'
    key: Mapped[str] = mapped_column(String(80))  # 'customer:12', an audit subject, a hash
    blocked_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())


class CountedAttempt(Base):
    """When one counted attempt was made: a limit holds over any window ending at any time."""

    __tablename__ = "counted_attempts"
    __table_args__ = (
        Index("ix_counted_attempts_counter_at", "counter_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    counter_id: Mapped[int] = mapped_column(ForeignKey("attempt_counters.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class VerifiedSession(Base):
    """Which customer a conversation is verified as, at what level, and until when."""

    __tablename__ = "verified_sessions"
    __table_args__ = (
        CheckConstraint("level IN ('read', 'full')", name="ck_verified_level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    level: Mapped[str] = mapped_column(String(4))
    method: Mapped[str] = mapped_column(String(10))  # 'otp' or 'portal'
    # The input channel the customer verified on: the same conversation id arriving on another
    # channel (REST trusts the client's sender id; an SMS sender id is a phone number) is not it.
    channel: Mapped[str] = mapped_column(String(40), default="unknown", server_default="unknown")
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())


class PasswordResetToken(Base):
    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())


class RegistrationToken(Base):
    """A single-use link to register for online access; only the token's keyed hash is kept."""

    __tablename__ = "registration_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())


class CardLinkToken(Base):
    """A single-use link to the page where a customer adds a debit card; only the token's keyed
    hash is kept. Card numbers are never taken in chat."""

    __tablename__ = "card_link_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """Every email or text the assistant sends, written before any real sender delivers it.

    The body of a message with a code or a link is sealed (notify.SEALED_KINDS), and dropped
    once a real sender has delivered it.
    """

    __tablename__ = "outbox"
    __table_args__ = (CheckConstraint("channel IN ('email', 'sms', 'whatsapp', 'telegram')",
                                      name="ck_outbox_channel"),
                      Index("ix_outbox_unsent", "channel", "sent_at", "failed_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(String(254))
    channel: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40))  # e.g. 'otp', 'payment_confirmation'
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # delivery by a real sender (notify.deliver_pending): claimed before it is handed over, tried
    # again when the provider did not take it, and why it never went
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    failed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    last_error: Mapped[Optional[str]] = mapped_column(String(200))


class FraudCase(Base):
    __tablename__ = "fraud_cases"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'investigating', 'closed')", name="ck_fraud_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_number: Mapped[str] = mapped_column(String(20), unique=True)
    conversation_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customers.id"), index=True)
    reporter_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text)
    occurred: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[str] = mapped_column(String(13), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HardshipCase(Base):
    __tablename__ = "hardship_cases"
    __table_args__ = (
        CheckConstraint(
            "option IN ('extension', 'due_date_change', 'specialist')", name="ck_hardship_option"
        ),
        CheckConstraint(
            "status IN ('requested', 'approved', 'declined', 'closed')", name="ck_hardship_status"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_number: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    option: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(10), default="requested")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # when a specialist approved or declined it (None: decided at once, in the chat, or open):
    # the customer is told the outcome (services.reminders)
    decided_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())


class WorkItem(Base):
    """A request a specialist decides in the console's work queues (services.work_queue):
    a hardship request, a lease extension, proof of insurance to verify, a late-fee waiver the
    chat policy refused. `reference` is the number the customer was given; `subject` names the
    record it is about, and one open item per subject is all the database allows. An item is
    claimed by one person, then completed or declined (with a note) once; the customer hears
    the outcome by reminder (services.reminder_rules) and once in their next chat
    (`customer_told_at`)."""

    __tablename__ = "work_items"
    __table_args__ = (
        CheckConstraint("kind IN ('hardship', 'lease_extension', 'insurance_document', 'fee_waiver')",
                        name="ck_work_items_kind"),
        CheckConstraint("status IN ('open', 'claimed', 'completed', 'declined')",
                        name="ck_work_items_status"),
        CheckConstraint("status = 'open' OR claimed_by IS NOT NULL", name="ck_work_items_claimed_by"),
        CheckConstraint("status NOT IN ('completed', 'declined') OR decided_at IS NOT NULL",
                        name="ck_work_items_decided_at"),
        CheckConstraint("status <> 'declined' OR note IS NOT NULL", name="ck_work_items_decline_note"),
        Index(
            "uq_work_items_open_subject",
            "kind",
            "subject",
            unique=True,
            sqlite_where=text("status IN ('open', 'claimed')"),
            postgresql_where=text("status IN ('open', 'claimed')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)  # 'HS…', 'LX…', 'FW…', 'PI…'
    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(60))  # 'fee:12', 'insurance_policy:7', ...
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    account_id: Mapped[Optional[int]] = mapped_column(ForeignKey("accounts.id"))
    summary: Mapped[str] = mapped_column(Text)  # for staff: what was asked, figures masked
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # no secret, no full number
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_by: Mapped[Optional[int]] = mapped_column(ForeignKey("staff_users.id"))
    claimed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    decided_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    note: Mapped[Optional[str]] = mapped_column(Text)  # the specialist's, internal
    customer_told_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())  # said in a chat


class StaffUser(Base):
    """Support console staff: password hash plus a TOTP secret for the second factor."""

    __tablename__ = "staff_users"
    __table_args__ = (CheckConstraint("role IN ('agent', 'supervisor')", name="ck_staff_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret: Mapped[str] = mapped_column(String(255))  # sealed (sealing.seal_at_rest)
    role: Mapped[str] = mapped_column(String(10), default="agent")
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # The last accepted TOTP time step: a code seen once is refused even inside its window.
    totp_last_step: Mapped[Optional[int]] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StaffSession(Base):
    """A signed-in console session; the cookie holds the token, the store only its keyed hash."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())


class HandoffTicket(Base):
    __tablename__ = "handoff_tickets"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'claimed', 'resolved', 'closed')", name="ck_ticket_status"
        ),
        CheckConstraint("priority BETWEEN 1 AND 5", name="ck_ticket_priority"),  # 1 = highest
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_number: Mapped[str] = mapped_column(String(20), unique=True)
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customers.id"), index=True)
    reason: Mapped[str] = mapped_column(String(40))
    priority: Mapped[int] = mapped_column(Integer, default=3)
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    assigned_staff_id: Mapped[Optional[int]] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    resolved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # When nobody could take it: how the customer asked to be contacted ('email' or 'call').
    followup: Mapped[Optional[str]] = mapped_column(String(10))


class TicketNote(Base):
    """An internal note on a ticket; never shown to the customer."""

    __tablename__ = "ticket_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("handoff_tickets.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditLog(Base):
    """Who did what to which record; details never hold a secret or a full number."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(80))  # 'customer:12', 'staff:3', 'system'
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(80), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ContactChange(Base):
    """A requested change of email, mobile or mailing address, applied only once confirmed.

    The code is sent to the NEW email or mobile (proving the customer controls it; an address
    change sends it to the email on file) and only its keyed hash is kept. A row is pending
    until it is confirmed or cancelled; the database allows one pending row per field.
    """

    __tablename__ = "contact_changes"
    __table_args__ = (
        CheckConstraint("field IN ('email', 'mobile', 'address')", name="ck_contact_change_field"),
        CheckConstraint("attempts >= 0", name="ck_contact_change_attempts"),
        Index(
            "uq_contact_change_pending",
            "customer_id",
            "field",
            unique=True,
            sqlite_where=text("confirmed_at IS NULL AND cancelled_at IS NULL"),
            postgresql_where=text("confirmed_at IS NULL AND cancelled_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    field: Mapped[str] = mapped_column(String(7))
    # Sealed (sealing.seal_at_rest): an address holds the ZIP, a verification factor.
    new_value: Mapped[str] = mapped_column(String(512))  # address: "street, city, ST 12345"
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())


class ConversationStart(Base):
    """One row per conversation session, so containment (sessions without a person) is measurable."""

    __tablename__ = "conversation_starts"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(40), default="unknown")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class Reminder(Base):
    """One reminder or alert sent for one event (services.reminders): the ledger that makes it
    once. Its row is written in the same transaction as its outbox message, and the database
    refuses a second row for the same (customer, kind, event), whichever scheduler tries.
    `context` holds what the chat needs to carry on from it (no secret, no full number)."""

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("customer_id", "kind", "event_key", name="uq_reminders_event"),
        Index("ix_reminders_customer_sent", "customer_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    account_id: Mapped[Optional[int]] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(30))  # 'payment_due', 'lease_end_60', ...
    event_key: Mapped[str] = mapped_column(String(80))  # the due date, payment id, case number...
    channel: Mapped[str] = mapped_column(String(8))
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), unique=True)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answered_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())  # a reply in chat
    read_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())  # seen in the widget


class JobLease(Base):
    """Who runs a periodic job (the reminder scheduler) until when: one holder at a time across
    processes and machines. Times are the database's clock, so a jump of one machine's clock does
    not hand the job to a second holder; `token` grows with every new holder (a fence)."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80))
    token: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
