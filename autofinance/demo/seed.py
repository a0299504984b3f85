"""Demo data: exactly the customers of shared/docs/demo-customers.md, plus bulk synthetic ones.

Dates are relative to the day of seeding, so the demo always looks current. Seeding is
idempotent: a customer whose account number is already in the store is left as it is.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Optional

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from autofinance.config import Settings
from autofinance.domain.calendar import add_months, next_due
from autofinance.domain.masking import mask_account_number, mask_email
from autofinance.domain.money import format_usd, to_money
from autofinance.domain.parsing import format_long_date
from autofinance.adapters.sealing import seal_at_rest
from autofinance.adapters.security import hash_password, keyed_hash
from autofinance.services import lease_end, payoff
from autofinance.adapters.store.models import (
    Account,
    AuditLog,
    AutopayEnrolment,
    Customer,
    Fee,
    FundingSource,
    InsurancePolicy,
    HardshipCase,
    OnlineCredential,
    Payment,
    StaffUser,
    Vehicle,
    VehicleTitle,
    WorkItem,
)

logger = logging.getLogger(__name__)

DEMO_PASSWORD = "Meridian-demo-2026"  # the demo customers' website password (demo only)
BULK_ID_OFFSET = 1_000_000  # bulk rows get ids far above anything the demo or services create


def months_to_repay(principal: Decimal, apr: Decimal, payment: Decimal) -> int:
    """Payments left on an amortising loan, counted exactly in Decimal."""
    monthly_rate = apr / Decimal(1200)
    balance, months = principal, 0
    while balance > 0:
        balance = to_money(balance * (1 + monthly_rate)) - payment
        months += 1
    return months


@dataclass(frozen=True)
class DemoCustomer:
    first_name: str
    last_name: str
    account_number: str
    product: str
    vehicle: tuple[int, str, str, str]
    ssn_last4: str
    zip_code: str
    date_of_birth: date
    email: str
    mobile: str
    username: str
    address: tuple[str, str, str]
    principal: Decimal
    monthly_payment: Decimal
    due_day: int
    months_open: int
    funding_sources: tuple[tuple[str, str], ...]
    apr: Optional[Decimal] = None
    money_factor: Optional[Decimal] = None
    residual: Optional[Decimal] = None
    lease_payments_left: int = 0
    lease_ends_in_days: int = 0
    past_due: Decimal = Decimal("0.00")
    days_past_due: int = 0
    autopay_from: Optional[str] = None  # last four of the funding source
    online_locked: bool = False
    online_registered: bool = True  # False: never set up online access (`username` is unused)
    statement_delivery: str = "mail"  # 'email': paperless
    fee_story: bool = False  # a late fee and a returned payment with its fee, both still owed
    title: Optional[tuple[str, str]] = None  # a loan's title: (state, 'electronic' | 'paper')
    # (insurer, policy number, days until it expires: negative = lapsed that long ago, term in months)
    insurance: Optional[tuple[str, str, int, int]] = None
    gap: bool = False  # a GAP contract came with the loan or lease
    paid_off_days_ago: Optional[int] = None  # a loan paid in full: closed, its title released
    extra: dict[str, object] = field(default_factory=dict)
    # reminders and alerts: the customer's zone and chosen channel (a text channel with consent)
    time_zone: str = "America/New_York"
    reminder_channel: str = "email"
    reminder_story: bool = False  # due in a few days, a payment just returned, a quote lapsing
    hardship_decided: Optional[tuple[str, str]] = None  # (option, outcome) a specialist decided
    closed_sources: tuple[str, ...] = ()  # last fours of saved accounts since closed (inactive)
    # more accounts of the same customer: each a dict of the fields that differ from this one
    # (account number, product, vehicle, figures); the customer, contact and sources are shared
    other_accounts: tuple[dict[str, object], ...] = ()

    def accounts(self) -> tuple["DemoCustomer", ...]:
        """This customer's accounts, each as a DemoCustomer of its own figures (this one first)."""
        return (self, *(replace(self, other_accounts=(), **fields)  # type: ignore[arg-type]
                        for fields in self.other_accounts))


