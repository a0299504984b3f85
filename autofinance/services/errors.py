"""Errors the services raise; each carries a short, customer-safe `message`.

The assistant may show `message` to the customer as it is: it never names an account, a
customer or any detail of the record. Keep this a flat list of small classes.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date


class ServiceError(Exception):
    """Base of every expected business error; `message` is safe to show the customer."""

    message = "Sorry, I couldn't complete that. I can connect you with an agent."

    def __init__(self, message: Optional[str] = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


# --- identity ---------------------------------------------------------------------------


class IdentificationFailed(ServiceError):
    message = (
        "I couldn't verify those details. Please check them and try again, "
        "or I can connect you with an agent."
    )


class VerificationLocked(ServiceError):
    """Too many failed tries; `until` is when verification may be tried again (aware UTC)."""

    message = (
        "For your security, verification is paused for 15 minutes after too many attempts. "
        "Please try again later, or I can connect you with an agent."
    )

    def __init__(self, until: Optional[datetime], message: Optional[str] = None) -> None:
        self.until = until
        super().__init__(message)


class NoPendingVerification(ServiceError):
    message = (
        "Let's start again: please give me your account number or username "
        "and one identifying detail so I can send you a code."
    )


class CodeSendLimitReached(ServiceError):
    """The hourly cap on codes for this conversation or this customer: nothing was sent."""

    message = (
        "I've sent as many codes as I can for now, so I didn't send another. Please use the "
        "latest code you received, or try again later, or I can connect you with an agent."
    )


class CodeInvalid(ServiceError):
    """Wrong one-time code; `attempts_left` tries remain before verification is paused."""

    def __init__(self, attempts_left: int, message: Optional[str] = None) -> None:
        self.attempts_left = attempts_left
        tries = "1 try" if attempts_left == 1 else f"{attempts_left} tries"
        super().__init__(message or f"That code didn't match. Please try again ({tries} left).")


class CodeExpired(ServiceError):
    message = "That code has expired; codes work for 5 minutes. You'll need a new code."


class CodeAlreadyUsed(ServiceError):
    message = "That code has already been used. You'll need a new code."


class NotVerified(ServiceError):
    message = "I need to verify your identity before I can help with your account."


class StepUpRequired(ServiceError):
    message = "To make changes to your account, I need to send you a one-time code first."


# --- accounts, payoff and payments ----------------------------------------------------------


class AccountNotFound(ServiceError):
    message = "I couldn't find an open account for you. I can connect you with an agent."


class AccountPaidOff(AccountNotFound):
    """Every account of the customer is paid off: nothing is owed, which is the answer."""

    def __init__(self, paid_off_on: str) -> None:
        super().__init__(f"Your loan was paid off on {paid_off_on}, so there's no balance or payment due. "
                         "I can tell you where your title is, or connect you with an agent.")


class AccountChoiceNeeded(ServiceError):
    """The customer has several open accounts and none is chosen: `options` (AccountOption,
    masked, with the vehicle) are what to ask about. Nothing was read or changed."""

    message = "You have more than one account with us. Which one is this about?"

    def __init__(self, options: tuple[object, ...], message: Optional[str] = None) -> None:
        self.options = options
        super().__init__(message)


class InvalidPayoffDate(ServiceError):
    message = "I can quote a payoff for today or any day in the next 30 days. Which date?"


class InvalidAmount(ServiceError):
    message = "Please give an amount in dollars and cents that's more than zero, like $452.18."


class AmountOverPayoff(ServiceError):
    message = (
        "That's more than it would take to pay off your account on that date. "
        "Please choose a smaller amount, or ask me for your payoff amount."
    )


class InvalidPaymentDate(ServiceError):
    message = "Please choose a payment date from today through the next 30 days."


# The payment form's refusals: each names the exact problem with the answer just given. They
# are the general refusals above, so a caller can catch either.


class AmountNotPositive(InvalidAmount):
    message = "The amount has to be more than $0.00. How much would you like to pay?"


class NoPastDueAmount(AmountNotPositive):
    message = "You don't have a past-due amount right now. How much would you like to pay?"


class AmountNotWholeCents(InvalidAmount):
    message = "Amounts go to the cent, like $125.50. How much would you like to pay?"


class AmountAbovePayoff(AmountOverPayoff):
    """More than `payoff`, what it would take to close the account."""

    def __init__(self, payoff: Decimal, message: Optional[str] = None) -> None:
        self.payoff = payoff
        super().__init__(message or f"That's more than your payoff amount of {format_usd(payoff)}. "
                         "Please choose a smaller amount.")


class PaymentDateInPast(InvalidPaymentDate):
    def __init__(self, day: date, message: Optional[str] = None) -> None:
        self.day = day
        super().__init__(message or f"{format_long_date(day)} has already passed. "
                         "Please choose today or a later date.")


class PaymentDateTooFar(InvalidPaymentDate):
    """Beyond `last`, the latest day a payment can be scheduled for."""

    def __init__(self, last: date, message: Optional[str] = None) -> None:
        self.last = last
        super().__init__(message or f"I can schedule payments up to {format_long_date(last)}. "
                         "Please choose an earlier date.")


class AccountFrozen(ServiceError):
    message = (
        "For your security, payments can't be made on this account in chat right now. "
        "I can connect you with an agent."
    )


class UnknownFundingSource(ServiceError):
    message = "I couldn't use that payment method. Please choose one of your saved accounts or cards."


class IdempotencyConflict(ServiceError):
    message = (
        "That request doesn't match the payment already made for it. "
        "Please start the payment again."
    )


class PaymentNotCancellable(ServiceError):
    message = (
        "That payment can't be cancelled: only payments scheduled for a future date can be. "
        "I can connect you with an agent."
    )


class PaymentNotFound(ServiceError):
    message = "I couldn't find a payment with that confirmation number on your account."


# --- contact details ------------------------------------------------------------------------


class InvalidContactValue(ServiceError):
    """The new email, mobile or address is not usable; `message` says what is wrong."""

    message = "That doesn't look right. Please check it and try again."


class ContactUnchanged(ServiceError):
    message = "That's already what we have on file, so there's nothing to change."


class ContactChangeLimitReached(ServiceError):
    message = (
        "I've already sent the most confirmation codes I can for contact changes today. "
        "Please try again tomorrow, or I can connect you with an agent."
    )


class NoPendingContactChange(ServiceError):
    message = "I don't have a change waiting for a code. Please tell me the new details again."


class ContactCodeInvalid(ServiceError):
    """Wrong code for a contact change; `attempts_left` tries remain before it is cancelled."""

    def __init__(self, attempts_left: int, message: Optional[str] = None) -> None:
        self.attempts_left = attempts_left
        if attempts_left <= 0:
            default = ("That code didn't match, and that was the last try, so the change was "
                       "cancelled. Please tell me the new details again to get a new code.")
        else:
            tries = "1 try" if attempts_left == 1 else f"{attempts_left} tries"
            default = f"That code didn't match. Please try again ({tries} left)."
        super().__init__(message or default)


class ContactCodeExpired(ServiceError):
    message = (
        "That code has expired; codes work for 10 minutes. "
        "Please tell me the new details again to get a new code."
    )


# --- documents and lease end ------------------------------------------------------------


class UnknownDocument(ServiceError):
    message = "I couldn't find that document. I can list your available statements for you."


class NotALease(ServiceError):
    message = (
        "Lease-end options are only for lease accounts. "
        "I can give you a payoff quote instead, or connect you with an agent."
    )


class InvalidExtensionLength(ServiceError):
    message = "A lease can be extended by 1 to 6 months. How many months would you like?"


# --- autopay, fraud and hardship ------------------------------------------------------------


class InvalidAutopayDay(ServiceError):
    message = "Autopay can run on any day from the 1st to the 28th. Which day would you like?"


class AlreadyEnrolled(ServiceError):
    message = (
        "Autopay is already set up on your account. I can change its day or payment method, "
        "or cancel it."
    )


class NotEnrolled(ServiceError):
    message = "Autopay isn't set up on your account. Would you like to set it up?"


class InvalidFraudReport(ServiceError):
    message = "Please tell me briefly what happened, so I can open a fraud case for you."


class NotEligible(ServiceError):
    """A hardship option the account can't have; `message` says why and what else to do."""

    message = (
        "That option isn't available for your account right now. "
        "A hardship specialist can go over other options with you."
    )


