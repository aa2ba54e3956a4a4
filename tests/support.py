"""Helpers shared by the integration and end-to-end tests: a container on a temporary database
with a topology of the test's own, and a way to drive the runtime until a condition holds
(polling the state, never sleeping a fixed time for work to happen)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx

from supporterflow.adapters.outbound import Reply, Transport, Unreachable
from supporterflow.bootstrap import Container, bootstrap
from supporterflow.config import Settings
from supporterflow.declare import Topology
from supporterflow.domain.supporters import mocks
from supporterflow.entrypoints.http import create_app
from supporterflow.ports import Clock
from supporterflow.runtime.process import Runtime


def fast_retries(topology: Topology) -> Topology:
    """``topology`` with back-off in milliseconds (consumers and stream subscriptions) and no
    schedules: failures are retried at test speed, and no scheduled run (revalidation)
    interferes."""
    return Topology(
        tables=topology.tables,
        queues=topology.queues,
        consumers=tuple(
            dataclasses.replace(c, backoff_base_s=0.01, backoff_max_s=0.05) for c in topology.consumers
        ),
        streams=tuple(
            dataclasses.replace(s, backoff_base_s=0.01, backoff_max_s=0.05) for s in topology.streams
        ),
    )


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database": tmp_path / "supporterflow.sqlite3",
        "object_store_dir": tmp_path / "objects",
        "admin_api_keys": "test-admin-key",
        "shutdown_grace_seconds": 5.0,
        **overrides,
    }
    return Settings(**values)


def open_container(
    tmp_path: Path, topology: Topology, clock: Clock | None = None, **overrides: Any
) -> Container:
    return bootstrap(settings_for(tmp_path, **overrides), clock=clock, topology=topology).open()


async def drive(
    runtime: Runtime,
    until: Callable[[], Awaitable[bool]],
    *,
    timeout_s: float = 10.0,
    between: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run ``runtime`` (no HTTP) until ``until()`` holds, then stop it gracefully.

    ``between`` runs on each check (e.g. to move a frozen clock); after it every worker,
    dispatcher and the scheduler are nudged to look again at once."""
    task = asyncio.create_task(runtime.run())
    deadline = time.monotonic() + timeout_s
    try:
        while not await until():
            if task.done():
                task.result()
                raise AssertionError("the runtime stopped before the condition held")
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not reached within {timeout_s} s")
            if between is not None:
                await between()
                for part in [*runtime.workers, *runtime.dispatchers, runtime.scheduler]:
                    if part is not None:
                        part.nudge()
            await asyncio.sleep(0.01)
    finally:
        runtime.request_stop()
        await asyncio.wait_for(task, timeout=timeout_s)


def unlinked(action_type: str, **data: Any) -> dict[str, Any]:
    """The spec's DEFAULT mock of an ERP action with no ``supporter_uuid`` (the service must
    complete it), and ``data`` changed as given."""
    action = mocks.action(action_type)
    action["data"].update({"supporter_uuid": None, **data})
    return action


class Flaky:
    """A transport that fails its first ``failures`` calls as a timeout would, then delegates."""

    def __init__(self, inner: Transport, failures: int) -> None:
        self._inner = inner
        self.failures = failures
        self.calls = 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        self.calls += 1
        if self.calls <= self.failures:
            raise Unreachable("timed out")
        return await self._inner.request(method, path, json=json, content=content, headers=headers)

    async def aclose(self) -> None:
        await self._inner.aclose()


def outbox_rows(container: Container, queue: str) -> list[dict[str, Any]]:
    """The aws profile's outbox rows (raw DynamoDB items) of the messages written with a row to
    ``queue`` and not relayed yet: matched on the queue's exact URL."""
    import boto3  # type: ignore[import-untyped]

    from supporterflow.bootstrap.aws import queue_urls
    from supporterflow.declare import physical_name

    settings = container.settings
    dynamodb = boto3.client(
        "dynamodb", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url
    )
    url = queue_urls(settings, container.topology.all_queues())[queue]
    table = physical_name("outbox", None, settings.app, settings.stage)
    items: list[dict[str, Any]] = dynamodb.scan(TableName=table)["Items"]
    return [item for item in items if item["queueUrl"]["S"] == url]


class ProfileRuntime(Protocol):
    """How a scenario suite runs the service on either profile: the work (``run_until``) and the
    HTTP app (``transport``). ``quiet``: nothing is on its way to a queue that the queue's depth
    does not show yet (on aws, the outbox relay found nothing at its last look)."""

    @property
    def quiet(self) -> bool: ...

    async def run_until(
        self,
        condition: Callable[[], Awaitable[bool]],
        *,
        timeout_s: float = ...,
        between: Callable[[], Awaitable[None]] | None = None,
    ) -> None: ...

    def transport(self) -> httpx.AsyncBaseTransport: ...

    async def aclose(self) -> None: ...


class ProcessRuntime:
    """The runtime of ``supporterflow serve`` (either profile): its workers, dispatchers and
    scheduler in this process for each run (no HTTP), the app called in process."""

    quiet = True  # a message is in its queue from the commit that sent it

    def __init__(self, container: Container) -> None:
        self.container = container

    async def run_until(
        self,
        condition: Callable[[], Awaitable[bool]],
        *,
        timeout_s: float = 10.0,
        between: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        await drive(Runtime(self.container, http=False), condition, timeout_s=timeout_s, between=between)

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=create_app(self.container))

    async def aclose(self) -> None:
        return None


def runtime_for(container: Container, *, serve: bool = False) -> ProfileRuntime:
    """The runtime of the container's profile: the process runtime locally; on AWS the Lambda
    handlers (fed as the event source mappings would feed them, ``tests/aws/lambda_runtime.py``),
    or with ``serve`` the process runtime of ``serve --profile aws``."""
    if container.settings.profile == "aws" and not serve:
        from tests.aws.lambda_runtime import LambdaRuntime

        return LambdaRuntime(container)
    return ProcessRuntime(container)