DEMO_CUSTOMERS = (
    DemoCustomer(
        "Maria", "Lopez", "7301004821", "loan", (2022, "Toyota", "RAV4", "2T3P1RFV8NW214821"),
        "4821", "30309", date(1985, 3, 14), "maria.lopez@example.com", "+14045550101", "mlopez",
        ("1180 Peachtree St NE", "Atlanta", "GA"), Decimal("18420.55"), Decimal("452.18"), 15,
        months_open=20, funding_sources=(("checking", "6789"), ("debit_card", "1111")),
        apr=Decimal("5.49"), title=("GA", "electronic"),
        insurance=("Peachtree Mutual", "PMA-2207-4418", 245, 12), gap=True, reminder_channel="sms",
    ),
    DemoCustomer(
        "James", "Chen", "7301007734", "lease", (2024, "Honda", "Accord", "1HGCY1F34RA077341"),
        "1177", "94107", date(1979, 11, 2), "james.chen@example.com", "+14155550142", "jchen",
        ("500 Brannan St", "San Francisco", "CA"), Decimal("0.00"), Decimal("389.00"), 1,
        months_open=33, funding_sources=(("checking", "2244"),),
        money_factor=Decimal("0.00125"), residual=Decimal("21350.00"), lease_payments_left=3,
        lease_ends_in_days=75, autopay_from="2244", statement_delivery="email",
        insurance=("Golden Gate Casualty", "GGC-70931-5", 130, 6),
        time_zone="America/Los_Angeles",
    ),
    DemoCustomer(
        "Dana", "Whitfield", "7301005530", "loan", (2019, "Ford", "F-150", "1FTEW1E55KFA55301"),
        "5530", "60614", date(1990, 7, 22), "dana.whitfield@example.com", "+13125550199",
        "dwhitfield", ("2200 N Clark St", "Chicago", "IL"), Decimal("9870.10"),
        Decimal("406.20"), 5, months_open=30, funding_sources=(("checking", "3030"),),
        apr=Decimal("8.90"), past_due=Decimal("812.40"), days_past_due=45, title=("IL", "electronic"),
        insurance=("Lakeshore Auto Insurance", "LAI-551-30288", 61, 6),
        time_zone="America/Chicago", hardship_decided=("extension", "declined"),
    ),
    DemoCustomer(
        "Robert", "Okafor", "7301009912", "loan", (2020, "Mazda", "CX-5", "JM3KFBCM7L0399121"),
        "9912", "77002", date(1968, 1, 30), "robert.okafor@example.com", "+17135550123",
        "rokafor", ("900 Main St", "Houston", "TX"), Decimal("3215.77"), Decimal("298.50"), 20,
        months_open=50, funding_sources=(("checking", "7412"),), apr=Decimal("3.90"),
        online_locked=True, title=("TX", "electronic"),
        insurance=("Lone Star Indemnity", "LSI-88-10472", -12, 6),  # lapsed 12 days ago
        time_zone="America/Chicago",
    ),
    DemoCustomer(  # not in shared/docs/demo-customers.md: added to try fees and returned payments
        "Keisha", "Grant", "7301006618", "loan", (2021, "Hyundai", "Tucson", "5NMJB3AE1MH066181"),
        "6618", "98101", date(1988, 9, 9), "keisha.grant@example.com", "+12065550177", "kgrant",
        ("1420 5th Ave", "Seattle", "WA"), Decimal("12640.30"), Decimal("367.45"), 10,
        months_open=26, funding_sources=(("checking", "5521"), ("savings", "8830")),
        apr=Decimal("6.25"), fee_story=True, title=("WA", "electronic"),
        insurance=("Cascade Casualty", "CC-4102-9936", 200, 12),
        time_zone="America/Los_Angeles", reminder_channel="sms",
    ),
    DemoCustomer(  # added to try the title after payoff (paid off, the paper title mailed) and
        # registering for online access, which he never set up
        "Tran", "Nguyen", "7301003350", "loan", (2019, "Subaru", "Outback", "4S4BSANC5K3335012"),
        "3350", "97205", date(1983, 5, 19), "tran.nguyen@example.com", "+15035550166", "tnguyen",
        ("820 SW Yamhill St", "Portland", "OR"), Decimal("0.00"), Decimal("412.35"), 12,
        months_open=58, funding_sources=(("checking", "4410"),), apr=Decimal("4.49"),
        title=("OR", "paper"), paid_off_days_ago=12, time_zone="America/Los_Angeles",
        online_registered=False,
    ),
    DemoCustomer(  # added to try reminders and alerts: each of hers is due as soon as the demo runs
        "Priya", "Nair", "7301002290", "loan", (2023, "Kia", "Sportage", "KNDPUCAF4P7022901"),
        "2290", "80202", date(1992, 4, 18), "priya.nair@example.com", "+17205550164", "pnair",
        ("1600 Glenarm Pl", "Denver", "CO"), Decimal("14205.60"), Decimal("389.90"), 1,
        months_open=14, funding_sources=(("checking", "4417"), ("savings", "9902")),
        apr=Decimal("7.25"), time_zone="America/Denver", reminder_story=True, title=("CO", "electronic"),
        insurance=("Front Range Insurance", "FRI-20931-77", 170, 6),
    ),
    DemoCustomer(  # added to try a new bank account in chat: he switched banks, so his old checking
        # is closed and only a debit card (with its fee) is left to pay from
        "Sam", "Rivera", "7301008845", "loan", (2022, "Chevrolet", "Equinox", "3GNAXUEV8NL188451"),
        "8845", "85004", date(1987, 6, 3), "sam.rivera@example.com", "+16025550133", "srivera",
        ("45 W Monroe St", "Phoenix", "AZ"), Decimal("11250.40"), Decimal("341.60"), 18,
        months_open=16, funding_sources=(("checking", "1290"), ("debit_card", "5454")),
        closed_sources=("1290",), apr=Decimal("6.49"), title=("AZ", "electronic"),
        insurance=("Desert Sun Insurance", "DSI-44810-32", 150, 6), time_zone="America/Phoenix",
    ),
    DemoCustomer(  # added to try several accounts: a loan on one car and a lease on another, so the
        # assistant asks which one, keeps the choice, and "my other car" switches
        "Alex", "Morgan", "7301009911", "loan", (2021, "Toyota", "Camry", "4T1G11AK5MU099111"),
        "5077", "60614", date(1986, 10, 12), "alex.morgan@example.com", "+13125550188", "amorgan",
        ("1840 N Lincoln Ave", "Chicago", "IL"), Decimal("15310.25"), Decimal("418.70"), 8,
        months_open=24, funding_sources=(("checking", "7733"),), apr=Decimal("5.99"),
        title=("IL", "electronic"), insurance=("Lakeshore Auto Insurance", "LAI-730-11842", 160, 6),
        time_zone="America/Chicago",
        other_accounts=({"account_number": "7301009922", "product": "lease",
                         "vehicle": (2023, "Honda", "CR-V", "7FARS4H72PE099221"),
                         "principal": Decimal("0.00"), "monthly_payment": Decimal("436.15"), "due_day": 22,
                         "months_open": 14, "apr": None, "money_factor": Decimal("0.00150"),
                         "residual": Decimal("19875.00"), "lease_payments_left": 22,
                         "lease_ends_in_days": 670, "title": None,
                         "insurance": ("Lakeshore Auto Insurance", "LAI-730-22907", 160, 6)},),
    ),
)
PAYOFF_PAYMENT = Decimal("2187.64")  # Tran's last payment, which paid the loan in full
# Tran's title, days before today: the release was requested the day the payoff posted, the
# lien released on the paper title four days later, and the title mailed the day after
TITLE_RELEASED_DAYS_AGO, TITLE_MAILED_DAYS_AGO = 8, 7
LATE_FEE, RETURNED_PAYMENT_FEE = Decimal("15.00"), Decimal("25.00")

