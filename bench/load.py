"""Simulated customers on the REST channel, and what their messages cost.

A customer is a script of messages sent one after another, each waiting for the answer (as a
person in a chat does); N customers run at once. Every message's latency is kept, so the
percentiles are exact rather than sampled.
"""
from __future__ import annotations

import asyncio
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import aiohttp



class ConversationScript:
    """Yields a conversation's messages; subclasses may read earlier answers."""

    async def next_message(self, last_answer: list[str]) -> Optional[str]:
        raise NotImplementedError

    def succeeded(self) -> bool:
        return True


@dataclass
class LevelResult:
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0  # no HTTP 200 with a JSON list: refused, failed or timed out
    silent: int = 0  # answered with nothing (the stock bot's stories leave some turns silent)
    failed_conversations: int = 0
    conversations: int = 0
    seconds: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # service -> CPU used meanwhile

    def cpu_ms_per_message(self, service: str) -> float:
        """CPU time a service spent per message: steadier than throughput on a shared machine."""
        if service not in self.cpu_seconds or not self.messages:
            return float("nan")
        return self.cpu_seconds[service] * 1000 / self.messages

    @property
    def messages(self) -> int:
        return len(self.latencies_ms)

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)  # nearest rank: the smallest value >= p% of them
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    @property
    def median(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


async def _converse(http: aiohttp.ClientSession, url: str, sender: str,
                    script: ConversationScript, result: LevelResult) -> None:
    answer: list[str] = []
    ok = True
    while (message := await script.next_message(answer)) is not None:
        started = time.perf_counter()
        try:
            async with http.post(url, json={"sender": sender, "message": message}) as response:
                body = await response.json(content_type=None) if response.status == 200 else None
        except (aiohttp.ClientError, asyncio.TimeoutError):
            body = None
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        if not isinstance(body, list):
            result.errors += 1
            ok = False
            answer = []
            continue
        result.silent += not body
        answer = [str(m.get("text") or "") for m in body]
    result.conversations += 1
    if not (ok and script.succeeded()):
        result.failed_conversations += 1


async def run_level(base_url: str, concurrency: int, conversations_each: int,
                    new_script: Callable[[int], ConversationScript],
                    first_index: int, label: str) -> LevelResult:
    """`concurrency` customers, each holding `conversations_each` conversations in a row."""
    result = LevelResult(concurrency)
    url = f"{base_url}/webhooks/rest/webhook"
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=concurrency + 5)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        async def customer(worker: int) -> None:
            for round_ in range(conversations_each):
                index = first_index + worker * conversations_each + round_
                await _converse(http, url, f"bench-{label}-{index}", new_script(index), result)

        started = time.perf_counter()
        await asyncio.gather(*(customer(w) for w in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result


