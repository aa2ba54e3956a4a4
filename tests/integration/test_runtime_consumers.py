"""Queue consumers in the local runtime: what happens to a message for each thing a handler does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from supporterflow.adapters.clock import FrozenClock
from supporterflow.bootstrap import Container
from supporterflow.config import ConfigurationError
from supporterflow.declare import Consumer, QueueDef, TableDef, Topology
from supporterflow.ports import GiveUp, Ignore, Retry, Table
from supporterflow.runtime.process import Runtime
from tests.support import drive, open_container

WORK = QueueDef("work", visibility_s=30, max_receives=3)
DONE = TableDef("done", hash_key="id")


def topology_with(handler: Callable[..., Any], **consumer: Any) -> Topology:
    return Topology(tables=(DONE,), queues=(WORK,), consumers=(Consumer("work", handler, **consumer),))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock("2026-03-01T12:00:00+00:00")


async def depth_is(container: Container, queue: str, total: int) -> bool:
    return (await container.queues[queue].depth()).total == total


async def test_a_handled_message_is_deleted_and_its_work_committed(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async def record(body: bytes, *, done: Table) -> None:
        await done.put({"id": body.decode()})

    container = open_container(tmp_path, topology_with(record), clock)
    await container.queues["work"].send_batch([b"a", b"b", b"c"])
    await drive(Runtime(container, http=False), lambda: depth_is(container, "work", 0))

    items = (await container.tables["done"].scan()).items
    assert sorted(item["id"] for item in items) == ["a", "b", "c"]
    container.close()


async def test_a_handler_gets_its_collaborators_by_parameter_name(tmp_path: Path, clock: FrozenClock) -> None:
    seen: dict[str, Any] = {}

    async def inspect_collaborators(body: bytes, *, done: Table, work: Any, clock: Any) -> None:
        seen.update(done=done.name, work=work.name, now=clock.now())

    container = open_container(tmp_path, topology_with(inspect_collaborators), clock)
    await container.queues["work"].send(b"x")
    await drive(Runtime(container, http=False), lambda: depth_is(container, "work", 0))

    assert seen == {"done": "done", "work": "work", "now": clock.now()}
    container.close()


def test_a_handler_asking_for_something_unknown_fails_at_start(tmp_path: Path, clock: FrozenClock) -> None:
    async def needs_a_stranger(body: bytes, *, no_such_table: Table) -> None: ...

    container = open_container(tmp_path, topology_with(needs_a_stranger), clock)
    with pytest.raises(ConfigurationError, match="no_such_table"):
        Runtime(container, http=False)
    container.close()


async def test_a_retried_message_comes_back_after_its_back_off(tmp_path: Path, clock: FrozenClock) -> None:
    attempts: list[int] = []

    async def flaky(body: bytes) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            raise Retry("store unavailable")

    container = open_container(tmp_path, topology_with(flaky, backoff_base_s=10, backoff_max_s=10), clock)
    await container.queues["work"].send(b"x")
    runtime = Runtime(container, http=False)

    async def first_attempt_failed() -> bool:
        return attempts == [1] and (await container.queues["work"].depth()).in_flight == 1

    async def later() -> None:
        clock.advance(11)  # past the longest back-off of the first retry

    await drive(runtime, first_attempt_failed)
    await drive(Runtime(container, http=False), lambda: depth_is(container, "work", 0), between=later)

    assert attempts == [1, 2]
    assert await depth_is(container, "work-dlq", 0)
    container.close()


@pytest.mark.parametrize(("after_s", "hidden_s"), [(40, 40), (10_000, 120)])
async def test_a_retry_after_is_honoured_up_to_the_back_off_ceiling(
    tmp_path: Path, clock: FrozenClock, after_s: float, hidden_s: int
) -> None:
    """A service that says when to come back (HTTP Retry-After) is not asked earlier; a very long
    answer is capped at the consumer's ceiling, so a message is never parked for hours."""

    async def throttled(body: bytes) -> None:
        raise Retry("HTTP 429", after_s=after_s)

    topology = topology_with(throttled, backoff_base_s=1, backoff_max_s=120)
    container = open_container(tmp_path, topology, clock)
    await container.queues["work"].send(b"x")

    async def failed_once() -> bool:
        # Received, the message is hidden for the queue's visibility (30 s); failed, for the delay.
        page = await container.queues["work"].list()
        return (
            bool(page.messages)
            and page.messages[0].receive_count == 1
            and page.messages[0].visible_at != clock.now() + timedelta(seconds=WORK.visibility_s)
        )

    await drive(Runtime(container, http=False), failed_once)
    [message] = (await container.queues["work"].list()).messages
    assert (message.visible_at - clock.now()).total_seconds() == hidden_s
    container.close()