DEMO_AGENT = {
    "username": "demo.agent",
    "display_name": "Demo Agent",
    "password": "demo-agent-pass",
    "totp_secret": "JBSWY3DPEHPK3PXP",  # published in shared/docs; accepted in demo mode only
    "role": "supervisor",
}


def factors(zip_code: str, date_of_birth: date, ssn_last4: str, settings: Settings) -> dict[str, str]:
    """A customer's verification factors as the store keeps them: keyed hashes, and the
    mailing ZIP sealed."""
    pepper = settings.secret_pepper
    return {"zip_code_hash": keyed_hash(zip_code, pepper),
            "date_of_birth_hash": keyed_hash(date_of_birth.isoformat(), pepper),
            "ssn_last4_hash": keyed_hash(ssn_last4, pepper),
            "zip_code_sealed": seal_at_rest(zip_code, pepper)}


def due_day_of(demo: DemoCustomer, today: date) -> int:
    """The demo customer's due day; for the reminders story, a day 1 to 5 days from the seed
    (the first that exists in every month), so the payment reminder is due at once."""
    if not demo.reminder_story:
        return demo.due_day
    return next(day.day for day in (today + timedelta(days=n) for n in range(1, 6)) if day.day <= 28)


def _account_for(demo: DemoCustomer, customer_id: int, today: date) -> Account:
    opened = add_months(today, -demo.months_open)
    due_day = due_day_of(demo, today)
    next_due_date = next_due(today, due_day)
    if demo.product == "lease":
        payments_left = demo.lease_payments_left
        maturity = today + timedelta(days=demo.lease_ends_in_days)
    else:
        assert demo.apr is not None
        payments_left = months_to_repay(demo.principal, demo.apr, demo.monthly_payment)
        maturity = add_months(next_due_date, payments_left - 1, due_day)
    paid_off_on = today - timedelta(days=demo.paid_off_days_ago) if demo.paid_off_days_ago else None
    return Account(
        account_number=demo.account_number,
        customer_id=customer_id,
        product=demo.product,
        status="closed" if paid_off_on else "past_due" if demo.days_past_due else "current",
        paid_off_on=paid_off_on,
        gap_coverage=demo.gap,
        opened_on=opened,
        first_payment_date=add_months(opened, 1, demo.due_day),
        maturity_date=maturity,
        apr=demo.apr,
        money_factor=demo.money_factor,
        principal_balance=demo.principal,
        monthly_payment=demo.monthly_payment,
        payment_due_day=due_day,
        next_due_date=next_due_date,
        past_due_amount=demo.past_due,
        days_past_due=demo.days_past_due,
        payments_remaining=payments_left,
        residual_value=demo.residual,
        purchase_option_fee=Decimal("350.00") if demo.product == "lease" else None,
        annual_mileage_allowance=12000 if demo.product == "lease" else None,
    )


