"""What the simulated customers say: ours verify, check the balance and pay; the stock bot's chat.

Our customer is bulk customer `index` (see `autofinance.demo.seed.bulk_identity`): it identifies,
takes the one-time code from the store's outbox (as the customer would from their inbox),
asks the balance, pays $25 from checking, then asks something out of scope, types nonsense
(the fallback) and says goodbye: 14 messages. The stock customer sends 14 messages the
`rasa init` bot understands, so both assistants carry the same number of messages.
"""
from __future__ import annotations

import asyncio
import re
from typing import Callable, Optional

from sqlalchemy import Engine

from autofinance.adapters.store.db import UnitOfWork, session_factory
from autofinance.config import Settings
from autofinance.demo.seed import bulk_identity
from autofinance.services.outbox import newest_messages
from bench.load import ConversationScript

CODE = re.compile(r"\b(\d{6})\b")


def latest_code(engine: Engine, email: str) -> Optional[str]:
    """Codes are sealed in the outbox: read them as the dev outbox does, with the stack's pepper
    (the bench's stack and seed take it from this same environment)."""
    uow = UnitOfWork(session_factory(engine))
    newest = newest_messages(uow, Settings.from_env().secret_pepper, 1, to=email)
    match = CODE.search(newest[0].body if newest else "")
    return match.group(1) if match else None


class ServicingCustomer(ConversationScript):
    def __init__(self, index: int, engine: Engine) -> None:
        ident = bulk_identity(index)
        self.email = f"bulk{index:06d}@example.com"
        self.engine = engine
        self.steps: list[str | Callable[[], str]] = [
            "hi", "what's my balance", ident["account_number"], ident["zip_code"], "email",
            self._code, "i'd like to make a payment", "$25", "today", "my checking", "yes",
            "can you recommend a good mechanic near me", "blorf zzkq wibble", "bye",
        ]
        self.saw_balance = self.paid = False
        self.position = 0

    def _code(self) -> str:
        return latest_code(self.engine, self.email) or "000000"

    async def next_message(self, last_answer: list[str]) -> Optional[str]:
        text = " ".join(last_answer)
        if self.position == 6:
            self.saw_balance = "$" in text
        if self.position == 11:
            self.paid = "confirmation" in text.lower()
        if self.position >= len(self.steps):
            return None
        step = self.steps[self.position]
        self.position += 1
        return await asyncio.to_thread(step) if callable(step) else step

    def succeeded(self) -> bool:
        return self.saw_balance and self.paid


STOCK_MESSAGES = [
    "hello", "i am feeling sad", "yes", "are you a bot?", "hi there", "great, thanks",
    "good morning", "i'm so unhappy", "no", "are you human?", "hey", "perfect", "ok bye", "goodbye",
]


class StockCustomer(ConversationScript):
    def __init__(self) -> None:
        self.position = 0

    async def next_message(self, last_answer: list[str]) -> Optional[str]:
        if self.position >= len(STOCK_MESSAGES):
            return None
        self.position += 1
        return STOCK_MESSAGES[self.position - 1]
