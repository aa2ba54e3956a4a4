"""``supporterflow demo``: start the service with its emulators and drive a scripted story through
it over HTTP, step by step, ending with a summary table.

The story (issue 10): an App Store subscription through purchase, renewal, billing retry and
expiry; a Google Play upgrade; a linked user's soft opt-in; a supporter signing up with a gift aid
declaration; an ERPNext outage recovered through the dead-letter queue. Every wait polls the
service's state with a time limit. Exit code 0 only when every step succeeded.

Where the data goes: a fresh temporary directory, removed at the end (``--data-dir`` keeps it).
Fresh, so that every check sees only this run's messages and rows, and a `make run` database
under ``./var`` is never touched, even while that service is running.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from supporterflow import __version__
from supporterflow.config import ConfigurationError, Settings
from supporterflow.entrypoints.demo.mobile import (
    Stores,
    app_store_life_cycle,
    google_upgrade,
    linked_user_soft_opt_in,
)
from supporterflow.entrypoints.demo.report import Reporter
from supporterflow.entrypoints.demo.service import (
    DEMO_BACKOFF_S,
    DEMO_MAX_RECEIVES,
    TO_DELIVER,
    DemoService,
    demo_settings,
    port_is_free,
    running_service,
)
from supporterflow.entrypoints.demo.supporters import erpnext_outage, gift_aid_signup

STEPS = (
    "App Store: purchase, renewal, billing retry, expiry",
    "Google Play: purchase, then upgrade",
    "Linked user receives a soft opt-in",
    "Supporter signs up with a gift aid declaration",
    "ERPNext outage, recovered through the DLQ",
)


def _console() -> Console:
    """Colour and a spinner on a terminal; plain, wide enough lines when piped or captured."""
    console = Console()
    return console if console.is_terminal else Console(width=120, no_color=True)


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def demo_command(
    port: Annotated[int, typer.Option(min=1, max=65535, help="loopback port for the service")] = 8080,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="keep the service up after the story, until Ctrl-C")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="keep the database and emulator state here (an empty or new directory)"),
    ] = None,
    log_level: Annotated[
        LogLevel, typer.Option(help="the service's log lines shown beside the story (errors only by default)")
    ] = LogLevel.error,
) -> None:
    """Start the service with its emulators and walk through a scripted story, step by step."""
    console = _console()
    if data_dir is not None and data_dir.exists() and any(data_dir.iterdir()):
        console.print(
            f"[red]{data_dir} is not empty[/red]: the demo starts from nothing; name a new directory"
        )
        raise typer.Exit(2)
    if not port_is_free("127.0.0.1", port):
        console.print(f"[red]port {port} is in use[/red] (is `make run` running?): try --port {port + 1}")
        raise typer.Exit(2)
    directory = data_dir or Path(tempfile.mkdtemp(prefix="supporterflow-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        settings = demo_settings(directory, port, log_level.value)
    except ConfigurationError as error:
        console.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(2) from None
    try:
        report = asyncio.run(
            _main(directory=directory, settings=settings, console=console, keep=keep_running)
        )
    except ConfigurationError as error:
        console.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(2) from None
    except RuntimeError as error:  # the service did not start, or stopped on its own
        console.print(f"[red]the service failed:[/red] {error}")
        raise typer.Exit(1) from None
    finally:
        if data_dir is None:
            shutil.rmtree(directory, ignore_errors=True)
    if report is None:
        console.print("[yellow]interrupted[/yellow]")
        raise typer.Exit(130)
    failed = report.failed
    if failed:
        console.print(f"[red]failed:[/red] {', '.join(f'step {r.number} ({r.title})' for r in failed)}")
        raise typer.Exit(1)
    console.print("[green]every step succeeded[/green]")


async def _main(*, directory: Path, settings: Settings, console: Console, keep: bool) -> Reporter | None:
    """Run the service and the story; None when interrupted before the story ended."""
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted.set)
    report = Reporter(console)
    started = time.monotonic()
    async with running_service(settings) as service:
        _introduce(service, directory, console)
        story = asyncio.create_task(_story(service, report))
        stop = asyncio.create_task(interrupted.wait())
        await asyncio.wait([story, stop], return_when=asyncio.FIRST_COMPLETED)
        if not story.done():
            story.cancel()
            await asyncio.gather(story, return_exceptions=True)
            return None
        story.result()
        console.print()
        console.print(report.summary())
        console.print(f"total {time.monotonic() - started:.1f} s")
        if keep and not interrupted.is_set():
            console.print(
                f"\nthe service keeps running on {service.base_url} "
                f"(dashboard {service.base_url}/admin); Ctrl-C stops it"
            )
            await stop
        stop.cancel()
        console.print("stopping the service (finishing in-flight work)")
    return report


def _introduce(service: DemoService, directory: Path, console: Console) -> None:
    base = service.base_url
    container = service.container
    console.rule(f"[bold]supporterflow {__version__} demo[/bold]", align="left")
    console.print(f"service        {base}  (local profile, in-process emulators, data in {directory})")
    console.print(f"watch it live  [bold]{base}/admin[/bold]")
    if container.generated_admin_key:
        console.print(
            f"admin key      [bold]{container.generated_admin_key}[/bold]  (sign in to the dashboard with "
            "it; x-api-key for /admin/api; generated for this run, SF_ADMIN_API_KEYS chooses one)"
        )
    else:
        console.print("admin key      one of SF_ADMIN_API_KEYS (sign in to the dashboard with it)")
    if container.generated_producer_key:
        console.print(
            f"producer key   {container.generated_producer_key}  (x-api-key for POST /supporter-events)"
        )
    console.print(
        f"note           supporter-event delivery is dead-lettered after {DEMO_MAX_RECEIVES} receives with "
        f"{DEMO_BACKOFF_S[0]}-{DEMO_BACKOFF_S[1]:.0f} s back-off in this demo (the service's topology: 10 "
        f"receives, 2 s to 5 min), so that the outage of step 5 reaches {TO_DELIVER}-dlq in seconds"
    )


async def _story(service: DemoService, report: Reporter) -> None:
    stores = Stores(service)
    steps: list[Callable[[], Awaitable[None]]] = [
        lambda: app_store_life_cycle(stores, report),
        lambda: google_upgrade(stores, report),
        lambda: linked_user_soft_opt_in(stores, report),
        lambda: gift_aid_signup(service, report),
        lambda: erpnext_outage(service, report),
    ]
    try:
        for number, (title, run) in enumerate(zip(STEPS, steps, strict=True), start=1):
            async with report.step(number, title):
                await run()
    finally:
        stores.close()
