"""How the demo shows its story: a title per step, what was sent, what the service answered or
stored, a summary table at the end.

Nothing secret or personal is printed in clear: receipts, purchase tokens, identity contents and
emails appear as the same short fingerprint the logs use (``logs.fingerprint``), so two values
can still be told apart. A spinner shows while a wait is in progress, but only on a terminal:
piped or captured output gets plain lines.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from supporterflow.logs import fingerprint

T = TypeVar("T")

POLL_INTERVAL_S = 0.1
DEFAULT_WAIT_S = 30.0


class StepFailed(Exception):
    """A step could not show what it set out to show; the message says what was missing."""


def hidden(value: Any) -> str:
    """A secret or personal value as its fingerprint (``<redacted 1a2b3c4d5e>``)."""
    return fingerprint(value)


@dataclass
class StepResult:
    number: int
    title: str
    ok: bool
    seconds: float
    checked: list[str] = field(default_factory=list)
    error: str | None = None


class Reporter:
    """Prints a step's progress and keeps what it checked for the summary."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.results: list[StepResult] = []
        self._checked: list[str] = []

    # lines -------------------------------------------------------------------------------------

    def sent(self, what: str) -> None:
        self.console.print(f"  [cyan]→[/cyan] {escape(what)}")

    def answered(self, what: str) -> None:
        self.console.print(f"  [magenta]←[/magenta] {escape(what)}")

    def note(self, what: str) -> None:
        self.console.print(f"  [dim]·[/dim] {escape(what)}")

    def checked(self, what: str) -> None:
        """Something the service did that the step verified; listed again in the summary."""
        self._checked.append(what)
        self.console.print(f"  [green]✓[/green] {escape(what)}")

    # waiting -----------------------------------------------------------------------------------

    async def wait_for(
        self,
        what: str,
        probe: Callable[[], Awaitable[T | None]],
        *,
        timeout_s: float = DEFAULT_WAIT_S,
    ) -> T:
        """Poll ``probe`` until it returns something other than None (the service's state, read
        over HTTP or from its database); ``StepFailed`` after ``timeout_s``. Never a fixed sleep
        standing in for work being done."""
        deadline = time.monotonic() + timeout_s
        spinner = self.console.status(f"waiting until {what}") if self.console.is_terminal else nullcontext()
        with spinner:
            while True:
                found = await probe()
                if found is not None:
                    return found
                if time.monotonic() > deadline:
                    raise StepFailed(f"timed out after {timeout_s:.0f} s waiting until {what}")
                await asyncio.sleep(POLL_INTERVAL_S)

    # steps -------------------------------------------------------------------------------------

    @asynccontextmanager
    async def step(self, number: int, title: str) -> AsyncIterator[None]:
        """Time one step and record its outcome; a failure is reported, not raised, so the
        story goes on with the next step (each step stands on its own)."""
        self.console.print()
        self.console.rule(f"[bold]{number}. {escape(title)}[/bold]", align="left")
        self._checked = []
        started = time.monotonic()
        error: str | None = None
        try:
            yield
        except (StepFailed, AssertionError) as failure:
            error = str(failure)
        except Exception as failure:  # any failure fails the step, with its reason
            error = f"{type(failure).__name__}: {failure}"
        seconds = time.monotonic() - started
        self.results.append(StepResult(number, title, error is None, seconds, self._checked, error))
        if error is None:
            self.console.print(f"  [bold green]step {number} done[/bold green] in {seconds:.1f} s")
        else:
            self.console.print(f"  [bold red]step {number} failed[/bold red]: {escape(error)}")

    def summary(self) -> Table:
        table = Table(title="supporterflow demo", show_lines=True)
        table.add_column("step", max_width=28)
        table.add_column("result", justify="center")
        table.add_column("seconds", justify="right")
        table.add_column("what was checked", overflow="fold")
        for r in self.results:
            lines = [escape(line) for line in r.checked]
            checked = "\n".join(lines if r.ok else [*lines, f"[red]{escape(r.error or '')}[/red]"])
            table.add_row(
                f"{r.number}. {escape(r.title)}",
                "[green]✓[/green]" if r.ok else "[red]✗[/red]",
                f"{r.seconds:.1f}",
                checked,
            )
        return table

    @property
    def failed(self) -> list[StepResult]:
        return [r for r in self.results if not r.ok]
