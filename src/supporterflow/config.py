"""Settings: environment variables with the ``SF_`` prefix, an optional TOML file, two profiles.

The variable names are the configuration contract of ``architecture.md``: operators and tests rely
on them. Secrets are ``SecretStr`` so that no dump, log line or ``config show`` prints them.

Precedence, highest first: explicit keyword arguments, ``SF_*`` environment variables, the TOML
file named by ``SF_CONFIG_FILE`` (keys without the prefix, e.g. ``port = 9000``), the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_VARIABLE = "SF_CONFIG_FILE"

CommaList = Annotated[list[str], NoDecode]


class ConfigurationError(Exception):
    """The settings cannot run the chosen profile; the message says which variable to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SF_", extra="ignore", validate_default=True)

    # Runtime and naming
    profile: Literal["local", "aws"] = "local"
    database: Path = Path("./var/supporterflow.sqlite3")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    stage: str = "CODE"
    app: str = "mobile-purchases"
    emulators: Literal["on", "off"] = "on"
    object_store_dir: Path = Path("./var/objects")
    topology: str = Field(
        default="supporterflow.topology:TOPOLOGY",
        description="module:attribute of the topology to run (an alternative one is for tests and forks)",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"
    max_body_bytes: int = Field(default=1_048_576, gt=0, description="largest accepted request body")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="FULL survives power loss; NORMAL survives process crashes only (SQLite WAL)",
    )
    ttl_sweep_seconds: int = Field(default=60, gt=0)
    shutdown_grace_seconds: float = Field(
        default=30.0, gt=0, description="longest wait for in-flight work on SIGTERM"
    )

    # Apple
    apple_root_certs: CommaList = Field(default_factory=list)
    apple_environment: Literal["Production", "Sandbox", "Xcode", "LocalTesting"] = "Sandbox"
    apple_bundle_ids: CommaList = Field(default_factory=list)
    apple_app_apple_id: int | None = None
    apple_api_url: str | None = None
    apple_key_id: str | None = None
    apple_issuer_id: str | None = None
    apple_private_key_file: Path | None = None
    apple_verify_receipt_url: str = "https://buy.itunes.apple.com/verifyReceipt"
    apple_sandbox_verify_receipt_url: str = "https://sandbox.itunes.apple.com/verifyReceipt"
    apple_pubsub_secret: SecretStr | None = None
    feast_apple_pubsub_secret: SecretStr | None = None
    apple_shared_secret: SecretStr | None = None
    feast_apple_shared_secret: SecretStr | None = None

    # Google
    google_play_api_url: str = "https://androidpublisher.googleapis.com"
    google_oauth_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
    google_service_account_file: Path | None = None
    google_push_audience: str | None = None
    google_push_service_account: str | None = None
    google_push_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    google_pubsub_secret: SecretStr | None = None

    # Identity (user access tokens)
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_scope: str = "guardian.mobile-purchases-api.update.self"
    oidc_user_id_claim: str = "legacy_identity_id"

    # API keys
    user_api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    producer_api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="comma-separated name:key pairs"
    )
    identity_hash_key: SecretStr | None = None
    admin_api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="keys for /admin (x-api-key); the local profile generates and prints one when unset",
    )

    # Downstream services
    user_service_url: str | None = None
    user_service_api_key: SecretStr | None = None
    erpnext_url: str | None = None
    erpnext_api_key: SecretStr | None = None
    erpnext_api_secret: SecretStr | None = None
    identity_api_url: str | None = None
    identity_api_key: SecretStr | None = None
    braze_url: str | None = None
    braze_api_key: SecretStr | None = None
    acquisition_api_url: str | None = None

    @field_validator(
        "apple_root_certs",
        "apple_bundle_ids",
        "user_api_keys",
        "producer_api_keys",
        "admin_api_keys",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("producer_api_keys")
    @classmethod
    def _named_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for pair in value:
            name, sep, key = pair.get_secret_value().partition(":")
            if not (sep and name and key):
                raise ValueError("each producer API key must be written name:key")
        return value

    @model_validator(mode="after")
    def _aws_profile_is_complete(self) -> Settings:
        if self.profile == "aws":
            missing = [name for name in ("identity_hash_key", "admin_api_keys") if not getattr(self, name)]
            if missing:
                raise ValueError("the aws profile needs " + ", ".join("SF_" + m.upper() for m in missing))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        toml_file = os.environ.get(CONFIG_FILE_VARIABLE)
        if toml_file:
            if not Path(toml_file).is_file():
                raise ConfigurationError(f"{CONFIG_FILE_VARIABLE}={toml_file}: no such file")
            sources += (TomlConfigSettingsSource(settings_cls, toml_file=toml_file),)
        return sources

    @property
    def producer_keys_by_name(self) -> dict[str, str]:
        """``{key: producer name}``, for authenticating ``x-api-key``."""
        pairs = (secret.get_secret_value().partition(":") for secret in self.producer_api_keys)
        return {key: name for name, _, key in pairs}

    def masked(self) -> dict[str, Any]:
        """Every setting as ``SF_NAME -> value``, secrets shown as ``**********``."""
        return {"SF_" + name.upper(): value for name, value in self.model_dump(mode="json").items()}

    def resource_name(self, logical: str) -> str:
        """Physical name of a table or queue, as the original names them: ``<app>-<stage>-<name>``."""
        return f"{self.app}-{self.stage}-{logical}"


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning validation errors into one readable ``ConfigurationError``."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"SF_{'_'.join(str(p) for p in e['loc']).upper() or 'SETTINGS'}: {e['msg']}"
            for e in error.errors()
        )
        raise ConfigurationError(problems) from None
