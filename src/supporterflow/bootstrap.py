"""The composition root: settings -> adapters -> functions. The only module that builds adapters.

Handlers declare their collaborators as parameters named after the resource (``subscriptions``,
``apple_subscriptions_to_fetch``, ``clock``, ``settings``...); ``inject`` binds them once at start, so
a missing collaborator is a start-up error, never a failure on the first message.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import json
import os
import secrets
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from supporterflow.adapters.apple import (
    ApiKey,
    AppleSignedData,
    AppStoreServerApi,
    PromotionalOffers,
    ReceiptEndpoint,
    VerifyReceipt,
    load_root_certificates,
    split_url,
)
from supporterflow.adapters.braze import BrazeIdentityLookup
from supporterflow.adapters.clock import SystemClock
from supporterflow.adapters.erpnext import ErpNextClient
from supporterflow.adapters.google import GoogleAccessTokens, GooglePlayApi, PushTokenVerifier
from supporterflow.adapters.objects import DirectoryObjectStore
from supporterflow.adapters.outbound import AiohttpTransport, AsgiTransport, Transport
from supporterflow.adapters.sqlite.coordination import SqliteCoordination
from supporterflow.adapters.sqlite.database import Database
from supporterflow.adapters.sqlite.queues import SqliteQueue, queue_topic
from supporterflow.adapters.sqlite.stream import STREAM_TOPIC, SqliteChangeStream
from supporterflow.adapters.sqlite.tables import SqliteTable
from supporterflow.adapters.user_service import HttpUserService
from supporterflow.config import ConfigurationError, Settings, load_settings
from supporterflow.declare import Topology, python_name
from supporterflow.domain.subscriptions.platforms import APPLE_BUNDLE_TO_PLATFORM
from supporterflow.emulators.apple.app import create_app_store_app
from supporterflow.emulators.apple.auth import ApiKey as EmulatedApiKey
from supporterflow.emulators.apple.certificates import CertificateChain
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import AppleStoreState
from supporterflow.emulators.braze import create_braze_app
from supporterflow.emulators.erpnext import create_erpnext_app
from supporterflow.emulators.google.app import CERTS_PATH, create_play_app
from supporterflow.emulators.google.oauth import SERVICE_ACCOUNT_FILE, ServiceAccount
from supporterflow.emulators.google.push import DEFAULT_PUSH_EMAIL, PushSigner
from supporterflow.emulators.google.store import GooglePlayState
from supporterflow.emulators.user_service import create_user_service_app
from supporterflow.ports import Clock, QueueDepth, Retry
from supporterflow.runtime.metrics import Metrics


def identity_key(settings: Settings) -> bytes:
    """The identity-hash key: configured, or (local profile) made up once and kept beside the
    database, so hashes stay the same across restarts. Losing it breaks every stored hash."""
    if settings.identity_hash_key is not None:
        return settings.identity_hash_key.get_secret_value().encode()
    path = settings.database.parent / "identity-hash.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            pass  # another process made it first: use that one
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def load_topology(reference: str) -> Topology:
    """``module:attribute`` -> the Topology it names."""
    module_name, _, attribute = reference.partition(":")
    try:
        topology = getattr(importlib.import_module(module_name), attribute or "TOPOLOGY")
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(f"SF_TOPOLOGY={reference}: {error}") from None
    if not isinstance(topology, Topology):
        raise ConfigurationError(f"SF_TOPOLOGY={reference} is not a Topology")
    return topology


@dataclass(frozen=True)
class QueueSummary:
    name: str
    depth: QueueDepth
    dead_letters: int | None  # None: the queue has no DLQ


@dataclass
class Container:
    """Everything one process runs on, built from the settings."""

    settings: Settings
    topology: Topology
    clock: Clock
    database: Database
    tables: dict[str, SqliteTable]
    queues: dict[str, SqliteQueue]
    stream: SqliteChangeStream
    coordination: SqliteCoordination
    objects: DirectoryObjectStore
    collaborators: dict[str, Any] = field(default_factory=dict)  # downstream clients, keys
    unavailable: dict[str, str] = field(default_factory=dict)  # collaborator -> how to provide it
    transports: list[Transport] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)  # in-process emulators' state
    admin_keys: list[str] = field(default_factory=list)
    generated_admin_key: str | None = None  # set when the local profile made one up: print it
    producer_keys: dict[str, str] = field(default_factory=dict)  # x-api-key -> producer name
    generated_producer_key: str | None = None  # the local profile's "local" producer, to print
    metrics: Metrics = field(default_factory=Metrics)

    def dependencies(self) -> dict[str, Any]:
        """What a handler may ask for, by parameter name."""
        provided: dict[str, Any] = {"clock": self.clock, "settings": self.settings, "objects": self.objects}
        provided.update({python_name(name): table for name, table in self.tables.items()})
        provided.update({python_name(name): queue for name, queue in self.queues.items()})
        provided.update(self.collaborators)
        return provided

    def inject(self, handler: Callable[..., Any], *, leading: int = 0) -> Callable[..., Any]:
        """Bind every parameter of ``handler`` after the first ``leading`` ones (the message, the
        change record) to the collaborator of the same name."""
        provided = self.dependencies()
        parameters = list(inspect.signature(handler).parameters.values())[leading:]
        missing = [p.name for p in parameters if p.name not in provided and p.default is p.empty]
        if missing:
            hints = "".join(
                f" ({name}: {self.unavailable[name]})" for name in missing if name in self.unavailable
            )
            raise ConfigurationError(
                f"{handler.__module__}.{handler.__qualname__} needs {', '.join(missing)}, "
                f"which this process does not provide{hints}"
            )
        return functools.partial(
            handler, **{p.name: provided[p.name] for p in parameters if p.name in provided}
        )

    def watch_queue(self, name: str) -> asyncio.Event:
        """Set when this process commits a message to ``name`` (consumers also poll, for others)."""
        return self.database.watch(queue_topic(name))

    def watch_stream(self) -> asyncio.Event:
        return self.database.watch(STREAM_TOPIC)

    def open(self) -> Container:
        self.database.open()
        return self

    def close(self) -> None:
        for close in self.closers:
            close()
        self.database.close()

    async def aclose(self) -> None:
        """Close the downstream connections too (``close`` alone leaves them to the process end)."""
        for transport in self.transports:
            await transport.aclose()
        self.close()

    def dead_letter_queue(self, name: str) -> SqliteQueue:
        """The DLQ named, or the DLQ of the queue named; ``LookupError`` says why there is none."""
        try:
            definition = self.topology.queue(name)
        except KeyError:
            raise LookupError(f"no queue named {name}") from None
        dlq_name = definition.dlq_name or name
        if dlq_name not in self.dead_letter_queue_names():
            raise LookupError(f"{name} has no dead-letter queue")
        return self.queues[dlq_name]

    def dead_letter_queue_names(self) -> set[str]:
        return {q.dlq_name for q in self.topology.all_queues() if q.dlq_name}

    async def queue_summaries(self) -> list[QueueSummary]:
        """Every queue that is not itself a DLQ, with its depth and how many dead letters it has."""
        summaries = []
        for q in self.topology.all_queues():
            if q.name in self.dead_letter_queue_names():
                continue
            depth = await self.queues[q.name].depth()
            dead = (await self.queues[q.dlq_name].depth()).total if q.dlq_name else None
            summaries.append(QueueSummary(q.name, depth, dead))
        return summaries

    async def refresh_metrics(self) -> None:
        """Read queue depths and stream lags into the gauges (called before each scrape)."""
        dlqs = self.dead_letter_queue_names()
        for name, queue in self.queues.items():
            depth = await queue.depth()
            if name in dlqs:
                self.metrics.dlq_messages.labels(name).set(depth.total)
            for state in ("visible", "in_flight", "delayed"):
                self.metrics.queue_messages.labels(name, state).set(getattr(depth, state))
        for subscription in self.topology.streams:
            lag = await self.stream.lag(subscription.name, tables=[subscription.table])
            self.metrics.stream_lag.labels(subscription.name).set(lag)


def bootstrap(
    settings: Settings | None = None, *, clock: Clock | None = None, topology: Topology | None = None
) -> Container:
    """Build (not open) the container of the configured profile."""
    settings = settings or load_settings()
    if settings.profile == "aws":
        raise ConfigurationError(
            "the aws profile is not implemented yet (DynamoDB, SQS and S3 adapters come with the AWS "
            "runtime); use SF_PROFILE=local"
        )
    topology = topology or load_topology(settings.topology)
    clock = clock or SystemClock()
    database = Database(settings.database, synchronous=settings.sqlite_synchronous)
    metrics = Metrics()
    downstream = _downstream(settings, metrics)
    admin_keys = [key.get_secret_value() for key in settings.admin_api_keys]
    # Only the local profile gets here without keys (the aws profile requires them).
    generated = None if admin_keys else secrets.token_urlsafe(24)
    if generated:
        admin_keys = [generated]
    producer_keys = settings.producer_keys_by_name
    generated_producer = None if producer_keys else secrets.token_urlsafe(24)
    if generated_producer:
        producer_keys = {generated_producer: "local"}
    return Container(
        producer_keys=producer_keys,
        generated_producer_key=generated_producer,
        collaborators={"identity_key": identity_key(settings), **downstream.clients},
        unavailable=downstream.unavailable,
        transports=downstream.transports,
        closers=downstream.closers,
        metrics=metrics,
        admin_keys=admin_keys,
        generated_admin_key=generated,
        settings=settings,
        topology=topology,
        clock=clock,
        database=database,
        tables={t.name: SqliteTable(database, t, clock) for t in topology.tables},
        queues={q.name: SqliteQueue(database, q, clock) for q in topology.all_queues()},
        stream=SqliteChangeStream(database, clock),
        coordination=SqliteCoordination(database, clock),
        objects=DirectoryObjectStore(settings.object_store_dir),
    )


class NotConfigured:
    """Stands in for a collaborator that only some flows need and the settings do not provide:
    the others run, and a flow that calls it gets ``Retry`` with what to set, so its message
    ends in the dead-letter queue, replayable once the setting is there."""

    def __init__(self, what: str, hint: str) -> None:
        self._problem = f"{what} is not configured: {hint}"

    def __getattr__(self, name: str) -> Callable[..., Any]:
        async def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise Retry(self._problem)

        return unavailable


@dataclass
class _Downstream:
    clients: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    transports: list[Transport] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)


def _transport(
    url: str | None, settings: Settings, emulator: Callable[[], Any], name: str
) -> Transport | None:
    """The configured URL; with no URL and the emulators on, the emulator called in-process (no
    socket, no port); else None."""
    if url:
        return AiohttpTransport(url)
    if settings.emulators == "on":
        return AsgiTransport(emulator(), name)
    return None


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def _downstream(settings: Settings, metrics: Metrics) -> _Downstream:
    """Clients of the authorities the flows deliver to. A key set explicitly always wins over what
    an emulator would be configured with (architecture.md, configuration contract)."""
    found = _Downstream()

    user_key = _secret(settings.user_service_api_key) or secrets.token_urlsafe(16)
    transport = _transport(
        settings.user_service_url, settings, lambda: create_user_service_app(user_key), "user-service"
    )
    if transport is None:
        found.unavailable["user_service"] = "set SF_USER_SERVICE_URL and _API_KEY, or SF_EMULATORS=on"
    else:
        found.clients["user_service"] = HttpUserService(transport, user_key, metrics)
        found.transports.append(transport)

    erp_key = _secret(settings.erpnext_api_key) or secrets.token_hex(8)
    erp_secret = _secret(settings.erpnext_api_secret) or secrets.token_hex(8)
    transport = _transport(
        settings.erpnext_url, settings, lambda: create_erpnext_app(erp_key, erp_secret), "erpnext"
    )
    if transport is None:
        found.unavailable["erp"] = "set SF_ERPNEXT_URL, _API_KEY and _API_SECRET, or SF_EMULATORS=on"
    else:
        found.clients["erp"] = ErpNextClient(transport, erp_key, erp_secret, metrics)
        found.transports.append(transport)

    braze_key = _secret(settings.braze_api_key) or secrets.token_urlsafe(16)
    transport = _transport(settings.braze_url, settings, lambda: create_braze_app(braze_key), "braze")
    if transport is None:
        # Only the Feast flows need it: the others run, and a Feast fetch waits in the DLQ.
        found.clients["identity_lookup"] = NotConfigured(
            "the Braze identity lookup", "set SF_BRAZE_URL and SF_BRAZE_API_KEY, or SF_EMULATORS=on"
        )
    else:
        found.clients["identity_lookup"] = BrazeIdentityLookup(transport, braze_key, metrics)
        found.transports.append(transport)

    _apple(settings, metrics, found)
    _google(settings, metrics, found)
    return found


#: The library's App Store Server API hosts, used when SF_APPLE_API_URL is not set.
_APPLE_API_URLS = {
    "Production": "https://api.storekit.itunes.apple.com",
    "Sandbox": "https://api.storekit-sandbox.itunes.apple.com",
}
_OFFER_KEY_ID = "SFOFFERKEY"


def apple_emulator_directory(settings: Settings) -> Path:
    """Where the local profile keeps the App Store emulator's test CA, keys and subscriptions:
    beside the database, so ``apple send-test-notification --cert-dir`` signs what it trusts."""
    return settings.database.parent / "apple-emulator"


def _apple(settings: Settings, metrics: Metrics, found: _Downstream) -> None:
    """The App Store: signed data, Server API, verifyReceipt, promotional offers.

    With the emulators on, everything not configured explicitly comes from the in-process App
    Store emulator: its test root, its API key, its hosts, and an offer key of its own."""
    given = settings.model_fields_set
    emulated = settings.emulators == "on"
    directory = apple_emulator_directory(settings)
    chain = CertificateChain.load_or_create(directory) if emulated else None

    roots: list[bytes] = load_root_certificates(settings.apple_root_certs)
    if not roots and chain is not None:
        roots = [chain.root_der]
    bundle_ids = settings.apple_bundle_ids or (list(APPLE_BUNDLE_TO_PLATFORM) if emulated else [])
    key = None
    if settings.apple_key_id and settings.apple_issuer_id and settings.apple_private_key_file:
        key = ApiKey(
            settings.apple_private_key_file.read_bytes(), settings.apple_key_id, settings.apple_issuer_id
        )

    emulator: Any = None
    if chain is not None:
        if key is None:
            generated = EmulatedApiKey.load_or_create(directory)
            key = ApiKey(generated.private_key_pem, generated.key_id, generated.issuer_id)
        state = AppleStoreState(directory / "subscriptions.sqlite3")
        found.closers.append(state.close)
        emulator = create_app_store_app(
            state,
            signer=AppStoreSigner(chain),
            api_key=EmulatedApiKey.from_pem(key.private_key_pem, key.key_id, key.issuer_id),
            environment=settings.apple_environment,
            app_apple_id=settings.apple_app_apple_id,
        )

    def endpoint(url: str, setting: str, emulated_path: str) -> ReceiptEndpoint:
        if emulator is not None and setting not in given:
            return ReceiptEndpoint(_keep(found, AsgiTransport(emulator, "app-store")), emulated_path)
        origin, path = split_url(url)
        return ReceiptEndpoint(_keep(found, AiohttpTransport(origin)), path)

    production = endpoint(settings.apple_verify_receipt_url, "apple_verify_receipt_url", "/verifyReceipt")
    sandbox = endpoint(
        settings.apple_sandbox_verify_receipt_url,
        "apple_sandbox_verify_receipt_url",
        "/sandbox/verifyReceipt",
    )
    found.clients["receipts"] = VerifyReceipt(
        production if settings.stage == "PROD" else sandbox,
        sandbox,
        live_password=_secret(settings.apple_shared_secret) or "",
        feast_password=_secret(settings.feast_apple_shared_secret) or "",
        metrics=metrics,
    )

    if not roots or not bundle_ids:
        found.clients["app_store"] = None
    else:
        signed_data = AppleSignedData(
            roots,
            bundle_ids,
            settings.apple_environment,
            app_apple_id=settings.apple_app_apple_id,
            online_checks=settings.apple_online_checks,
        )
        if settings.apple_api_url:
            transport: Transport = AiohttpTransport(settings.apple_api_url)
        elif emulator is not None:
            transport = AsgiTransport(emulator, "app-store")
        else:
            transport = AiohttpTransport(
                _APPLE_API_URLS.get(settings.apple_environment, _APPLE_API_URLS["Sandbox"])
            )
        found.clients["app_store"] = AppStoreServerApi(
            signed_data, _keep(found, transport), key, metrics=metrics
        )

    offers = None
    if (
        settings.apple_offer_bundle_id
        and settings.apple_offer_key_id
        and settings.apple_offer_private_key_file
    ):
        offers = PromotionalOffers(
            settings.apple_offer_private_key_file.read_bytes(),
            settings.apple_offer_key_id,
            settings.apple_offer_bundle_id,
        )
    elif emulated:
        offer_key = EmulatedApiKey.load_or_create(directory / "offers", _OFFER_KEY_ID)
        offers = PromotionalOffers(
            offer_key.private_key_pem, _OFFER_KEY_ID, bundle_ids[0] if bundle_ids else ""
        )
    found.clients["offers"] = offers


def _keep(found: _Downstream, transport: Transport) -> Transport:
    found.transports.append(transport)
    return transport


#: The in-process Play emulator's token URI: written in its service-account file, reached
#: through the in-process transport by path.
EMULATED_TOKEN_URI = "http://play.emulator/token"  # noqa: S105 (a URL)
#: The push audience of the local profile when SF_GOOGLE_PUSH_AUDIENCE is not set.
LOCAL_PUSH_AUDIENCE = "supporterflow-local-push"


def google_emulator_directory(settings: Settings) -> Path:
    """Where the local profile keeps the Play emulator's keys, service-account file and
    purchases: beside the database, for ``google send-test-notification``."""
    return settings.database.parent / "google-emulator"


def _google(settings: Settings, metrics: Metrics, found: _Downstream) -> None:
    """Google Play: service-account tokens, the Play Developer API, Pub/Sub push tokens.

    With the emulators on, what is not configured explicitly comes from the in-process Play
    emulator: its service account (file in ``google-emulator/``), its API, its push keys."""
    given = settings.model_fields_set
    emulator: Any = None
    directory = google_emulator_directory(settings)
    if settings.emulators == "on":
        directory.mkdir(parents=True, exist_ok=True)
        state = GooglePlayState(directory / "purchases.sqlite3")
        found.closers.append(state.close)
        emulator = create_play_app(
            state,
            service_account=ServiceAccount.load_or_create(directory, EMULATED_TOKEN_URI),
            push_signer=PushSigner.load_or_create(directory),
            token_uri=EMULATED_TOKEN_URI,
        )

    def reach(url: str, setting: str) -> tuple[Transport, str]:
        """The transport and path of ``url``: the emulator's own, unless set explicitly."""
        if emulator is not None and setting not in given:
            return _keep(found, AsgiTransport(emulator, "play")), urllib.parse.urlsplit(url).path
        origin, path = split_url(url)
        return _keep(found, AiohttpTransport(origin)), path

    account_file = settings.google_service_account_file
    if account_file is None and emulator is not None:
        account_file = directory / SERVICE_ACCOUNT_FILE
    if account_file is None:
        hint = "set SF_GOOGLE_SERVICE_ACCOUNT_FILE, or SF_EMULATORS=on"
        found.clients["google_tokens"] = NotConfigured("the Google service account", hint)
        found.clients["google_play"] = NotConfigured("the Play Developer API", hint)
    else:
        token_uri = (
            settings.google_oauth_token_url
            if "google_oauth_token_url" in given
            else json.loads(account_file.read_text()).get("token_uri", settings.google_oauth_token_url)
        )
        if emulator is not None and "google_service_account_file" not in given:
            token_transport: Transport = _keep(found, AsgiTransport(emulator, "play"))
        else:
            token_transport = _keep(found, AiohttpTransport(split_url(token_uri)[0]))
        tokens = GoogleAccessTokens.from_file(
            str(account_file),
            token_transport,
            token_uri=token_uri if "google_oauth_token_url" in given else None,
        )
        api, _ = reach(settings.google_play_api_url, "google_play_api_url")
        found.clients["google_tokens"] = tokens
        found.clients["google_play"] = GooglePlayApi(api, tokens, metrics)

    audience = settings.google_push_audience or (LOCAL_PUSH_AUDIENCE if emulator is not None else None)
    if audience is None:
        found.clients["push_authenticator"] = None
    else:
        certs_url = settings.google_push_certs_url
        if emulator is not None and "google_push_certs_url" not in given:
            certs_url = "http://play.emulator" + CERTS_PATH
        transport, path = reach(certs_url, "google_push_certs_url")
        email = settings.google_push_service_account or (DEFAULT_PUSH_EMAIL if emulator is not None else None)
        found.clients["push_authenticator"] = PushTokenVerifier(
            transport, path, audience=audience, service_account=email
        )