def _payment_history(
    account: Account, demo: DemoCustomer, source: FundingSource, today: date
) -> list[Payment]:
    """Six posted monthly payments before the ones a past-due customer missed."""
    missed = 2 if demo.days_past_due else 0
    due_day = account.payment_due_day
    last_paid = add_months(account.next_due_date, -(1 + missed), due_day)
    origin = "autopay" if demo.autopay_from else "portal"
    return [
        Payment(
            account_id=account.id,
            funding_source_id=source.id,
            amount=demo.monthly_payment,
            scheduled_for=add_months(last_paid, -i, due_day),
            status="posted",
            origin=origin,
            confirmation_number=f"MP{demo.account_number[-4:]}{i:02d}H",
        )
        for i in range(6)
        if add_months(last_paid, -i, due_day) > account.opened_on
    ]


def _paid_off_history(account: Account, demo: DemoCustomer, source: FundingSource) -> list[Payment]:
    """Five monthly payments, then the payoff that paid the loan in full on `paid_off_on`."""
    assert account.paid_off_on is not None
    monthly = [Payment(account_id=account.id, funding_source_id=source.id, amount=demo.monthly_payment,
                       scheduled_for=add_months(account.paid_off_on, -i, demo.due_day), status="posted",
                       origin="portal", confirmation_number=f"MP{demo.account_number[-4:]}{i:02d}H")
               for i in range(1, 6)]
    payoff = Payment(account_id=account.id, funding_source_id=source.id, amount=PAYOFF_PAYMENT,
                     scheduled_for=account.paid_off_on, status="posted", origin="portal",
                     confirmation_number=f"MP{demo.account_number[-4:]}PFH")
    return [payoff, *monthly]


def _title_for(demo: DemoCustomer, account: Account, today: date) -> Optional[VehicleTitle]:
    """A loan's title: held while the loan is open; for a paid-off loan, released and (paper) mailed."""
    if demo.title is None:
        return None
    state, kind = demo.title
    if account.paid_off_on is None:
        return VehicleTitle(account_id=account.id, state=state, kind=kind, status="lien_held")
    released = today - timedelta(days=TITLE_RELEASED_DAYS_AGO)
    mailed = today - timedelta(days=TITLE_MAILED_DAYS_AGO) if kind == "paper" else None
    return VehicleTitle(account_id=account.id, state=state, kind=kind, status="mailed" if mailed else "released",
                        release_requested_on=account.paid_off_on, released_on=released, mailed_on=mailed)


