"""Back-off and schedule arithmetic."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from supporterflow.declare import Cron, Every
from supporterflow.runtime.scheduler import next_fire
from supporterflow.runtime.waiting import backoff_seconds


async def noop() -> None: ...


def test_back_off_grows_exponentially_up_to_its_cap() -> None:
    rng = random.Random(1)
    bounds = [
        max(backoff_seconds(n, base_s=1, max_s=30, rng=rng) for _ in range(500)) for n in (1, 2, 3, 4, 8)
    ]
    assert 0.9 < bounds[0] <= 1
    assert 1.9 < bounds[1] <= 2
    assert 3.9 < bounds[2] <= 4
    assert 7.9 < bounds[3] <= 8
    assert 29 < bounds[4] <= 30


def test_back_off_is_jittered_down_to_zero() -> None:
    rng = random.Random(2)
    assert min(backoff_seconds(3, base_s=1, max_s=30, rng=rng) for _ in range(500)) < 0.1


def test_back_off_counts_attempts_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        backoff_seconds(0, base_s=1, max_s=2)


def test_every_fires_one_period_later() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert next_fire(Every(90, noop), now) == datetime(2026, 3, 1, 12, 1, 30, tzinfo=UTC)


def test_cron_fires_at_the_next_matching_minute_in_utc() -> None:
    assert next_fire(Cron("3 0 * * *", noop), datetime(2026, 3, 1, 0, 3, tzinfo=UTC)) == datetime(
        2026, 3, 2, 0, 3, tzinfo=UTC
    )
    assert next_fire(Cron("*/15 * * * *", noop), datetime(2026, 3, 1, 0, 7, tzinfo=UTC)) == datetime(
        2026, 3, 1, 0, 15, tzinfo=UTC
    )


def test_a_bad_cron_expression_is_refused_when_declared() -> None:
    with pytest.raises(ValueError, match="cron"):
        Cron("every day", noop)
