"""Schedules: ``Every`` and ``Cron`` handlers, run by whichever process holds their lease.

The next due time of each schedule is stored, so a restart does not reset an hourly job to "one
hour from now", and a run that fell due while the service was down is made once at start (a daily
export missed at 00:03 still happens). Each run has a correlation id of its own, on its log lines,
the messages it sends and its outbound requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog
from croniter import croniter

from supporterflow.declare import Cron, Every, Schedule
from supporterflow.logs import correlation
from supporterflow.ports import Clock, Coordination
from supporterflow.runtime.metrics import Metrics
from supporterflow.runtime.waiting import wait_for_event

log = structlog.get_logger(__name__)

ScheduledHandler = Callable[[], Awaitable[object]]

_LEASE_S = 60.0
_MAX_SLEEP_S = 30.0  # wake up now and then to notice a changed due time or a lost lease


def next_fire(schedule: Schedule, after: datetime) -> datetime:
    """The first time strictly after ``after`` at which ``schedule`` is due."""
    match schedule:
        case Every(seconds=seconds):
            return after + timedelta(seconds=seconds)
        case Cron(expression=expression):
            fire: datetime = croniter(expression, after).get_next(datetime)
            return fire
    raise TypeError(f"not a schedule: {schedule!r}")


class Scheduler:
    def __init__(
        self,
        schedules: list[tuple[Schedule, ScheduledHandler]],
        *,
        coordination: Coordination,
        clock: Clock,
        owner: str,
        metrics: Metrics,
    ) -> None:
        self._schedules = schedules
        self._coordination = coordination
        self._clock = clock
        self._owner = owner
        self._metrics = metrics
        self._stopping = asyncio.Event()
        self._wake = {schedule.name: asyncio.Event() for schedule, _ in schedules}

    def stop(self) -> None:
        self._stopping.set()
        self.nudge()

    def nudge(self) -> None:
        """Look at the due times now (e.g. after a test moved its clock)."""
        for event in self._wake.values():
            event.set()

    async def _sleep(self, name: str, seconds: float) -> None:
        wake = self._wake[name]
        await wait_for_event(wake, seconds)
        wake.clear()

    async def run(self) -> None:
        if not self._schedules:
            # Nothing to run, but a part that returns stops the whole runtime: wait for the stop.
            await self._stopping.wait()
            return
        await asyncio.gather(*(self._run_one(schedule, handler) for schedule, handler in self._schedules))

    async def _run_one(self, schedule: Schedule, handler: ScheduledHandler) -> None:
        name = schedule.name
        due = await self._coordination.next_due(name)
        if due is None:
            due = next_fire(schedule, self._clock.now())
            await self._coordination.set_next_due(name, due)
        while not self._stopping.is_set():
            wait_s = (due - self._clock.now()).total_seconds()
            if wait_s > 0:
                await self._sleep(name, min(wait_s, _MAX_SLEEP_S))
                due = await self._coordination.next_due(name) or due
                continue
            if await self._coordination.acquire(f"schedule:{name}", self._owner, _LEASE_S):
                await self.run_now(schedule, handler)
                due = next_fire(schedule, self._clock.now())
                await self._coordination.set_next_due(name, due)
            else:
                await self._sleep(name, _MAX_SLEEP_S)
                due = await self._coordination.next_due(name) or due

    async def run_now(self, schedule: Schedule, handler: ScheduledHandler) -> bool:
        with correlation(None):
            return await self._run_now(schedule, handler)

    async def _run_now(self, schedule: Schedule, handler: ScheduledHandler) -> bool:
        started = time.perf_counter()
        try:
            await handler()
        except Exception as error:
            self._metrics.schedule_runs.labels(schedule.name, "error").inc()
            log.error("scheduled run failed", schedule=schedule.name, error=repr(error), exc_info=error)
            return False
        self._metrics.schedule_runs.labels(schedule.name, "ok").inc()
        log.info(
            "scheduled run done", schedule=schedule.name, seconds=round(time.perf_counter() - started, 3)
        )
        return True
