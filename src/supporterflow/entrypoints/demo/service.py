"""The service the demo drives: the local profile (SQLite, in-process emulators) in this process,
on a loopback port, with two deliberate differences from ``supporterflow serve``.

1. Supporter-event delivery gives up sooner: 3 receives with 0.2-1 s back-off instead of 10 with
   2 s to 5 min, so the ERPNext outage of the story is dead-lettered in seconds, not minutes
   (``DEMO_TOPOLOGY``). Everything else is the service's own topology.
2. The demo owns the user-service and ERPNext emulators the service delivers to (the local
   profile's are built inside the composition root and not reachable from outside): it hands
   the service clients of its own instances, so that it can read what they stored and inject an
   outage through their ``/__emulator/faults`` control API.

The service runs in the demo's own event loop (uvicorn, workers, stream dispatchers, schedules:
``Runtime``), so one Ctrl-C stops both; the story still talks to it over real HTTP.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from supporterflow.adapters.erpnext import ErpNextClient
from supporterflow.adapters.outbound import AsgiTransport
from supporterflow.adapters.user_service import HttpUserService
from supporterflow.bootstrap import Container, bootstrap
from supporterflow.config import Settings, load_settings
from supporterflow.declare import Consumer, QueueDef, Topology
from supporterflow.emulators.erpnext import create_erpnext_app
from supporterflow.emulators.user_service import create_user_service_app
from supporterflow.entrypoints.http import create_app
from supporterflow.logs import configure_logging
from supporterflow.runtime.process import Runtime
from supporterflow.topology import SUPPORTER_EVENTS_TO_DELIVER
from supporterflow.topology import TOPOLOGY as SERVICE_TOPOLOGY

TO_DELIVER = SUPPORTER_EVENTS_TO_DELIVER.name
DEMO_MAX_RECEIVES = 3
DEMO_BACKOFF_S = (0.2, 1.0)
_START_TIMEOUT_S = 30.0


def demo_topology(topology: Topology = SERVICE_TOPOLOGY) -> Topology:
    """The service's topology with supporter-event delivery dead-lettering after
    ``DEMO_MAX_RECEIVES`` receives and short back-off (the queue's one-second minimum visibility
    change makes each retry about a second)."""

    def queue(q: QueueDef) -> QueueDef:
        return dataclasses.replace(q, max_receives=DEMO_MAX_RECEIVES) if q.name == TO_DELIVER else q

    def consumer(c: Consumer) -> Consumer:
        if c.queue != TO_DELIVER:
            return c
        return dataclasses.replace(c, backoff_base_s=DEMO_BACKOFF_S[0], backoff_max_s=DEMO_BACKOFF_S[1])

    return dataclasses.replace(
        topology,
        queues=tuple(queue(q) for q in topology.queues),
        consumers=tuple(consumer(c) for c in topology.consumers),
    )


def demo_settings(data_dir: Path, port: int, log_level: str = "error") -> Settings:
    """The local profile with everything under ``data_dir``; other ``SF_`` variables (admin and
    producer keys, for instance) still apply. Logs are in the console format, errors only unless
    asked, so that they do not drown the story."""
    return load_settings(
        profile="local",
        emulators="on",
        host="127.0.0.1",
        port=port,
        database=data_dir / "supporterflow.sqlite3",
        object_store_dir=data_dir / "objects",
        export_out=str(data_dir / "export"),
        log_level=log_level,
        log_format="console",
    )


def port_is_free(host: str, port: int) -> bool:
    """Checked before starting: uvicorn exits the whole process when it cannot bind. Bound as
    uvicorn binds (``SO_REUSEADDR``), so a port a moment ago closed still counts as free."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class DemoService:
    """The running service, what the story needs to talk to it, and the downstream emulators."""

    settings: Settings
    container: Container
    runtime: Runtime
    api: httpx.AsyncClient  # the service, over loopback HTTP
    users: httpx.AsyncClient  # the user-service emulator (in-process ASGI)
    erpnext: httpx.AsyncClient  # the ERPNext emulator (in-process ASGI)
    admin_key: str
    producer_key: str

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def admin_headers(self) -> dict[str, str]:
        return {"x-api-key": self.admin_key}

    def producer_headers(self) -> dict[str, str]:
        return {"x-api-key": self.producer_key, "content-type": "application/json"}

    async def emulator_state(self, emulator: httpx.AsyncClient) -> dict[str, Any]:
        response = await emulator.get("/__emulator/state")
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state


def _own_downstream(container: Container) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    """Give the service clients of emulators the demo can see into; returns the demo's own
    clients of the same two apps."""
    user_key, erp_key, erp_secret = (secrets.token_urlsafe(16), secrets.token_hex(8), secrets.token_hex(8))
    users_app = create_user_service_app(user_key)
    erpnext_app = create_erpnext_app(erp_key, erp_secret)
    users_transport = AsgiTransport(users_app, "user-service")
    erp_transport = AsgiTransport(erpnext_app, "erpnext")
    container.transports += [users_transport, erp_transport]
    container.collaborators["user_service"] = HttpUserService(users_transport, user_key, container.metrics)
    container.collaborators["erp"] = ErpNextClient(erp_transport, erp_key, erp_secret, container.metrics)
    users = httpx.AsyncClient(transport=httpx.ASGITransport(app=users_app), base_url="http://users.demo")
    erpnext = httpx.AsyncClient(transport=httpx.ASGITransport(app=erpnext_app), base_url="http://erp.demo")
    return users, erpnext


async def _wait_for_health(api: httpx.AsyncClient, runner: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if runner.done():
            runner.result()  # raises what stopped it
            raise RuntimeError("the service stopped while starting")
        try:
            if (await api.get("/healthcheck")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the service did not answer /healthcheck within {_START_TIMEOUT_S:.0f} s")


@asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[DemoService]:
    """Start the service, yield once it answers ``/healthcheck``, stop it cleanly on exit
    (in-flight work finished, database committed and closed)."""
    configure_logging(settings.log_level, settings.log_format)
    container = bootstrap(settings, topology=demo_topology()).open()
    users, erpnext = _own_downstream(container)
    runtime = Runtime(container, http=True, background=True)
    runner = asyncio.create_task(runtime.run(create_app(container)), name="demo-service")
    api = httpx.AsyncClient(base_url=f"http://{settings.host}:{settings.port}", timeout=10.0)
    try:
        await _wait_for_health(api, runner)
        yield DemoService(
            settings=settings,
            container=container,
            runtime=runtime,
            api=api,
            users=users,
            erpnext=erpnext,
            admin_key=container.admin_keys[0],
            producer_key=next(iter(container.producer_keys)),
        )
    finally:
        runtime.request_stop()
        try:
            await runner
        finally:
            for client in (api, users, erpnext):
                await client.aclose()
            await container.aclose()