def _policy_for(demo: DemoCustomer, account: Account, today: date, settings: Settings) -> Optional[InsurancePolicy]:
    """The insurance on file: in force, or (a negative expiry) lapsed that many days ago."""
    if demo.insurance is None:
        return None
    insurer, number, expires_in_days, term_months = demo.insurance
    expires = today + timedelta(days=expires_in_days)
    return InsurancePolicy(account_id=account.id, insurer=insurer,
                           policy_number_sealed=seal_at_rest(number, settings.secret_pepper),
                           policy_last4=number.replace("-", "")[-4:],
                           effective_on=add_months(expires, -term_months), expires_on=expires)


def _add_title_and_insurance(session: Session, demo: DemoCustomer, account: Account, today: date,
                             settings: Settings) -> None:
    session.add_all([row for row in (_title_for(demo, account, today),
                                     _policy_for(demo, account, today, settings)) if row is not None])


def _late_fee(account: Account, payment: Payment, days_late: int) -> Fee:
    """Makes `payment` arrive `days_late` after its due date, past the 10-day grace period."""
    due = payment.scheduled_for
    payment.scheduled_for = due + timedelta(days=days_late)
    return Fee(account_id=account.id, kind="late", amount=LATE_FEE, charged_on=due + timedelta(days=11),
               reason=f"the payment due {format_long_date(due)} arrived "
                      f"{format_long_date(payment.scheduled_for)}, after the 10-day grace period")


def _add_fee_story(session: Session, account: Account, demo: DemoCustomer, history: list[Payment],
                   sources: list[FundingSource]) -> None:
    """Two payments arrived late (two late fees, two and four months ago); last month's came back
    from the bank and was paid again from the other account 4 days later (a returned-payment
    fee). All three are still owed; the account is current, and no fee was ever waived: the
    newer late fee can be waived as a courtesy, and asking again for the older one is refused."""
    returned = history[1]
    returned.status = "returned"
    session.add(Payment(account_id=account.id, funding_source_id=sources[1].id, amount=returned.amount,
                        scheduled_for=returned.scheduled_for + timedelta(days=4), status="posted",
                        origin="portal", confirmation_number=f"MP{demo.account_number[-4:]}R1H"))
    session.add_all([
        _late_fee(account, history[4], 12),
        _late_fee(account, history[2], 14),
        Fee(account_id=account.id, payment_id=returned.id, kind="returned_payment",
            amount=RETURNED_PAYMENT_FEE, charged_on=returned.scheduled_for + timedelta(days=2),
            reason=f"your bank returned the payment of {format_usd(returned.amount)} from "
                   f"{sources[0].masked_name} made {format_long_date(returned.scheduled_for)} "
                   "(insufficient funds)"),
    ])
    account.fees_due = 2 * LATE_FEE + RETURNED_PAYMENT_FEE


def _add_returned_payment(session: Session, account: Account, demo: DemoCustomer,
                          sources: list[FundingSource], today: date) -> None:
    """A one-time payment her bank returned two days ago (her next payment is due in 1 to 5
    days by `due_day_of`, so both reminders are due when the demo is seeded)."""
    session.add(Payment(account_id=account.id, funding_source_id=sources[0].id,
                        amount=demo.monthly_payment, scheduled_for=today - timedelta(days=2),
                        status="returned", origin="portal",
                        confirmation_number=f"MP{demo.account_number[-4:]}R2H"))


def _add_emailed_quote(session: Session, account: Account, demo: DemoCustomer, today: date) -> None:
    """A payoff quote she had emailed five days ago, good through tomorrow (as
    services.payoff records one), so its reminder is due."""
    good_through = today + timedelta(days=1)
    quote = payoff.quote_number(account, good_through)
    session.add(AuditLog(occurred_at=datetime.combine(today - timedelta(days=5), time(15), timezone.utc),
                         actor=f"customer:{account.customer_id}", action="payoff_quote_emailed",
                         subject=f"payoff_quote:{quote}",
                         details={"to": mask_email(demo.email), "good_through": good_through.isoformat(),
                                  "amount": str(payoff.payoff_amount(account, good_through, today))}))