class InvalidDueDay(ServiceError):
    message = (
        "Please choose a new due day from the 1st to the 28th, "
        "within 15 days of your current due day."
    )


class DueDateMoveTooFar(ServiceError):
    message = (
        "A due date can move by up to 15 days. Please choose a day within 15 days of your "
        "current due day, or I can connect you with a hardship specialist."
    )


# --- online access ----------------------------------------------------------------------


class NoOnlineAccess(ServiceError):
    message = (
        "You don't have online access set up yet. Say \"set up online access\" and I'll email "
        "you a link to register, or I can connect you with an agent."
    )


class OnlineAccessHeld(ServiceError):
    """A verified fraud report locked online access: only the fraud team lifts it."""

    message = (
        "Your online access is on hold to protect you while our fraud team reviews your fraud "
        "case, so I can't unlock it or send a reset link here. The fraud team will contact you; "
        "if you'd like to talk to someone now, I can connect you with a person."
    )


class ContactChangeHeld(ServiceError):
    """A verified fraud report is open: contact details (where codes and notices go) stay as they
    are until the fraud team has reviewed it, so an intruder cannot redirect them."""

    message = (
        "While our fraud team reviews your fraud case, I can't change your contact details here, "
        "to keep anyone else from redirecting your messages. The fraud team will contact you; if "
        "you'd like to talk to someone now, I can connect you with a person."
    )


