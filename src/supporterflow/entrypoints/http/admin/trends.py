"""Queue depths and consumer counts over time, for the overview's sparklines and rates.

Samples are taken when the overview is viewed (at most one per ``MIN_INTERVAL_S``; the page
refreshes itself while watched) and kept in memory for ``KEEP`` samples: a trend of what this
process saw, not a store. Prometheus (``deploy/observability/``) keeps the long history."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Final

import structlog

from supporterflow.bootstrap import Container

__all__ = ["ConsumerRate", "Trends"]

MIN_INTERVAL_S: Final = 5.0
KEEP: Final = 360  # half an hour at one sample per 5 s
RATE_WINDOW_S: Final = 300.0
_ERRORS: Final = ("retry", "dead_letter")

log = structlog.get_logger(__name__)

#: The samples' clock (tests move it).
monotonic = time.monotonic


@dataclass(frozen=True)
class _Sample:
    at: float
    depths: dict[str, int]  # queue -> visible + in flight + delayed
    handled: dict[str, tuple[float, float]]  # consumer -> (ok, errors) counters


@dataclass(frozen=True)
class ConsumerRate:
    consumer: str
    handled: float  # all time, this process
    ok_per_min: float
    errors_per_min: float


class Trends:
    def __init__(self, container: Container) -> None:
        self._container = container
        self._samples: deque[_Sample] = deque(maxlen=KEEP)

    def _counter(self, consumer: str, outcome: str) -> float:
        value = self._container.metrics.registry.get_sample_value(
            "supporterflow_consumer_messages_total", {"consumer": consumer, "outcome": outcome}
        )
        return value or 0.0

    def consumers(self) -> list[str]:
        return [c.name for c in self._container.topology.consumers]

    async def sample(self) -> None:
        now = monotonic()
        if self._samples and now - self._samples[-1].at < MIN_INTERVAL_S:
            return
        depths = {}
        for name, queue in self._container.queues.items():
            try:
                depth = await queue.depth()
            except Exception as error:  # an unreachable queue must not take the page down
                log.warning("queue depth not read for the dashboard", queue=name, error=repr(error))
                continue
            depths[name] = depth.visible + depth.in_flight + depth.delayed
        handled = {
            c: (self._counter(c, "ok"), sum(self._counter(c, o) for o in _ERRORS)) for c in self.consumers()
        }
        self._samples.append(_Sample(now, depths, handled))

    def series(self, queue: str) -> list[int]:
        return [s.depths[queue] for s in self._samples if queue in s.depths]

    def rates(self) -> list[ConsumerRate]:
        if not self._samples:
            return []
        last = self._samples[-1]
        window = [s for s in self._samples if last.at - s.at <= RATE_WINDOW_S]
        first = window[0]
        minutes = (last.at - first.at) / 60
        rates = []
        for consumer, (ok, errors) in last.handled.items():
            ok0, errors0 = first.handled.get(consumer, (ok, errors))
            rates.append(
                ConsumerRate(
                    consumer,
                    handled=ok + errors,
                    ok_per_min=(ok - ok0) / minutes if minutes else 0.0,
                    errors_per_min=(errors - errors0) / minutes if minutes else 0.0,
                )
            )
        return rates


def sparkline(values: list[int], width: int = 120, height: int = 24) -> str:
    """Polyline points for an inline SVG, scaled to the series' own maximum."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{height - v / top * (height - 2) - 1:.1f}" for i, v in enumerate(values))