def _add_decided_hardship(session: Session, account: Account, demo: DemoCustomer, today: date) -> None:
    """A hardship request a specialist decided yesterday, so its outcome is announced."""
    assert demo.hardship_decided is not None
    option, outcome = demo.hardship_decided
    session.add(HardshipCase(
        case_number=f"HSDEMO{demo.account_number[-4:]}", customer_id=account.customer_id,
        account_id=account.id, reason="reduced hours at work", option=option, status=outcome,
        created_at=datetime.combine(today - timedelta(days=4), time(15), timezone.utc),
        decided_at=datetime.combine(today - timedelta(days=1), time(15), timezone.utc)))


def _at(day: date) -> datetime:
    return datetime.combine(day, time(15), timezone.utc)


def _add_decided_work_item(session: Session, account: Account, case_number: str, option: str,
                           outcome: str, today: date, staff_id: int) -> None:
    """The work item of Dana's decided hardship request, as the demo agent decided it yesterday
    (the work queue is what reminders and her next chat read)."""
    session.add(WorkItem(
        reference=case_number, kind="hardship", subject=f"hardship_case:{case_number}",
        customer_id=account.customer_id, account_id=account.id,
        summary="Payment extension requested. In the customer's words: reduced hours at work",
        details={"option": option, "case_number": case_number},
        status="completed" if outcome == "approved" else "declined", created_at=_at(today - timedelta(days=4)),
        claimed_by=staff_id, claimed_at=_at(today - timedelta(days=2)), decided_at=_at(today - timedelta(days=1)),
        note="Income does not cover the payment even with an extension; offered a call."))


def _add_open_work_items(session: Session, today: date) -> None:
    """A few requests waiting for a specialist, so the console's work queues are not empty on
    `make run`; each is what the chat would have queued, and no figure of its customer changes."""
    accounts = {a.account_number: a for a in session.scalars(select(Account))}
    james, maria, keisha = accounts["7301007734"], accounts["7301004821"], accounts["7301006618"]
    robert = accounts["7301009912"]
    case_number = "HSDEMO9912"
    session.add(HardshipCase(case_number=case_number, customer_id=robert.customer_id, account_id=robert.id,
                             reason="medical bills after a surgery", option="specialist", status="requested",
                             created_at=_at(today - timedelta(days=1))))
    session.add(WorkItem(
        reference=case_number, kind="hardship", subject=f"hardship_case:{case_number}",
        customer_id=robert.customer_id, account_id=robert.id, created_at=_at(today - timedelta(days=1)),
        summary=f"Hardship review requested on account {mask_account_number(robert.account_number)} "
                "(0 days past due). In the customer's words: medical bills after a surgery",
        details={"option": "specialist", "case_number": case_number}))
    asked = today - timedelta(days=2)
    reference = lease_end.extension_reference(james, 1, asked)
    requested = add_months(james.maturity_date, 1)
    session.add(AuditLog(occurred_at=_at(asked), actor=f"customer:{james.customer_id}",
                         action="lease_extension_requested", subject=f"lease_extension:{reference}",
                         details={"account": mask_account_number(james.account_number), "months": 1,
                                  "maturity_date": james.maturity_date.isoformat(),
                                  "requested_maturity_date": requested.isoformat()}))
    session.add(WorkItem(
        reference=reference, kind="lease_extension", subject=f"lease_extension:{reference}",
        customer_id=james.customer_id, account_id=james.id, created_at=_at(asked),
        summary=f"Extend lease {mask_account_number(james.account_number)} by 1 month, month to month at "
                f"$389.00: to {requested.isoformat()}.",
        details={"months": 1, "maturity_date": james.maturity_date.isoformat(),
                 "requested_maturity_date": requested.isoformat()}))
    policy = session.scalars(select(InsurancePolicy).where(InsurancePolicy.account_id == maria.id,
                                                           InsurancePolicy.status == "active")).one()
    session.add(WorkItem(
        reference="PIDEMO4821", kind="insurance_document", subject=f"insurance_policy:{policy.id}",
        customer_id=maria.customer_id, account_id=maria.id, created_at=_at(today - timedelta(days=1)),
        summary=f"Verify proof of insurance for account {mask_account_number(maria.account_number)}: "
                f"{policy.insurer}, policy ****{policy.policy_last4}, {policy.effective_on.isoformat()} "
                f"to {policy.expires_on.isoformat()}.",
        details={"policy_id": policy.id, "insurer": policy.insurer, "policy": f"****{policy.policy_last4}"}))
    older = session.scalars(select(Fee).where(Fee.account_id == keisha.id, Fee.kind == "late")
                            .order_by(Fee.charged_on)).first()
    assert older is not None
    session.add(WorkItem(
        reference="FWDEMO6618", kind="fee_waiver", subject=f"fee:{older.id}",
        customer_id=keisha.customer_id, account_id=keisha.id, created_at=_at(today - timedelta(days=3)),
        summary=f"Customer asks to waive a $15.00 late fee charged {older.charged_on.isoformat()}; she "
                "says the payment was sent on time by her bank's bill pay.",
        details={"fee_id": older.id, "amount": str(older.amount), "charged_on": older.charged_on.isoformat()}))