class ResetLimitReached(ServiceError):
    message = (
        "I've already sent the most password reset emails I can today. Please use the link in "
        "the latest email, or try again tomorrow, or I can connect you with an agent."
    )


class InvalidResetLink(ServiceError):
    message = (
        "This link is not valid or has expired. Reset links work once, for 30 minutes. "
        "Ask the assistant in chat to send you a new one."
    )


class WeakPassword(ServiceError):
    """The new password breaks a rule; `message` says exactly what to fix."""

    message = "Please choose a stronger password."


class AlreadyRegistered(ServiceError):
    """The customer has online access already: a reset link or a username reminder helps instead."""

    message = "You already have online access."

    def __init__(self, username_masked: str) -> None:
        super().__init__()
        self.username_masked = username_masked


class RegistrationLimitReached(ServiceError):
    message = (
        "I've already sent the most registration emails I can today. Please use the link in the "
        "latest email, or try again tomorrow, or I can connect you with an agent."
    )


class InvalidRegistrationLink(ServiceError):
    message = (
        "This registration link is not valid or has expired. Links work once, for 60 minutes. "
        "Ask the assistant in chat to send you a new one."
    )


class InvalidUsername(ServiceError):
    """The username breaks a rule; `message` says exactly what to fix."""

    message = "Please choose another username."


# --- support console (staff-facing: `message` is shown to the agent, not the customer) -------


class TicketNotFound(ServiceError):
    message = "There is no hand-off ticket with that number."


class TicketNotYours(ServiceError):
    message = "Another agent holds this ticket, so only they or a supervisor can work on it."


class TicketAlreadyClaimed(ServiceError):
    """Someone claimed it first; `message` says who (or that it was you)."""

    message = "Someone else has already claimed this ticket."


class TicketNotClaimed(ServiceError):
    message = "Claim this ticket before you reply to the customer or resolve it."


class TicketNotOpen(ServiceError):
    message = "This ticket is already resolved or closed."


class InvalidNote(ServiceError):
    message = "A note needs some text: between 1 and 2000 characters."


class InvalidReply(ServiceError):
    message = "A reply needs some text: between 1 and 1000 characters."


class InvalidMetricsPeriod(ServiceError):
    message = "Metrics cover 1 to 90 days."


class FraudCaseNotFound(ServiceError):
    message = "There is no fraud case with that number."


