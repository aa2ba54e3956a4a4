"""Schedules in the local runtime: due times are stored, missed runs are made up once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from supporterflow.adapters.clock import FrozenClock
from supporterflow.declare import Cron, Every, Topology
from supporterflow.runtime.process import Runtime
from tests.support import drive, open_container

runs: list[datetime] = []


async def tick(*, clock: FrozenClock) -> None:
    runs.append(clock.now())


async def test_an_every_schedule_runs_each_period_and_stores_its_next_due_time(tmp_path: Path) -> None:
    runs.clear()
    clock = FrozenClock("2026-03-01T12:00:00+00:00")
    container = open_container(tmp_path, Topology(schedules=(Every(60, tick),)), clock)

    async def twice() -> bool:
        return len(runs) == 2

    async def later() -> None:
        clock.advance(30)

    await drive(Runtime(container, http=False), twice, between=later, timeout_s=20)

    assert runs[1] - runs[0] >= timedelta(seconds=60)
    assert await container.coordination.next_due("tick") == runs[1] + timedelta(seconds=60)
    container.close()


async def test_a_run_missed_while_the_service_was_down_is_made_once_at_start(tmp_path: Path) -> None:
    runs.clear()
    clock = FrozenClock("2026-03-02T00:10:00+00:00")
    container = open_container(tmp_path, Topology(schedules=(Cron("3 0 * * *", tick),)), clock)
    await container.coordination.set_next_due("tick", datetime(2026, 3, 2, 0, 3, tzinfo=UTC))

    async def ran() -> bool:
        return len(runs) == 1

    await drive(Runtime(container, http=False), ran)

    assert runs == [clock.now()]
    assert await container.coordination.next_due("tick") == datetime(2026, 3, 3, 0, 3, tzinfo=UTC)
    container.close()


async def test_only_the_lease_holder_runs_a_schedule(tmp_path: Path) -> None:
    runs.clear()
    clock = FrozenClock("2026-03-02T00:10:00+00:00")
    container = open_container(tmp_path, Topology(schedules=(Every(60, tick),)), clock)
    await container.coordination.set_next_due("tick", clock.now())
    assert await container.coordination.acquire("schedule:tick", "another-process", 3600)
    runtime = Runtime(container, http=False)

    async def lease_checked() -> bool:
        return not await container.coordination.acquire("schedule:tick", "a-third-process", 1)

    await drive(runtime, lease_checked)

    assert runs == []
    container.close()
