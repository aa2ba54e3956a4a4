"""The ``supporterflow`` command: run the service, and look after its queues."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from supporterflow import __version__
from supporterflow.adapters.clock import SystemClock
from supporterflow.bootstrap import (
    LOCAL_PUSH_AUDIENCE,
    Container,
    apple_emulator_directory,
    google_emulator_directory,
    identity_key,
)
from supporterflow.bootstrap.downstream import oidc_emulator_directory
from supporterflow.config import Settings, reference_table
from supporterflow.domain.supporters.identity_hash import complete_identity_hashes
from supporterflow.domain.supporters.models import PRODUCER_REQUEST
from supporterflow.domain.supporters.schema import validate
from supporterflow.emulators.apple import cli as apple_emulator_cli
from supporterflow.emulators.cli import emulate_app
from supporterflow.emulators.google import cli as google_emulator_cli
from supporterflow.entrypoints.cli_common import err, out
from supporterflow.entrypoints.cli_common import opened as _opened
from supporterflow.entrypoints.cli_common import progress_bar as _progress
from supporterflow.entrypoints.cli_common import run as _run
from supporterflow.entrypoints.cli_common import settings_or_exit as _settings
from supporterflow.entrypoints.demo import demo_command
from supporterflow.entrypoints.deploy_cli import deploy_app
from supporterflow.entrypoints.export_cli import export_app
from supporterflow.entrypoints.http.gdpr import erase
from supporterflow.entrypoints.http.supporter_events import public_state
from supporterflow.entrypoints.identity_cli import identity_app
from supporterflow.functions.apple_revalidate import RevalidationSummary, apple_revalidate
from supporterflow.functions.gdpr_erase import ErasureSummary
from supporterflow.functions.supporter_produce import validation_answer, validation_context
from supporterflow.logs import configure_logging, redacted_json
from supporterflow.ports import Queue

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
dlq_app = typer.Typer(no_args_is_help=True, help="List, replay and purge dead-letter queues.")
events_app = typer.Typer(no_args_is_help=True, help="Supporter events: check payloads, follow deliveries.")
config_app = typer.Typer(no_args_is_help=True, help="Inspect the configuration.")
app.add_typer(dlq_app, name="dlq")
app.add_typer(config_app, name="config")
app.add_typer(events_app, name="events")
app.add_typer(emulate_app, name="emulate")
apple_app = typer.Typer(no_args_is_help=True, help="App Store tools.")
app.add_typer(apple_app, name="apple")
google_app = typer.Typer(no_args_is_help=True, help="Google Play tools.")
app.add_typer(google_app, name="google")
gdpr_app = typer.Typer(no_args_is_help=True, help="GDPR: erase a mobile user.")
app.add_typer(gdpr_app, name="gdpr")
app.add_typer(export_app, name="export")
app.add_typer(identity_app, name="identity-hash")
app.add_typer(deploy_app, name="deploy")

_REPLAY_CHUNK = 100


# running ---------------------------------------------------------------------------------------

ProfileOption = Annotated[str | None, typer.Option(help="local or aws (SF_PROFILE)")]


def _serve(settings: Settings, *, http: bool) -> None:
    from supporterflow.entrypoints.http import create_app
    from supporterflow.runtime.process import Runtime

    configure_logging(settings.log_level, settings.log_format)

    async def main() -> None:
        async with _opened(settings) as container:
            runtime = Runtime(container, http=http, background=http)
            runtime.install_signal_handlers()
            # What start-up made (modules, the container) lives as long as the process: out of the
            # collector's sight, full collections stay short (the dashboard's timeline p99 went
            # from 59 to 24 ms, benchmarks/README.md).
            gc.collect()
            gc.freeze()
            if http:
                base = f"http://{settings.host}:{settings.port}"
                err.print(
                    f"[bold]supporterflow {__version__}[/bold] on {base}  "
                    f"(API description {base}/docs, metrics {base}/metrics; Ctrl-C stops)"
                )
                err.print(f"operator dashboard: {base}/admin (sign in with an admin key)")
                if container.generated_producer_key:
                    err.print(
                        f"producer API key for POST /supporter-events (set SF_PRODUCER_API_KEYS to "
                        f"choose): [bold]{container.generated_producer_key}[/bold]"
                    )
                if container.generated_admin_key:
                    err.print(
                        f"admin API key for this run (set SF_ADMIN_API_KEYS to choose one): "
                        f"[bold]{container.generated_admin_key}[/bold]"
                    )
                if settings.emulators == "on":
                    err.print(
                        f"App Store emulator in {apple_emulator_directory(settings)}: try "
                        "[bold]supporterflow apple send-test-notification --type SUBSCRIBED[/bold]"
                    )
                    err.print(
                        f"Google Play emulator in {google_emulator_directory(settings)}: try "
                        "[bold]supporterflow google send-test-notification --type purchase[/bold]"
                    )
                    err.print(
                        "user access tokens for the link endpoints: [bold]supporterflow emulate "
                        f"oidc-token --cert-dir {oidc_emulator_directory(settings)} --user-id ID[/bold]"
                    )
            await runtime.run(create_app(container) if http else None)

    with asyncio.Runner(loop_factory=_fast_loop()) as runner:
        runner.run(main())


def _fast_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (it is with uvicorn[standard]): the runtime creates the loop that
    uvicorn serves on, so uvicorn's own choice of loop does not apply."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (SF_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="bind port (SF_PORT)")] = None,
    profile: ProfileOption = None,
) -> None:
    """Run everything: HTTP API, queue consumers, change-stream dispatch and schedules."""
    _serve(_settings(host=host, port=port, profile=profile), http=True)


# The guided demo: the service with its emulators, driven through a scripted story (entrypoints/demo/).
app.command("demo")(demo_command)


@app.command()
def worker(profile: ProfileOption = None) -> None:
    """Run queue consumers only; start several to share the work of one database."""
    _serve(_settings(profile=profile), http=False)


@app.command()
def version() -> None:
    """Print the version."""
    out.print(__version__)


# queues ----------------------------------------------------------------------------------------


@app.command()
def queues() -> None:
    """Depth of every queue and dead-letter queue."""

    async def work(container: Container) -> Table:
        table = Table("queue", "visible", "in flight", "delayed", "dead letters")
        for summary in await container.queue_summaries():
            dead = summary.dead_letters
            table.add_row(
                summary.name,
                str(summary.depth.visible),
                str(summary.depth.in_flight),
                str(summary.depth.delayed),
                "-" if dead is None else (f"[red]{dead}[/red]" if dead else "0"),
            )
        return table

    out.print(_run(work))


def _dead_letter_queue(container: Container, name: str) -> Queue:
    try:
        return container.dead_letter_queue(name)
    except LookupError as error:
        err.print(f"[red]{error}[/red]; `supporterflow queues` lists the queues")
        raise typer.Exit(2) from None


QueueArgument = Annotated[str, typer.Argument(help="a queue or its dead-letter queue")]


@dlq_app.command("list")
def dlq_list(
    queue: QueueArgument, limit: Annotated[int, typer.Option(help="most messages to show")] = 50
) -> None:
    """Dead letters with their failure reasons."""

    async def work(container: Container) -> Table:
        dlq = _dead_letter_queue(container, queue)
        page = await dlq.list(limit=limit)
        table = Table("id", "from", "receives", "sent at", "reason", "body", title=dlq.name)
        for m in page.messages:
            table.add_row(
                m.message_id,
                m.source_queue or "-",
                str(m.receive_count),
                m.sent_at.isoformat(timespec="seconds"),
                m.reason or "",
                redacted_json(m.body, width=80),
            )
        if page.cursor:
            table.caption = f"first {limit} shown"
        return table

    out.print(_run(work))


@dlq_app.command("replay")
def dlq_replay(
    queue: QueueArgument,
    message_id: Annotated[list[str] | None, typer.Option("--id", help="replay only these messages")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Move dead letters back to the queue they came from."""

    async def work(container: Container) -> int:
        dlq = _dead_letter_queue(container, queue)
        if not message_id:
            depth = (await dlq.depth()).total
            if not depth:
                err.print(f"{dlq.name} is empty")
                return 0
            if not yes and not typer.confirm(f"Replay the {depth} messages of {dlq.name}?"):
                raise typer.Abort()
            return await dlq.replay()
        ids = list(message_id)
        if not yes and not typer.confirm(f"Replay {len(ids)} messages of {dlq.name}?"):
            raise typer.Abort()
        moved = 0
        with _progress() as progress:
            task = progress.add_task(f"replaying {dlq.name}", total=len(ids))
            for start in range(0, len(ids), _REPLAY_CHUNK):
                chunk = ids[start : start + _REPLAY_CHUNK]
                moved += await dlq.replay(message_ids=chunk)
                progress.advance(task, len(chunk))
        return moved

    moved = _run(work)
    out.print(f"{moved} messages replayed")


