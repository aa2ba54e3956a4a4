"""What the ``supporterflow`` sub-commands share: consoles, settings, an opened container."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from supporterflow.bootstrap import Container, bootstrap
from supporterflow.config import ConfigurationError, Settings, load_settings

T = TypeVar("T")

out = Console()
err = Console(stderr=True)


def settings_or_exit(**overrides: Any) -> Settings:
    """The settings with the given overrides (None ones ignored); a configuration error exits 2."""
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigurationError as error:
        err.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(2) from None


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Container]:
    try:
        container = bootstrap(settings)
    except ConfigurationError as error:
        err.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(2) from None
    container.open()
    try:
        yield container
    finally:
        container.close()


def run(work: Callable[[Container], Awaitable[T]], **overrides: Any) -> T:
    async def main() -> T:
        async with opened(settings_or_exit(**overrides)) as container:
            return await work(container)

    return asyncio.run(main())


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    )