class FraudTeamOnly(ServiceError):
    message = "Only the fraud team (a supervisor) can clear a fraud case."


class FraudCaseNotOpen(ServiceError):
    message = "This fraud case is already closed."


# --- specialist work queues ----------------------------------------------------------------
# Shown to staff in the console.


class WorkItemNotFound(ServiceError):
    message = "There is no work item with that reference."


class WorkItemAlreadyClaimed(ServiceError):
    """Someone claimed it first; `message` says who (or that it was you)."""

    message = "Someone else has already claimed this item."


class WorkItemNotClaimed(ServiceError):
    message = "Claim this item before you complete or decline it."


class WorkItemNotYours(ServiceError):
    message = "Another specialist holds this item: only they can decide it (or release it)."


class WorkItemAlreadyDecided(ServiceError):
    message = "This item has already been decided."


class WorkItemNoteRequired(ServiceError):
    message = "Declining needs a note saying why (1 to 2000 characters)."


class WorkItemCannotComplete(ServiceError):
    """The request can no longer be granted as asked; `message` says why and what to do."""

    message = "This request can no longer be completed; decline it with a note instead."


# --- support console staff --------------------------------------------------------------
# Shown to staff, not customers; sign-in messages still tell a guesser nothing.


class SignInFailed(ServiceError):
    """Any wrong sign-in detail: the message is the same whatever was wrong."""

    message = "Those sign-in details don't match. Check them and try again."


class SignInLocked(ServiceError):
    message = "Too many sign-in attempts. Please try again later."


class NotSignedIn(ServiceError):
    message = "Your console session has ended. Please sign in again."


class StaffExists(ServiceError):
    message = "A staff account with that username already exists."


class UnknownStaff(ServiceError):
    message = "There is no staff account with that username."


class InvalidStaffDetails(ServiceError):
    """A username, display name or role that can't be used; `message` says which and why."""

    message = "Those staff account details can't be used."


class StatementDeliveryUnchanged(ServiceError):
    """The customer already gets statements the way they asked for."""

    message = "Your statements already come that way, so nothing needed to change."


class NoInterestStatement(ServiceError):
    """A lease has no year-end interest statement."""

    message = ("A lease doesn't have a year-end interest statement: lease payments pay for the use "
               "of the car (depreciation and a rent charge), not interest on a loan, so there is no "
               "1098-style form for them. For how a lease counts on a tax return, a tax adviser can help.")


# --- insurance and total loss -----------------------------------------------------------


class InvalidInsuranceDetail(ServiceError):
    """A policy detail that fails a check; `reason` names the check, and the assistant words it
    (insurer, policy_number, effective_date, expiry_date, effective_too_far, expiry_before_effective,
    already_expired, term_too_long)."""

    message = "That insurance detail doesn't look right. Please check it and try again."

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__()


class InsuranceUnchanged(ServiceError):
    """The policy given is the one already on file: nothing to update."""

    message = "That policy is already the one on file, so nothing needed changing."


# --- new funding sources (bank accounts in chat, debit cards on the card page) -----------


class InvalidBankDetail(ServiceError):
    """A bank detail that fails a check; `reason` names the check, and the assistant words it
    (routing_format, routing_checksum, account_format, kind)."""

    message = "That bank detail doesn't look right. Please check it and try again."

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__()


class NewSourceLimitReached(ServiceError):
    """Too many new payment methods: `scope` is 'customer' (a day, all channels) or
    'conversation'. Nothing was added."""

    message = ("For your security, I can't add another payment method right now. Please try again "
               "tomorrow, or I can connect you with an agent.")

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__()


class CardLinkLimitReached(ServiceError):
    message = (
        "I've already sent the most card links I can today. Please use the link in the latest "
        "email, or try again tomorrow, or I can connect you with an agent."
    )


class InvalidCardLink(ServiceError):
    message = (
        "This link is not valid or has expired. Card links work once, for 30 minutes. "
        "Ask the assistant in chat to send you a new one."
    )


class InvalidCardDetail(ServiceError):
    """The card number or expiry fails a check; `message` says what to fix (shown on the page)."""

    message = "Please check the card details and try again."