@dlq_app.command("purge")
def dlq_purge(
    queue: QueueArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Delete every dead letter of a queue (they are gone for good)."""

    async def work(container: Container) -> int:
        dlq = _dead_letter_queue(container, queue)
        count = (await dlq.depth()).total
        if count and not yes and not typer.confirm(f"Delete {count} messages of {dlq.name} for good?"):
            raise typer.Abort()
        return await dlq.purge()

    out.print(f"{_run(work)} messages deleted")


# supporter events ------------------------------------------------------------------------------


@events_app.command("validate")
def events_validate(
    source: Annotated[str, typer.Argument(help="a JSON file, or - for standard input")],
) -> None:
    """Check a ProducerRequest as POST /supporter-events would, without sending anything."""
    text = sys.stdin.read() if source == "-" else _read_file(source)
    try:
        body = json.loads(text)
    except ValueError as error:
        err.print(f"[red]not valid JSON:[/red] {error}")
        raise typer.Exit(2) from None
    settings = _settings()
    clock = SystemClock()
    validation = validate(PRODUCER_REQUEST, body, context=validation_context(clock, partial=True))
    if not validation.valid:
        out.print_json(data=validation_answer(validation.errors).body)
        raise typer.Exit(1)
    request: Any = validation.value
    identities = complete_identity_hashes(request, identity_key(settings))
    out.print_json(data={"data": {"identities": identities}, "message": "success"})


def _read_file(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as error:
        err.print(f"[red]cannot read {path}:[/red] {error.strerror}")
        raise typer.Exit(2) from None


@events_app.command("show")
def events_show(
    event_id: Annotated[str, typer.Argument(help="the id POST /supporter-events answered")],
) -> None:
    """The processing state of one supporter event (never its identities)."""

    async def work(container: Container) -> dict[str, Any] | None:
        return await container.tables["supporter-events"].get({"id": event_id})

    event = _run(work)
    if event is None:
        err.print(f"[red]no supporter event {event_id}[/red]")
        raise typer.Exit(1)
    out.print_json(data=public_state(event))


# App Store ---------------------------------------------------------------------------------------


def _utc_datetime(value: str) -> datetime:
    """An ISO 8601 date and time; without a zone it is UTC, the zone the stored timestamps use."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 date and time, e.g. 2026-11-23T10:00:00Z"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


GUARDIAN_IOS, MONTHLY = "uk.co.guardian.iphone2", "uk.co.guardian.gla.1month"


@apple_app.command("send-test-notification")
def apple_send_test_notification(
    url: Annotated[
        str | None, typer.Option(help="Where to POST (default: this service's /apple/pubsub).")
    ] = None,
    type_: Annotated[
        str,
        typer.Option(
            "--type", help=f"SUBSCRIBED or one of {', '.join(apple_emulator_cli.NOTIFICATION_ACTIONS)}."
        ),
    ] = "SUBSCRIBED",
    original_transaction_id: Annotated[
        str | None, typer.Option(help="An existing emulated subscription (default: a new one).")
    ] = None,
    bundle_id: Annotated[
        str, typer.Option(help="Bundle id of a new subscription.")
    ] = "uk.co.guardian.iphone2",
    product_id: Annotated[
        str, typer.Option(help="Product of a new subscription.")
    ] = "uk.co.guardian.gla.1month",
    feast: Annotated[bool, typer.Option(help="Post to /feast/apple/pubsub (with the default URL).")] = False,
    environment: Annotated[str, typer.Option(help="Sandbox or Production.")] = "Sandbox",
    version: Annotated[str, typer.Option(help="v2 (signedPayload) or v1 (legacy JSON).")] = "v2",
    password: Annotated[str | None, typer.Option(help="Shared secret put in V1 bodies.")] = None,
    state: Annotated[
        Path | None, typer.Option(help="Emulated subscriptions (default: the local service's).")
    ] = None,
    cert_dir: Annotated[
        Path | None, typer.Option(help="Test CA directory (default: the local service's).")
    ] = None,
) -> None:
    """Apply one App Store life-cycle step and post its notification to a running server.

    By default everything is the local service's own: its URL, and the CA and subscriptions of
    its in-process App Store emulator, so the notification verifies and its fetch finds the
    subscription."""
    settings = _settings()
    directory = apple_emulator_directory(settings)
    path = "/feast/apple/pubsub" if feast else "/apple/pubsub"
    apple_emulator_cli.send(
        url=url or f"http://{settings.host}:{settings.port}{path}",
        type_=type_,
        original_transaction_id=original_transaction_id,
        bundle_id=bundle_id,
        product_id=product_id,
        environment=environment,
        version=version,
        password=password,
        state=state or directory / "subscriptions.sqlite3",
        cert_dir=cert_dir or directory,
    )


@google_app.command("send-test-notification")
def google_send_test_notification(
    url: Annotated[
        str | None, typer.Option(help="Where to POST (default: this service's /google/pubsub).")
    ] = None,
    type_: Annotated[
        str, typer.Option("--type", help=f"One of {', '.join(google_emulator_cli.NOTIFICATION_TYPES)}.")
    ] = "purchase",
    purchase_token: Annotated[
        str | None, typer.Option(help="An existing emulated purchase (default: a new one).")
    ] = None,
    package_name: Annotated[str, typer.Option(help="Package of a new purchase.")] = "com.guardian",
    product_id: Annotated[
        str, typer.Option(help="Product of a new purchase.")
    ] = google_emulator_cli.DEFAULT_PRODUCT,
    new_product_id: Annotated[str | None, typer.Option(help="upgrade: the new product.")] = None,
    feast: Annotated[bool, typer.Option(help="Post to /feast/google/pubsub (with the default URL).")] = False,
    state: Annotated[
        Path | None, typer.Option(help="Emulated purchases (default: the local service's).")
    ] = None,
    cert_dir: Annotated[
        Path | None, typer.Option(help="Emulator keys (default: the local service's).")
    ] = None,
) -> None:
    """Apply one Google Play life-cycle step and push its notification to a running server.

    By default everything is the local service's own: its URL and push audience, and the keys and
    purchases of its in-process Play emulator, so the push verifies and its fetch finds the
    purchase."""
    settings = _settings()
    directory = google_emulator_directory(settings)
    path = "/feast/google/pubsub" if feast else "/google/pubsub"
    google_emulator_cli.send(
        url=url or f"http://{settings.host}:{settings.port}{path}",
        type_=type_,
        purchase_token=purchase_token,
        package_name=package_name,
        product_id=product_id,
        new_product_id=new_product_id,
        audience=settings.google_push_audience or LOCAL_PUSH_AUDIENCE,
        secret=None,
        oidc=True,
        state=state or directory / "purchases.sqlite3",
        cert_dir=cert_dir or directory,
    )


@apple_app.command("revalidate")
def apple_revalidate_command(
    start: Annotated[
        datetime | None,
        typer.Option(
            parser=_utc_datetime, metavar="ISO", help="window start, exclusive (default: 60 days ago)"
        ),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option(
            parser=_utc_datetime, metavar="ISO", help="window end, exclusive (default: in 13 hours)"
        ),
    ] = None,
) -> None:
    """Queue a fetch of every auto-renewing Apple subscription whose end is in the window, as the
    6-hourly schedule does."""
    if start is not None and end is not None and start >= end:
        raise typer.BadParameter("--start must be before --end", param_hint="--start")

    async def work(container: Container) -> RevalidationSummary:
        configure_logging(container.settings.log_level, container.settings.log_format)
        revalidate = container.inject(apple_revalidate)
        with _progress() as progress:
            task = progress.add_task("scanning subscriptions", total=None)
            summary: RevalidationSummary = await revalidate(
                start=start, end=end, progress=lambda rows: progress.advance(task, rows)
            )
        return summary

    summary = _run(work)
    table = Table("", "", show_header=False, title="Apple revalidation")
    table.add_row("rows scanned", str(summary.scanned))
    table.add_row("queued live", str(summary.live))
    table.add_row("queued feast", str(summary.feast))
    table.add_row("skipped", str(summary.skipped))
    table.add_row("window", f"{summary.start} .. {summary.end}")
    out.print(table)


# GDPR ------------------------------------------------------------------------------------------


@gdpr_app.command("erase")
def gdpr_erase_command(
    user_id: Annotated[str, typer.Argument(help="the user's identity id")],
) -> None:
    """Delete a user's links (a Cancellation each for the consent setter), remove queued messages
    holding the user id, and record an audit entry without it. Running it again is harmless."""

    async def work(container: Container) -> ErasureSummary:
        return await erase(container, user_id)

    summary = _run(work)
    table = Table("", "", show_header=False, title="GDPR erasure")
    table.add_row("erasure id", summary.erasure_id)
    table.add_row("erased at", summary.erased_at)
    table.add_row("user hash", summary.user_hash)
    table.add_row("links deleted", str(summary.links))
    table.add_row("cancellations sent", str(summary.links))
    table.add_row("messages removed", str(summary.messages))
    for queue, count in sorted(summary.removed.items()):
        table.add_row(f"  {queue}", str(count))
    for queue in summary.not_swept:
        table.add_row(f"  {queue}", "not swept (its store cannot be listed)")
    out.print(table)


# configuration ---------------------------------------------------------------------------------


@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Every setting and its value, secrets masked."""
    values = _settings().masked()
    if as_json:
        out.print_json(data=values)
        return
    table = Table("variable", "value")
    for name, value in values.items():
        table.add_row(name, "" if value is None else str(value))
    out.print(table)


@config_app.command("reference")
def config_reference() -> None:
    """The configuration reference table (Markdown), as docs/configuration.md shows it."""
    typer.echo(reference_table(), nl=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