async def test_a_message_that_keeps_failing_ends_in_the_dlq_with_the_last_error(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async def broken(body: bytes) -> None:
        raise ValueError("cannot parse the reference")

    container = open_container(tmp_path, topology_with(broken, backoff_base_s=1, backoff_max_s=1), clock)
    await container.queues["work"].send(b"x")

    async def later() -> None:
        clock.advance(2)

    await drive(Runtime(container, http=False), lambda: depth_is(container, "work-dlq", 1), between=later)

    (dead,) = (await container.queues["work-dlq"].list()).messages
    assert dead.receive_count == WORK.max_receives
    assert dead.reason == "ValueError: cannot parse the reference"
    assert dead.source_queue == "work"
    assert await depth_is(container, "work", 0)
    container.close()


async def test_give_up_sends_the_message_to_the_dlq_at_once(tmp_path: Path, clock: FrozenClock) -> None:
    async def permanent(body: bytes) -> None:
        raise GiveUp("the purchase token is not valid")

    container = open_container(tmp_path, topology_with(permanent), clock)
    await container.queues["work"].send(b"x")
    await drive(Runtime(container, http=False), lambda: depth_is(container, "work-dlq", 1))

    (dead,) = (await container.queues["work-dlq"].list()).messages
    assert (dead.receive_count, dead.reason) == (1, "GiveUp: the purchase token is not valid")
    container.close()


async def test_ignore_acknowledges_the_message_without_a_dead_letter(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async def harmless(body: bytes) -> None:
        raise Ignore("test notification")

    container = open_container(tmp_path, topology_with(harmless), clock)
    await container.queues["work"].send(b"x")
    await drive(Runtime(container, http=False), lambda: depth_is(container, "work", 0))

    assert await depth_is(container, "work-dlq", 0)
    assert container.metrics.consumer_messages.labels("work:harmless", "ignored")._value.get() == 1
    container.close()


async def test_no_more_messages_are_handled_at_once_than_the_concurrency(
    tmp_path: Path, clock: FrozenClock
) -> None:
    running = 0
    most = 0

    async def slow(body: bytes) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1

    container = open_container(tmp_path, topology_with(slow, concurrency=4, batch_size=10), clock)
    await container.queues["work"].send_batch([str(i).encode() for i in range(40)])
    await drive(Runtime(container, http=False), lambda: depth_is(container, "work", 0))

    assert most == 4
    container.close()


async def test_stopping_finishes_the_messages_in_flight(tmp_path: Path, clock: FrozenClock) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def long_running(body: bytes, *, done: Table) -> None:
        started.set()
        await release.wait()
        await done.put({"id": body.decode()})

    container = open_container(tmp_path, topology_with(long_running), clock)
    await container.queues["work"].send(b"in-flight")
    runtime = Runtime(container, http=False)
    task = asyncio.create_task(runtime.run())
    await asyncio.wait_for(started.wait(), 5)
    runtime.request_stop()
    await asyncio.sleep(0.05)
    assert not task.done()  # still waiting for the handler
    release.set()
    await asyncio.wait_for(task, 5)

    assert await container.tables["done"].get({"id": "in-flight"}) is not None
    assert await depth_is(container, "work", 0)
    container.close()
