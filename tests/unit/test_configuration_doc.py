"""docs/configuration.md shows exactly the settings the code reads."""

from __future__ import annotations

from pathlib import Path

from supporterflow.config import reference_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_configuration_reference_matches_the_settings_class() -> None:
    text = DOC.read_text()
    generated = text.split("<!-- reference:start -->\n", 1)[1].split("<!-- reference:end -->", 1)[0]
    assert generated == reference_table(), "regenerate with: supporterflow config reference"
