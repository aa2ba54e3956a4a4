"""``supporterflow export``: the datalake exports on demand (the schedule runs them daily)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from supporterflow.bootstrap import Container
from supporterflow.config import ConfigurationError
from supporterflow.domain.exports.layout import Format, export_date
from supporterflow.entrypoints.cli_common import err, out, run
from supporterflow.functions.export_historical import (
    DrainBusy,
    export_apple_historical,
    export_google_historical,
)
from supporterflow.functions.export_subscription_events import export_subscription_events
from supporterflow.functions.export_tables import export_subscriptions, export_user_subscriptions
from supporterflow.functions.exporting import ExportSummary
from supporterflow.logs import configure_logging
from supporterflow.ports import Retry

export_app = typer.Typer(
    no_args_is_help=True,
    help="Datalake exports: events by date, whole tables, historical snapshots (NDJSON.gz, Parquet).",
)


class FormatChoice(StrEnum):
    ndjson = "ndjson"
    parquet = "parquet"


class Store(StrEnum):
    apple = "apple"
    google = "google"


def _checked_date(value: str | None) -> str | None:
    if value is not None:
        try:
            export_date(value, datetime.now(UTC))
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
    return value


DateOption = Annotated[
    str | None,
    typer.Option(
        callback=_checked_date, metavar="YYYY-MM-DD", help="date to export (default: yesterday, UTC)"
    ),
]
OutOption = Annotated[
    str | None,
    typer.Option(
        "--out",
        metavar="DIR|s3://BUCKET/PREFIX",
        help="where to write (default: SF_EXPORT_OUT, ./var/export)",
    ),
]
FormatOption = Annotated[
    list[FormatChoice] | None,
    typer.Option("--format", help="ndjson and/or parquet (repeat the option; default: SF_EXPORT_FORMATS)"),
]

Flow = Callable[..., Awaitable[ExportSummary]]


def _export(
    flow: Flow, description: str, *, out_url: str | None, formats: list[FormatChoice] | None, **arguments: Any
) -> None:
    chosen: list[Format] | None = [f.value for f in formats] if formats else None

    async def work(container: Container) -> ExportSummary:
        configure_logging(container.settings.log_level, container.settings.log_format)
        export = container.inject(flow)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed:,.0f} rows"),
            TimeElapsedColumn(),
            console=err,
        ) as progress:
            task = progress.add_task(description, total=None)
            summary: ExportSummary = await export(
                formats=chosen, progress=lambda rows: progress.advance(task, rows), **arguments
            )
        return summary

    # --out sends every dataset there, whatever SF_EXPORT_DESTINATIONS says.
    overrides: dict[str, Any] = {"export_out": out_url, "export_destinations": {}} if out_url else {}
    try:
        summary = run(work, **overrides)
    except typer.Exit:
        raise  # click's Exit is a RuntimeError: said already, keep its status
    except DrainBusy as error:
        err.print(f"[red]not started:[/red] {error}")
        raise typer.Exit(1) from None
    except ConfigurationError as error:
        err.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(2) from None
    except (Retry, OSError, RuntimeError) as error:
        # Files are committed whole or not at all: a failed export left nothing half-written.
        err.print(f"[red]export failed, nothing written:[/red] {error}")
        raise typer.Exit(1) from None
    out.print(summary_table(summary))


def summary_table(summary: ExportSummary) -> Table:
    table = Table(show_header=False, title=f"export {summary.dataset} {summary.date}")
    table.add_column()
    table.add_column(overflow="fold")  # keys are long: wrapped, never cut
    table.add_row("rows", f"{summary.rows:,}")
    if summary.received is not None:
        table.add_row("messages received", f"{summary.received:,}")
        table.add_row("left for a later date", f"{summary.left:,}")
    for written in summary.files:
        table.add_row(written.format, f"{written.key} ({written.bytes:,} bytes)")
    rate = summary.rows / summary.seconds if summary.seconds else 0.0
    table.add_row("seconds", f"{summary.seconds:.2f} ({rate:,.0f} rows/s)")
    if summary.mismatches:
        table.add_row("values nulled in Parquet", f"{summary.mismatches:,} (wrong type for their column)")
    return table


@export_app.command("events")
def events(date: DateOption = None, out: OutOption = None, format: FormatOption = None) -> None:
    """One day of subscription events (the date-timestamp-index-v2 partition)."""
    _export(export_subscription_events, "subscription events", out_url=out, formats=format, date=date)


@export_app.command("subscriptions")
def subscriptions(date: DateOption = None, out: OutOption = None, format: FormatOption = None) -> None:
    """The whole subscriptions table, from one snapshot, filed under the date."""
    _export(export_subscriptions, "subscriptions", out_url=out, formats=format, date=date)


@export_app.command("user-subscriptions")
def user_subscriptions(date: DateOption = None, out: OutOption = None, format: FormatOption = None) -> None:
    """The whole user-subscriptions table (the links), from one snapshot, filed under the date."""
    _export(export_user_subscriptions, "user subscriptions", out_url=out, formats=format, date=date)


@export_app.command("historical")
def historical(
    store: Annotated[Store, typer.Argument(help="apple or google")],
    date: DateOption = None,
    max_messages: Annotated[
        int | None, typer.Option("--max", min=1, help="receive at most this many messages")
    ] = None,
    out: OutOption = None,
    format: FormatOption = None,
) -> None:
    """Drain the historical snapshot queue: snapshots dated on or before the date are written, then
    deleted; later ones stay for a later run."""
    flow = export_apple_historical if store is Store.apple else export_google_historical
    _export(
        flow,
        f"{store.value} historical snapshots",
        out_url=out,
        formats=format,
        date=date,
        max_messages=max_messages,
    )
