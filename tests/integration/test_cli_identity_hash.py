"""``supporterflow identity-hash map``: the old and new hash of each identity the user service
exports, for a key rotation; never the identities themselves in its output."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from supporterflow.domain.supporters.identity_hash import identity_hash
from supporterflow.entrypoints.cli import app

OLD, NEW = "old-identity-key", "new-identity-key"
EMAIL = "Dante.Alighieri@example.com"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"SF_IDENTITY_HASH_KEY": OLD, "SF_DATABASE": str(tmp_path / "sf.sqlite3")}


def new_key(tmp_path: Path, value: str = NEW) -> Path:
    path = tmp_path / "new.key"
    path.write_text(value + "\n")
    return path


def test_each_identity_gets_its_old_and_new_hash(tmp_path: Path, env: dict[str, str]) -> None:
    rows = f"kind,content\nemail, {EMAIL}\nmobile,07847 000 000\n"
    result = CliRunner().invoke(
        app, ["identity-hash", "map", "--new-key-file", str(new_key(tmp_path)), "-"], input=rows, env=env
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()

    # The hashes are those the service hands out: normalised as validation does (spec §2.3).
    def both(kind: str, content: str) -> str:
        old, new = identity_hash(OLD.encode(), kind, content), identity_hash(NEW.encode(), kind, content)
        return f"{kind},{old},{new}"

    assert lines == ["kind,old_hash,new_hash", both("email", EMAIL.lower()), both("mobile", "+447847000000")]
    assert EMAIL not in result.output
    assert "7847" not in result.stdout


def test_a_row_that_is_no_identity_stops_the_run_naming_its_line(tmp_path: Path, env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app,
        ["identity-hash", "map", "--new-key-file", str(new_key(tmp_path)), "-"],
        input="email,a@example.com\npostcode,SE1 7TP\n",
        env=env,
    )
    assert result.exit_code == 2
    assert "line 2: expected kind,content" in result.stderr


def test_the_configured_key_is_refused_as_the_new_one(tmp_path: Path, env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["identity-hash", "map", "--new-key-file", str(new_key(tmp_path, OLD)), "-"], input="", env=env
    )
    assert result.exit_code == 2
    assert "the new key is the configured key" in result.stderr
