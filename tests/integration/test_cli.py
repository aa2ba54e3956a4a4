"""The ``supporterflow`` command on a real database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from supporterflow import __version__
from supporterflow.bootstrap import Container
from supporterflow.entrypoints.cli import app
from tests.e2e.work_topology import FAST
from tests.support import open_container

runner = CliRunner()


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SF_DATABASE", str(tmp_path / "supporterflow.sqlite3"))
    monkeypatch.setenv("SF_OBJECT_STORE_DIR", str(tmp_path / "objects"))
    monkeypatch.setenv("SF_TOPOLOGY", "tests.e2e.work_topology:FAST")
    return tmp_path


def with_container(tmp_path: Path, work: Callable[[Container], Awaitable[None]]) -> None:
    async def run() -> None:
        container = open_container(tmp_path, FAST)
        try:
            await work(container)
        finally:
            container.close()

    asyncio.run(run())


async def three_dead_letters(container: Container) -> None:
    queue = container.queues["work"]
    await queue.send_batch([b'{"purchaseToken":"tok-secret","n":1}', b"{}", b"{}"])
    await queue.send(b"{}")
    for received in await queue.receive(3, 30):
        await queue.dead_letter(received, "GiveUp: test")


def test_version_prints_the_version() -> None:
    result = runner.invoke(app, ["version"])
    assert (result.exit_code, result.output.strip()) == (0, __version__)


def test_queues_shows_depths_and_dead_letters(environment: Path) -> None:
    with_container(environment, three_dead_letters)
    result = runner.invoke(app, ["queues"])
    assert result.exit_code == 0, result.output
    (row,) = [line for line in result.output.splitlines() if "work" in line]
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == ["work", "1", "0", "0", "3"]


def test_dlq_list_shows_reasons_and_redacts_bodies(environment: Path) -> None:
    with_container(environment, three_dead_letters)
    result = runner.invoke(app, ["dlq", "list", "work"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.count("GiveUp: test") == 3
    assert "tok-secret" not in result.output


def test_dlq_replay_moves_dead_letters_back(environment: Path) -> None:
    with_container(environment, three_dead_letters)
    result = runner.invoke(app, ["dlq", "replay", "work-dlq", "--yes"])
    assert result.exit_code == 0, result.output
    assert "3 messages replayed" in result.output

    async def check(container: Container) -> None:
        assert (await container.queues["work"].depth()).visible == 4
        assert (await container.queues["work-dlq"].depth()).total == 0

    with_container(environment, check)


def test_dlq_replay_asks_first_and_does_nothing_when_refused(environment: Path) -> None:
    with_container(environment, three_dead_letters)
    result = runner.invoke(app, ["dlq", "replay", "work"], input="n\n")
    assert result.exit_code == 1

    async def check(container: Container) -> None:
        assert (await container.queues["work-dlq"].depth()).total == 3

    with_container(environment, check)


def test_dlq_purge_deletes_dead_letters(environment: Path) -> None:
    with_container(environment, three_dead_letters)
    result = runner.invoke(app, ["dlq", "purge", "work", "--yes"])
    assert (result.exit_code, "3 messages deleted" in result.output) == (0, True)


def test_an_unknown_queue_is_a_clear_error(environment: Path) -> None:
    result = runner.invoke(app, ["dlq", "list", "nope"])
    assert result.exit_code == 2
    assert "no queue named nope" in result.output


def test_config_show_masks_secrets(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_ERPNEXT_API_SECRET", "very-secret")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    values = json.loads(result.output)
    assert values["SF_ERPNEXT_API_SECRET"] == "**********"
    assert "very-secret" not in result.output


def test_a_bad_setting_is_a_clear_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_PORT", "eighty")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert "SF_PORT" in result.output
    assert "Traceback" not in result.output


def test_the_aws_profile_names_the_settings_it_still_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_IDENTITY_HASH_KEY", "k")
    monkeypatch.setenv("SF_ADMIN_API_KEYS", "a")
    result = runner.invoke(app, ["queues"], env={"SF_PROFILE": "aws"})
    assert result.exit_code == 2
    assert "SF_AWS_ACCOUNT_ID" in result.output
    assert "SF_OBJECT_STORE_URL" in result.output
