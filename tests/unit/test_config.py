"""Settings: the SF_ contract, the TOML file, profiles and masking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from supporterflow.config import ConfigurationError, Settings, load_settings
from supporterflow.topology import SUBSCRIPTIONS


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SF_"):
            monkeypatch.delenv(name)


def test_defaults_run_locally_on_sqlite_without_credentials() -> None:
    settings = load_settings()
    assert (settings.profile, settings.host, settings.port, settings.emulators) == (
        "local",
        "127.0.0.1",
        8080,
        "on",
    )
    assert settings.database == Path("./var/supporterflow.sqlite3")
    assert SUBSCRIPTIONS.physical_name(settings.app, settings.stage) == "mobile-purchases-CODE-subscriptions"


def test_environment_variables_use_the_contract_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_PORT", "9123")
    monkeypatch.setenv("SF_STAGE", "PROD")
    monkeypatch.setenv("SF_APPLE_BUNDLE_IDS", "uk.co.guardian.iphone2, uk.co.guardian.Feast")
    monkeypatch.setenv("SF_PRODUCER_API_KEYS", "donations:k1,giftaid:k2")
    settings = load_settings()
    assert settings.port == 9123
    assert settings.stage == "PROD"
    assert settings.apple_bundle_ids == ["uk.co.guardian.iphone2", "uk.co.guardian.Feast"]
    assert settings.producer_keys_by_name == {"k1": "donations", "k2": "giftaid"}


def test_a_toml_file_is_read_and_the_environment_wins_over_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "supporterflow.toml"
    config.write_text('port = 9000\nstage = "PROD"\n')
    monkeypatch.setenv("SF_CONFIG_FILE", str(config))
    monkeypatch.setenv("SF_STAGE", "CODE")
    settings = load_settings()
    assert (settings.port, settings.stage) == (9000, "CODE")


def test_a_missing_toml_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SF_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigurationError, match="no such file"):
        load_settings()


def test_secrets_are_masked_in_every_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_APPLE_SHARED_SECRET", "s3cr3t-value")
    monkeypatch.setenv("SF_PRODUCER_API_KEYS", "donations:k3y-value")
    settings = load_settings()
    dumped = json.dumps(settings.masked()) + repr(settings) + str(settings.model_dump())
    assert "s3cr3t-value" not in dumped
    assert "k3y-value" not in dumped
    assert settings.masked()["SF_APPLE_SHARED_SECRET"] == "**********"


def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_PORT", "eighty")
    with pytest.raises(ConfigurationError, match="SF_PORT"):
        load_settings()


def test_a_producer_key_without_a_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="name:key"):
        load_settings(producer_api_keys="just-a-key")


def test_the_aws_profile_refuses_to_start_without_what_it_needs_and_names_it() -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_settings(profile="aws")
    for needed in (
        "SF_IDENTITY_HASH_KEY",
        "SF_ADMIN_API_KEYS",
        "SF_AWS_ACCOUNT_ID",
        "SF_OBJECT_STORE_URL",
        "SF_EXPORT_OUT (an s3:// URL)",
    ):
        assert needed in str(refused.value)
    settings = Settings(
        profile="aws",
        identity_hash_key="k",
        admin_api_keys="a",
        aws_account_id="123456789012",
        object_store_url="s3://objects",
        export_out="s3://exports",
    )
    assert settings.profile == "aws"


@pytest.mark.parametrize(
    "overrides",
    [
        {"export_out": "https://example.com/x"},
        {"export_out": "s3://"},
        {"export_destinations": {"subscriptions": "gs://bucket"}},
        {"export_destinations": {"payments": "s3://bucket"}},
        {"export_formats": "csv"},
        {"export_formats": ""},
    ],
)
def test_export_settings_are_checked_at_start(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**overrides)  # type: ignore[arg-type]


def test_export_settings_accept_directories_and_s3() -> None:
    settings = Settings(
        export_out="s3://bucket/exports",
        export_destinations={"google-historical": "s3://ophan-raw/x", "subscriptions": "/srv/export"},
        export_formats="parquet",
    )
    assert settings.export_formats == ["parquet"]
