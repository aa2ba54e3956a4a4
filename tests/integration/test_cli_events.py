"""``supporterflow events`` and ``supporterflow emulate`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from supporterflow.domain.supporters.identity_hash import identity_hash
from supporterflow.entrypoints.cli import app

runner = CliRunner()
VALID = {"user-service": {"identities": [{"kind": "mobile", "content": "07000 000 000"}]}}


@pytest.fixture(autouse=True)
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SF_DATABASE", str(tmp_path / "supporterflow.sqlite3"))
    monkeypatch.setenv("SF_OBJECT_STORE_DIR", str(tmp_path / "objects"))
    monkeypatch.setenv("SF_IDENTITY_HASH_KEY", "cli-key")
    return tmp_path


def test_validate_prints_the_answer_the_endpoint_would_give(tmp_path: Path) -> None:
    payload = tmp_path / "request.json"
    payload.write_text(json.dumps(VALID))
    result = runner.invoke(app, ["events", "validate", str(payload)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "data": {
            "identities": [{"kind": "mobile", "hash": identity_hash(b"cli-key", "mobile", "+447000000000")}]
        },
        "message": "success",
    }


def test_validate_reads_standard_input_and_lists_every_error() -> None:
    result = runner.invoke(app, ["events", "validate", "-"], input="{}")
    assert result.exit_code == 1
    assert json.loads(result.output) == {
        "data": {"errors": ["Request cannot be empty"]},
        "message": "ValidationError(supporter-events:ProducerRequest)",
    }


def test_validate_refuses_what_is_not_json() -> None:
    result = runner.invoke(app, ["events", "validate", "-"], input="{nope")
    assert result.exit_code == 2
    assert "not valid JSON" in result.output


def test_validate_says_when_the_file_is_missing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["events", "validate", str(tmp_path / "missing.json")])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_show_says_when_there_is_no_such_event() -> None:
    result = runner.invoke(app, ["events", "show", "no-such-id"])
    assert result.exit_code == 1
    assert "no supporter event" in result.output


def test_emulate_lists_every_emulator() -> None:
    result = runner.invoke(app, ["emulate", "--help"])
    assert result.exit_code == 0
    for emulator in ("user-service", "erpnext", "apple"):
        assert emulator in result.output


def test_the_apple_test_notification_sender_is_mounted() -> None:
    result = runner.invoke(app, ["apple", "send-test-notification", "--help"])
    assert result.exit_code == 0
    assert "--url" in result.output
