"""Settings: environment variables with the ``SF_`` prefix, an optional TOML file, two profiles.

The variable names are the configuration contract of ``architecture.md``: operators and tests rely
on them. Secrets are ``SecretStr`` so that no dump, log line or ``config show`` prints them.

Precedence, highest first: explicit keyword arguments, ``SF_*`` environment variables, the TOML
file named by ``SF_CONFIG_FILE`` (keys without the prefix, e.g. ``port = 9000``), the defaults.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from supporterflow.domain.exports.layout import DATASETS, FORMATS, Format

CONFIG_FILE_VARIABLE = "SF_CONFIG_FILE"

CommaList = Annotated[list[str], NoDecode]


class ConfigurationError(Exception):
    """The settings cannot run the chosen profile; the message says which variable to set."""


def _check_destination(url: str) -> None:
    """A directory or ``s3://bucket[/prefix]``: found at start, not at the first export."""
    scheme, separator, rest = url.partition("://")
    if separator and (scheme != "s3" or not rest.split("/", 1)[0]):
        raise ValueError(f"{url!r}: an export destination is a directory or s3://bucket/prefix")


ADMIN_OIDC_ALLOWED_KINDS = ("email", "sub", "group")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _check_web_url(url: str) -> None:
    """An absolute https URL; plain http only on this machine or for an emulator
    (``http://oidc.emulator``), where nothing crosses a network."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    if parts.scheme == "http" and host not in _LOCAL_HOSTS and not host.endswith(".emulator"):
        raise ValueError(f"{url!r}: use https (plain http only for localhost or an emulator)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SF_", extra="ignore", validate_default=True, use_attribute_docstrings=True
    )

    # Runtime and naming
    profile: Literal["local", "aws"] = "local"
    """`local`: SQLite and in-process emulators, no credentials. `aws`: DynamoDB, SQS, S3."""
    database: Path = Path("./var/supporterflow.sqlite3")
    """SQLite file of the local profile."""
    host: str = "127.0.0.1"
    """HTTP bind address (`serve --host` overrides)."""
    port: int = Field(default=8080, ge=0, le=65535)
    """HTTP bind port (`serve --port` overrides)."""
    stage: str = "CODE"
    """Stage in resource names, `<app>-<stage>-<name>`."""
    app: str = "mobile-purchases"
    """App in resource names, `<app>-<stage>-<name>`."""
    emulators: Literal["on", "off"] = "on"
    """`on` mounts the store and service emulators in-process; `off` uses the URLs below."""
    object_store_dir: Path = Path("./var/objects")
    """Directory of the local object store (exports, tokens)."""
    export_out: str = "./var/export"
    """Datalake exports: a directory or `s3://bucket/prefix`, a folder per dataset."""
    export_destinations: dict[str, str] = Field(default_factory=dict)
    """JSON object, dataset -> directory or `s3://` URL, instead of `export_out` (a bucket each)."""
    export_formats: Annotated[list[Format], NoDecode] = Field(default_factory=lambda: list(FORMATS))
    """Comma-separated formats of the scheduled exports: `ndjson` (the original's `.json.gz`), `parquet`."""
    export_gzip_level: int = Field(default=6, ge=1, le=9)
    """gzip level of the NDJSON exports (6 is zlib's and Node's default)."""
    export_process_after_rows: int = Field(default=20_000, ge=0)
    """Rows after which an export converts Parquet in a second process, on another core (0: never)."""
    aws_region: str = "eu-west-1"
    """AWS region of the aws profile's tables, queues and buckets."""
    aws_account_id: str | None = None
    """AWS account of the queues (their URLs); required by the aws profile."""
    aws_endpoint_url: str | None = None
    """One endpoint for every AWS service instead of AWS's (moto, LocalStack)."""
    sqs_wait_seconds: int = Field(default=20, ge=0, le=20)
    """SQS long polling of `serve --profile aws` consumers: fewer requests, a slower shutdown."""
    object_store_url: str | None = None
    """aws profile: `s3://bucket/prefix` of the object store (Google access tokens)."""
    external_queue_urls: dict[str, str] = Field(default_factory=dict)
    """JSON object, queue -> URL, of the other accounts' queues (consent setter, Braze emails)."""
    topology: str = "supporterflow.topology:TOPOLOGY"
    """`module:attribute` of the topology to run; another one is for tests and forks."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Lowest level written to the log."""
    log_format: Literal["json", "console"] = "json"
    """`json`: one JSON object per line; `console`: for people."""
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    """Largest accepted request body; larger ones get 413."""
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    """`FULL` survives power loss; `NORMAL` survives process crashes only."""
    ttl_sweep_seconds: int = Field(default=60, gt=0)
    """How often the local runtime deletes rows whose TTL has passed."""
    shutdown_grace_seconds: float = Field(default=30.0, gt=0)
    """Longest wait for in-flight work on SIGTERM."""
    admin_api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """Comma-separated keys for `/admin` (`x-api-key`); the local profile makes one up when unset."""
    admin_oidc_issuer: str | None = None
    """OpenID provider for `/admin` sign-in (discovery: `<issuer>/.well-known/openid-configuration`)."""
    admin_oidc_client_id: str | None = None
    """The dashboard's client id at that provider (the ID token's audience); required with the issuer."""
    admin_oidc_client_secret: SecretStr | None = None
    """The client's secret; unset for a public client (PKCE only)."""
    admin_oidc_allowed: CommaList = Field(default_factory=list)
    """Comma-separated `email:<address>`, `sub:<subject>`, `group:<name>` let in by OIDC; empty: nobody."""
    admin_oidc_groups_claim: str = "groups"
    """ID token claim (a string or a list) that `group:` entries of `SF_ADMIN_OIDC_ALLOWED` match."""
    admin_oidc_scopes: str = "openid email"
    """Space-separated scopes asked of the provider; must include `openid`."""
    admin_oidc_redirect_url: str | None = None
    """OIDC callback URL registered with the provider; unset: `/admin/login/oidc/callback` on this host."""

    # Apple
    apple_root_certs: CommaList = Field(default_factory=list)
    """Comma-separated paths of trusted root certificates (PEM or DER) for signed data."""
    apple_environment: Literal["Production", "Sandbox", "Xcode", "LocalTesting"] = "Sandbox"
    """App Store environment of signed data."""
    apple_bundle_ids: CommaList = Field(default_factory=list)
    """Accepted bundle ids."""
    apple_app_apple_id: int | None = None
    """App Apple ID (required for Production signed data)."""
    apple_api_url: str | None = None
    """Base URL of the App Store Server API."""
    apple_key_id: str | None = None
    """App Store Server API key id."""
    apple_issuer_id: str | None = None
    """App Store Server API issuer id."""
    apple_private_key_file: Path | None = None
    """App Store Server API private key (.p8)."""
    apple_verify_receipt_url: str = "https://buy.itunes.apple.com/verifyReceipt"
    """Legacy receipt validation, production."""
    apple_sandbox_verify_receipt_url: str = "https://sandbox.itunes.apple.com/verifyReceipt"
    """Legacy receipt validation, sandbox."""
    apple_pubsub_secret: SecretStr | None = None
    """`?secret=` of `POST /apple/pubsub` (V1 notifications)."""
    feast_apple_pubsub_secret: SecretStr | None = None
    """`?secret=` of `POST /feast/apple/pubsub` (V1 notifications)."""
    apple_shared_secret: SecretStr | None = None
    """App Store shared secret: `verifyReceipt` password, checked against V1 notification bodies."""
    feast_apple_shared_secret: SecretStr | None = None
    """The Feast app's App Store shared secret."""
    apple_online_checks: bool = False
    """Check Apple's certificates for revocation (OCSP) when verifying signed data; needs network."""
    apple_offer_bundle_id: str | None = None
    """Bundle id that promotional offers are signed for (`/apple/fetchOfferDetails`)."""
    apple_offer_key_id: str | None = None
    """Key identifier of the promotional offer key."""
    apple_offer_private_key_file: Path | None = None
    """Promotional offer private key (PKCS#8 PEM, P-256)."""

    # Google
    google_play_api_url: str = "https://androidpublisher.googleapis.com"
    """Base URL of the Play Developer API."""
    google_oauth_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
    """OAuth token endpoint."""
    google_service_account_file: Path | None = None
    """Service-account JSON for the Play Developer API."""
    google_push_audience: str | None = None
    """Audience of Pub/Sub push OIDC tokens; unset turns the check off."""
    google_push_service_account: str | None = None
    """Email of the service account that signs Pub/Sub push tokens."""
    google_push_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    """Certificates of Pub/Sub push tokens."""
    google_pubsub_secret: SecretStr | None = None
    """Legacy `?secret=` of `POST /google/pubsub`."""
    feast_google_pubsub_secret: SecretStr | None = None
    """Legacy `?secret=` of `POST /feast/google/pubsub`."""

    # Identity (user access tokens)
    oidc_issuer: str | None = None
    """Issuer of user access tokens."""
    oidc_audience: str | None = None
    """Audience of user access tokens."""
    oidc_jwks_url: str | None = None
    """JWKS of the issuer."""
    oidc_scope: str = "guardian.mobile-purchases-api.update.self"
    """Scope a token needs for the link endpoints."""
    oidc_user_id_claim: str = "legacy_identity_id"
    """Claim that holds the user id."""

    # API keys
    user_api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """Comma-separated keys for `GET /user/subscriptions/{userId}`."""
    producer_api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """Comma-separated `name:key` pairs accepted on `POST /supporter-events`; the local profile
    makes up one (producer `local`) when unset and prints it."""
    identity_hash_key: SecretStr | None = None
    """Secret key of the identity hash (required in `aws`; the local profile makes one up once and
    keeps it in `identity-hash.key` beside the database). Never change it: see docs/identity-hash.md."""
    supporter_events_retention_days: int = Field(default=30, gt=0)
    """How long an accepted supporter event (and its Idempotency-Key) is kept."""
    activity_retention_days: int | None = Field(default=None, ge=0)
    """How long a subscription's activity (fetches, state changes, links) is kept for the
    dashboard's timeline; 0 records none. Unset: 90 on the local profile, 0 on `aws`, where each
    change recorded is one more DynamoDB write (docs/aws.md, cost model)."""

    # Downstream services
    user_service_url: str | None = None
    """User service base URL."""
    user_service_api_key: SecretStr | None = None
    """User service `x-api-key`."""
    erpnext_url: str | None = None
    """ERPNext base URL."""
    erpnext_api_key: SecretStr | None = None
    """ERPNext API key."""
    erpnext_api_secret: SecretStr | None = None
    """ERPNext API secret."""
    identity_api_url: str | None = None
    """Identity API (soft opt-in email lookup, Feast identity lookup)."""
    identity_api_key: SecretStr | None = None
    """Identity API key."""
    braze_url: str | None = None
    """Braze REST endpoint, e.g. `https://rest.fra-01.braze.eu` (Feast identity lookup)."""
    braze_api_key: SecretStr | None = None
    """Braze API key."""
    acquisition_api_url: str | None = None
    """Acquisition events endpoint."""

    @field_validator(
        "apple_root_certs",
        "apple_bundle_ids",
        "user_api_keys",
        "producer_api_keys",
        "admin_api_keys",
        "admin_oidc_allowed",
        "export_formats",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("export_destinations")
    @classmethod
    def _known_datasets(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(DATASETS))
        if unknown:
            raise ValueError(f"unknown datasets {unknown}; the datasets are {', '.join(DATASETS)}")
        for url in value.values():
            _check_destination(url)
        return value

    @field_validator("export_out")
    @classmethod
    def _destination(cls, value: str) -> str:
        _check_destination(value)
        return value

    @field_validator("export_formats")
    @classmethod
    def _some_format(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one export format (ndjson, parquet)")
        return value

    @field_validator("producer_api_keys")
    @classmethod
    def _named_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for pair in value:
            name, sep, key = pair.get_secret_value().partition(":")
            if not (sep and name and key):
                raise ValueError("each producer API key must be written name:key")
        return value

    @field_validator("admin_oidc_allowed")
    @classmethod
    def _allowed_operators(cls, value: list[str]) -> list[str]:
        for entry in value:
            kind, sep, name = entry.partition(":")
            if not sep or kind not in ADMIN_OIDC_ALLOWED_KINDS or not name.strip():
                raise ValueError(
                    "each entry is email:<address>, sub:<subject> or group:<name> (comma-separated)"
                )
        return value

    @field_validator("admin_oidc_scopes")
    @classmethod
    def _openid_scope(cls, value: str) -> str:
        if "openid" not in value.split():
            raise ValueError("the scopes must include openid (space-separated, e.g. 'openid email')")
        return value

    @field_validator("admin_oidc_issuer", "admin_oidc_redirect_url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is not None:
            _check_web_url(value)
        return value

    @model_validator(mode="after")
    def _admin_oidc_is_complete(self) -> Settings:
        issuer, client_id = self.admin_oidc_issuer, self.admin_oidc_client_id
        if issuer and not client_id:
            raise ValueError("SF_ADMIN_OIDC_ISSUER is set: set SF_ADMIN_OIDC_CLIENT_ID too")
        if client_id and not issuer:
            raise ValueError("SF_ADMIN_OIDC_CLIENT_ID is set: set SF_ADMIN_OIDC_ISSUER too")
        if self.admin_oidc_client_secret is not None and not issuer:
            raise ValueError(
                "SF_ADMIN_OIDC_CLIENT_SECRET is set: set SF_ADMIN_OIDC_ISSUER and SF_ADMIN_OIDC_CLIENT_ID too"
            )
        return self

    @model_validator(mode="after")
    def _aws_profile_is_complete(self) -> Settings:
        if self.profile == "aws":
            needed = ("identity_hash_key", "admin_api_keys", "aws_account_id", "object_store_url")
            missing = ["SF_" + name.upper() for name in needed if not getattr(self, name)]
            if not self.export_out.startswith("s3://"):
                missing.append("SF_EXPORT_OUT (an s3:// URL)")
            if self.object_store_url is not None and not self.object_store_url.startswith("s3://"):
                missing.append("SF_OBJECT_STORE_URL (an s3:// URL)")
            if missing:
                raise ValueError("the aws profile needs " + ", ".join(missing))
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

    @property
    def supporter_events_retention(self) -> timedelta:
        return timedelta(days=self.supporter_events_retention_days)

    @property
    def activity_retention(self) -> timedelta | None:
        """How long activity rows are kept; None when none are recorded."""
        days = self.activity_retention_days
        if days is None:
            days = 90 if self.profile == "local" else 0
        return timedelta(days=days) if days else None


def reference_table() -> str:
    """The configuration reference as a Markdown table, from the fields of ``Settings``."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        shown = "" if default in (None, []) else f"`{default}`"
        lines.append(f"| `SF_{name.upper()}` | {shown} | {info.description or ''} |")
    return "\n".join(lines) + "\n"


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