def _add_account(session: Session, demo: DemoCustomer, customer_id: int, sources: list[FundingSource],
                 today: date, settings: Settings) -> tuple[Account, list[Payment]]:
    """One account of a demo customer with its vehicle, payment history, title and policy."""
    account = _account_for(demo, customer_id, today)
    session.add(account)
    session.flush()
    year, make, model, vin = demo.vehicle
    session.add(Vehicle(account_id=account.id, year=year, make=make, model=model, vin=vin))
    history = (_paid_off_history(account, demo, sources[0]) if account.paid_off_on
               else _payment_history(account, demo, sources[0], today))
    session.add_all(history)
    _add_title_and_insurance(session, demo, account, today, settings)
    return account, history


def _add_demo_customer(session: Session, demo: DemoCustomer, today: date, settings: Settings,
                       activity: bool) -> None:
    text_consent = datetime.combine(today - timedelta(days=30 * demo.months_open), time(15), timezone.utc)
    customer = Customer(
        first_name=demo.first_name,
        last_name=demo.last_name,
        email=demo.email,
        mobile=demo.mobile,
        **factors(demo.zip_code, demo.date_of_birth, demo.ssn_last4, settings),
        address_line1=demo.address[0],
        city=demo.address[1],
        state=demo.address[2],
        statement_delivery=demo.statement_delivery,
        time_zone=demo.time_zone,
        reminder_channel=demo.reminder_channel,
        sms_consent_at=text_consent if demo.reminder_channel == "sms" else None,
    )
    session.add(customer)
    session.flush()
    sources = [
        FundingSource(customer_id=customer.id, kind=kind, last4=last4, token=f"tok_demo_{last4}",
                      active=last4 not in demo.closed_sources)
        for kind, last4 in demo.funding_sources
    ]
    session.add_all(sources)
    session.flush()
    account, history = _add_account(session, demo, customer.id, sources, today, settings)
    for other in demo.accounts()[1:]:
        _add_account(session, other, customer.id, sources, today, settings)
    if demo.fee_story:
        session.flush()
        _add_fee_story(session, account, demo, history, sources)
    if demo.reminder_story:
        _add_returned_payment(session, account, demo, sources, today)
        if activity:
            _add_emailed_quote(session, account, demo, today)
    if demo.hardship_decided and activity:
        _add_decided_hardship(session, account, demo, today)
    if demo.autopay_from:
        source = next(s for s in sources if s.last4 == demo.autopay_from)
        session.add(
            AutopayEnrolment(
                account_id=account.id,
                funding_source_id=source.id,
                day_of_month=demo.due_day,
                amount=demo.monthly_payment,
            )
        )
    if demo.online_registered:
        session.add(
            OnlineCredential(
                customer_id=customer.id,
                username=demo.username,
                password_hash=hash_password(DEMO_PASSWORD),
                failed_sign_ins=5 if demo.online_locked else 0,
                locked=demo.online_locked,
            )
        )


