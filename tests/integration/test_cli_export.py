"""``supporterflow export`` on a real database: files, the summary, and clear refusals."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from supporterflow.entrypoints.cli import app
from supporterflow.topology import TOPOLOGY
from tests.integration.test_exports import DAY, google_event, on_day, snapshot
from tests.support import open_container

runner = CliRunner()


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SF_DATABASE", str(tmp_path / "supporterflow.sqlite3"))
    monkeypatch.setenv("SF_OBJECT_STORE_DIR", str(tmp_path / "objects"))
    monkeypatch.setenv("SF_EXPORT_OUT", str(tmp_path / "default-export"))

    async def seed() -> None:
        container = open_container(tmp_path, TOPOLOGY)
        try:
            await container.tables["subscription-events"].batch_write(
                [google_event(on_day(i), f"tok-{i}") for i in range(30)]
            )
            await container.queues["apple-historical-subscriptions"].send_batch(
                [snapshot(f"s{i}", "2026-12-01T10:00:00.000Z", {"status": 0}) for i in range(5)]
            )
        finally:
            container.close()

    asyncio.run(seed())
    return tmp_path


def test_export_events_writes_both_formats_and_prints_a_summary(environment: Path) -> None:
    out = environment / "out"
    result = runner.invoke(app, ["export", "events", "--date", DAY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    ndjson = out / "subscription-events" / "code-data" / f"date={DAY}" / f"{DAY}.json.gz"
    assert len(gzip.decompress(ndjson.read_bytes()).splitlines()) == 30
    assert (out / "subscription-events/parquet/code-data" / f"export_date={DAY}" / f"{DAY}.parquet").exists()
    assert "export subscription-events 2026-12-01" in result.output
    assert "rows" in result.output
    assert "30" in result.output


def test_one_format_and_the_configured_destination(environment: Path) -> None:
    result = runner.invoke(app, ["export", "events", "--date", DAY, "--format", "parquet"])
    assert result.exit_code == 0, result.output
    base = environment / "default-export" / "subscription-events"
    assert [p.name for p in base.rglob("*") if p.is_file()] == [f"{DAY}.parquet"]


def test_a_historical_drain_from_the_command_line(environment: Path) -> None:
    result = runner.invoke(app, ["export", "historical", "apple", "--date", DAY, "--max", "3"])
    assert result.exit_code == 0, result.output
    (ndjson,) = (environment / "default-export" / "apple-historical").rglob("*.json.gz")
    lines = [json.loads(line) for line in gzip.decompress(ndjson.read_bytes()).splitlines()]
    assert len(lines) == 3
    assert "messages received" in result.output


@pytest.mark.parametrize("date", ["2026-13-01", "yesterday"])
def test_a_bad_date_is_refused_before_anything_runs(environment: Path, date: str) -> None:
    result = runner.invoke(app, ["export", "events", "--date", date])
    assert result.exit_code == 2
    assert "not a date" in result.output
    assert not (environment / "default-export").exists()


def test_an_unknown_store_is_refused(environment: Path) -> None:
    result = runner.invoke(app, ["export", "historical", "amazon"])
    assert result.exit_code == 2


def test_an_export_that_cannot_write_fails_clearly(environment: Path) -> None:
    blocker = environment / "a-file"
    blocker.write_text("not a directory")
    result = runner.invoke(app, ["export", "events", "--date", DAY, "--out", str(blocker)])
    assert result.exit_code == 1
    assert "export failed, nothing written" in result.output


def test_a_destination_that_is_neither_a_directory_nor_s3_is_refused(environment: Path) -> None:
    result = runner.invoke(app, ["export", "events", "--out", "gs://bucket/x"])
    assert result.exit_code == 2
    assert "a directory or s3://bucket/prefix" in result.output
