"""Clocks: the system's, and a frozen one that tests move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """Stands still until ``advance`` or ``set`` moves it."""

    def __init__(self, at: datetime | str = "2026-01-01T00:00:00+00:00") -> None:
        self._now = datetime.fromisoformat(at) if isinstance(at, str) else at
        if self._now.tzinfo is None:
            raise ValueError("a frozen clock needs an aware datetime")

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        self._now += timedelta(seconds=seconds, **delta)
        return self._now

    def set(self, at: datetime) -> None:
        self._now = at
