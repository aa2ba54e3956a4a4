"""How the runtime waits: back-off between attempts, and waits that an event can cut short.

Back-off is exponential with full jitter (a uniform draw between zero and the exponential bound):
it spreads the retries of many messages that failed together, so a recovering store is not hit by
all of them at once."""

from __future__ import annotations

import asyncio
import random


def backoff_seconds(attempt: int, *, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Delay before retry number ``attempt`` (1 for the first retry)."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    bound = min(max_s, base_s * 2 ** min(attempt - 1, 32))
    return (rng or random).uniform(0, bound)


async def wait_for_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; True if the event was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
