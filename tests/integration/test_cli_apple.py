"""``supporterflow apple revalidate`` on a real database with the service's topology."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from supporterflow.bootstrap import Container
from supporterflow.entrypoints.cli import app
from supporterflow.topology import TOPOLOGY
from tests.support import open_container

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SF_DATABASE", str(tmp_path / "supporterflow.sqlite3"))
    monkeypatch.setenv("SF_OBJECT_STORE_DIR", str(tmp_path / "objects"))
    monkeypatch.delenv("SF_TOPOLOGY", raising=False)
    return tmp_path


def with_container(tmp_path: Path, work: Callable[[Container], Awaitable[None]]) -> None:
    async def run() -> None:
        container = open_container(tmp_path, TOPOLOGY)
        try:
            await work(container)
        finally:
            container.close()

    asyncio.run(run())


async def two_subscriptions(container: Container) -> None:
    await container.tables["subscriptions"].batch_write(
        puts=[
            {
                "subscriptionId": "67890",
                "endTimestamp": "2026-01-15T08:00:00.000Z",
                "autoRenewing": True,
                "platform": "ios",
                "receipt": "LIVE-RECEIPT",
            },
            {
                "subscriptionId": "12345",
                "endTimestamp": "2026-03-15T08:00:00.000Z",
                "autoRenewing": True,
                "platform": "ios-feast",
                "receipt": "FEAST-RECEIPT",
            },
        ]
    )


def summary_rows(output: str) -> dict[str, str]:
    rows = [line.strip("│ ").split("│") for line in output.splitlines() if line.startswith("│")]
    return {label.strip(): value.strip() for label, value in rows}


def test_revalidate_queues_the_subscriptions_of_the_window_and_prints_a_summary(environment: Path) -> None:
    with_container(environment, two_subscriptions)

    result = runner.invoke(
        app,
        ["apple", "revalidate", "--start", "2026-01-01T00:00:00Z", "--end", "2026-02-01T00:00:00"],
        env=WIDE,
    )

    assert result.exit_code == 0, result.output
    assert summary_rows(result.stdout) == {
        "rows scanned": "2",
        "queued live": "1",
        "queued feast": "0",
        "skipped": "0",
        # Without a zone, --end is UTC.
        "window": "2026-01-01T00:00:00.000Z .. 2026-02-01T00:00:00.000Z",
    }
    assert "LIVE-RECEIPT" not in result.output

    async def check(container: Container) -> None:
        (message,) = (await container.queues["apple-subscriptions-to-fetch"].list()).messages
        assert message.body == b'{"receipt":"LIVE-RECEIPT"}'
        assert (await container.queues["feast-apple-subscriptions-to-fetch"].depth()).total == 0

    with_container(environment, check)


def test_revalidate_converts_other_zones_to_utc(environment: Path) -> None:
    result = runner.invoke(
        app,
        ["apple", "revalidate", "--start", "2026-01-01T01:00:00.250+01:00", "--end", "2026-01-02"],
        env=WIDE,
    )

    assert result.exit_code == 0, result.output
    assert summary_rows(result.stdout)["window"] == "2026-01-01T00:00:00.250Z .. 2026-01-02T00:00:00.000Z"


def test_revalidate_refuses_a_start_that_is_not_iso(environment: Path) -> None:
    result = runner.invoke(app, ["apple", "revalidate", "--start", "23/11/2026"], env=WIDE)

    assert result.exit_code == 2
    assert "Invalid value for '--start'" in result.output
    assert "is not an ISO 8601 date and time" in result.output


def test_revalidate_refuses_an_empty_window(environment: Path) -> None:
    result = runner.invoke(
        app,
        ["apple", "revalidate", "--start", "2026-02-01T00:00:00Z", "--end", "2026-01-01T00:00:00Z"],
        env=WIDE,
    )

    assert result.exit_code == 2
    assert "--start must be before --end" in result.output
