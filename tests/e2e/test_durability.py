"""Nothing acknowledged is lost: a server killed with SIGKILL while draining, or stopped with
SIGTERM, leaves every message either handled or still queued."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ServerFactory, wait_until
from tests.e2e.work_topology import FAST, SLOW
from tests.support import open_container

pytestmark = pytest.mark.slow


def enqueue(tmp_path: Path, topology_name: str, count: int) -> set[str]:
    topology = {"FAST": FAST, "SLOW": SLOW}[topology_name]
    ids = [f"m{i:05d}" for i in range(count)]

    async def fill() -> None:
        container = open_container(tmp_path, topology)
        await container.queues["work"].send_batch([i.encode() for i in ids])
        container.close()

    asyncio.run(fill())
    return set(ids)


def test_a_server_killed_while_draining_loses_no_message(
    tmp_path: Path, server_factory: ServerFactory
) -> None:
    ids = enqueue(tmp_path, "FAST", 10_000)
    first = server_factory("tests.e2e.work_topology:FAST")
    first.start()
    wait_until(lambda: first.count("SELECT COUNT(*) FROM t_processed") >= 1_000, 60, "draining to start")
    assert first.process is not None
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    handled_before_crash = first.count("SELECT COUNT(*) FROM t_processed")
    assert handled_before_crash < len(ids), "the crash came too late to test anything"

    second = server_factory("tests.e2e.work_topology:FAST")
    second.start()
    wait_until(
        lambda: second.count("SELECT COUNT(*) FROM queue_messages WHERE queue = 'work'") == 0,
        120,
        "the queue to drain after the restart",
    )

    assert second.processed_ids() == ids
    assert second.count("SELECT COUNT(*) FROM queue_messages WHERE queue = 'work-dlq'") == 0


def test_sigterm_while_draining_exits_0_and_deletes_nothing_unhandled(
    tmp_path: Path, server_factory: ServerFactory
) -> None:
    ids = enqueue(tmp_path, "SLOW", 2_000)
    server = server_factory("tests.e2e.work_topology:SLOW")
    server.start()
    wait_until(lambda: server.count("SELECT COUNT(*) FROM t_processed") >= 100, 60, "draining to start")
    assert server.process is not None
    stopped_at = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    exit_code = server.process.wait(timeout=10)  # the queue's visibility timeout
    seconds = time.monotonic() - stopped_at

    assert exit_code == 0, server.log()[-2000:]
    assert seconds < 10
    still_queued = server.queued_ids("work")
    handled = server.processed_ids()
    assert still_queued, "the stop came too late to test anything"
    assert ids - still_queued <= handled  # deleted implies handled
    assert handled | still_queued == ids