def seed_demo(session: Session, today: date, settings: Settings, activity: bool = False) -> int:
    """Adds the demo customers and demo agent that are missing; returns how many customers were
    added. A store seeded before titles and insurance existed gets them for its demo accounts
    (the GAP flag too), once: nothing else of those customers changes.

    `activity` (the seed command) also gives the new customers what they did before the demo
    began that lives in the audit trail and case files: Priya's emailed payoff quote and Dana's
    decided hardship request, which reminders announce (and her next chat), and a few requests
    waiting in the console's work queues (James's lease extension, Maria's proof of insurance,
    Keisha's fee waiver). Tests of other features start without."""
    numbers = {each.account_number for demo in DEMO_CUSTOMERS for each in demo.accounts()}
    existing = {account.account_number: account for account in session.scalars(select(Account))
                if account.account_number in numbers}
    added = 0
    for demo in DEMO_CUSTOMERS:
        if demo.account_number not in existing:
            _add_demo_customer(session, demo, today, settings, activity)
            added += 1
            continue
        for each in demo.accounts():
            account = existing.get(each.account_number)
            if account is not None and not _has_title_or_insurance(session, account):
                account.gap_coverage = each.gap
                _add_title_and_insurance(session, each, account, today, settings)
    if session.scalar(select(StaffUser).where(StaffUser.username == DEMO_AGENT["username"])) is None:
        session.add(
            StaffUser(
                username=DEMO_AGENT["username"],
                display_name=DEMO_AGENT["display_name"],
                password_hash=hash_password(DEMO_AGENT["password"]),
                totp_secret=seal_at_rest(DEMO_AGENT["totp_secret"], settings.secret_pepper),
                role=DEMO_AGENT["role"],
            )
        )
    session.flush()
    if activity and added == len(DEMO_CUSTOMERS):  # a new store: its work queues get their items
        _add_work_items(session, today)
    logger.info("demo seed: %d customers added", added)
    return added


def _add_work_items(session: Session, today: date) -> None:
    staff_id = session.scalar(select(StaffUser.id).where(StaffUser.username == DEMO_AGENT["username"]))
    assert staff_id is not None
    for case in session.scalars(select(HardshipCase).where(HardshipCase.decided_at.is_not(None))):
        account = session.get_one(Account, case.account_id)
        _add_decided_work_item(session, account, case.case_number, case.option, case.status, today, staff_id)
    _add_open_work_items(session, today)
    session.flush()


def _has_title_or_insurance(session: Session, account: Account) -> bool:
    return any(session.scalar(select(func.count()).select_from(model).where(model.account_id == account.id))
               for model in (VehicleTitle, InsurancePolicy))


def bulk_identity(index: int) -> dict[str, str]:
    """The identifying details of bulk customer `index`, for load tests that must sign in."""
    return {
        "account_number": f"{7400000000 + index}",
        "zip_code": f"{10000 + index % 89999:05d}",
        "ssn_last4": f"{index % 10000:04d}",
        "username": f"bulk{index:06d}",
    }


def seed_bulk(session: Session, count: int, settings: Settings, today: date) -> int:
    """Adds deterministic synthetic customers 0..count-1 that are missing; returns how many."""
    start = session.scalar(
        select(func.count()).select_from(Customer).where(Customer.id >= BULK_ID_OFFSET)
    ) or 0
    if start >= count:
        return 0
    password_hash = hash_password("bulk-customer-password")  # one hash: argon2 is slow by design
    batch = 1000
    for first in range(start, count, batch):
        indexes = range(first, min(first + batch, count))
        customers, accounts, sources = [], [], []
        for i in indexes:
            ident, cid = bulk_identity(i), BULK_ID_OFFSET + i
            principal = to_money(Decimal(5000 + (i * 7919) % 30000) + Decimal(i % 100) / 100)
            customers.append(dict(
                id=cid, first_name="Test", last_name=f"Customer{i:06d}",
                email=f"bulk{i:06d}@example.com", mobile=f"+1555{i:07d}",
                **factors(ident["zip_code"], date(1960 + i % 40, 1 + i % 12, 1 + i % 28),
                          ident["ssn_last4"], settings),
                address_line1=f"{i} Test St", city="Testville", state="GA",
            ))
            accounts.append(dict(
                id=cid, account_number=ident["account_number"], customer_id=cid, product="loan",
                status="current", opened_on=add_months(today, -12), apr=Decimal("6.90"),
                first_payment_date=add_months(today, -11, 10), maturity_date=add_months(today, 48, 10),
                principal_balance=principal, monthly_payment=Decimal("350.00"), payment_due_day=10,
                next_due_date=next_due(today, 10), payments_remaining=48,
            ))
            sources.append(dict(id=cid, customer_id=cid, kind="checking", last4=f"{i % 10000:04d}",
                                token=f"tok_bulk_{i:06d}"))
        session.execute(insert(Customer), customers)
        session.execute(insert(Account), accounts)
        session.execute(insert(FundingSource), sources)
        session.execute(insert(OnlineCredential), [
            dict(customer_id=c["id"], username=f"bulk{c['id'] - BULK_ID_OFFSET:06d}",
                 password_hash=password_hash) for c in customers
        ])
    return count - start
