"""Clients of the authorities the flows deliver to and fetch from."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urlsplit

from supporterflow.adapters.acquisition_api import HttpAcquisitionApi, split_endpoint
from supporterflow.adapters.apple import split_url
from supporterflow.adapters.braze import BrazeIdentityLookup
from supporterflow.adapters.erpnext import ErpNextClient
from supporterflow.adapters.identity_api import HttpIdentityApi
from supporterflow.adapters.oidc import OidcUserTokens
from supporterflow.adapters.outbound import AiohttpTransport, AsgiTransport, Transport
from supporterflow.adapters.user_service import HttpUserService
from supporterflow.bootstrap.parts import Downstream, NotConfigured, keep, secret, transport_for
from supporterflow.bootstrap.stores import apple, google
from supporterflow.config import Settings
from supporterflow.emulators.acquisition_api import create_acquisition_api_app
from supporterflow.emulators.braze import create_braze_app
from supporterflow.emulators.erpnext import create_erpnext_app
from supporterflow.emulators.identity_api import IdentityApiState, create_identity_api_app
from supporterflow.emulators.oidc import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    JWKS_PATH,
    OidcIssuer,
    create_oidc_app,
)
from supporterflow.emulators.user_service import create_user_service_app
from supporterflow.runtime.metrics import Metrics


def downstream_clients(settings: Settings, metrics: Metrics) -> Downstream:
    """Clients of the authorities the flows deliver to. A key set explicitly always wins over what
    an emulator would be configured with (architecture.md, configuration contract)."""
    found = Downstream()

    user_key = secret(settings.user_service_api_key) or secrets.token_urlsafe(16)
    transport = transport_for(
        settings.user_service_url, settings, lambda: create_user_service_app(user_key), "user-service"
    )
    if transport is None:
        found.unavailable["user_service"] = "set SF_USER_SERVICE_URL and _API_KEY, or SF_EMULATORS=on"
    else:
        found.clients["user_service"] = HttpUserService(transport, user_key, metrics)
        found.transports.append(transport)

    erp_key = secret(settings.erpnext_api_key) or secrets.token_hex(8)
    erp_secret = secret(settings.erpnext_api_secret) or secrets.token_hex(8)
    transport = transport_for(
        settings.erpnext_url, settings, lambda: create_erpnext_app(erp_key, erp_secret), "erpnext"
    )
    if transport is None:
        found.unavailable["erp"] = "set SF_ERPNEXT_URL, _API_KEY and _API_SECRET, or SF_EMULATORS=on"
    else:
        found.clients["erp"] = ErpNextClient(transport, erp_key, erp_secret, metrics)
        found.transports.append(transport)

    braze_key = secret(settings.braze_api_key) or secrets.token_urlsafe(16)
    transport = transport_for(settings.braze_url, settings, lambda: create_braze_app(braze_key), "braze")
    if transport is None:
        # Only the Feast flows need it: the others run, and a Feast fetch waits in the DLQ.
        found.clients["identity_lookup"] = NotConfigured(
            "the Braze identity lookup", "set SF_BRAZE_URL and SF_BRAZE_API_KEY, or SF_EMULATORS=on"
        )
    else:
        found.clients["identity_lookup"] = BrazeIdentityLookup(transport, braze_key, metrics)
        found.transports.append(transport)

    identity_api(settings, metrics, found)
    user_tokens(settings, metrics, found)
    admin_oidc(settings, found)
    acquisition_api(settings, metrics, found)
    apple(settings, metrics, found)
    google(settings, metrics, found)
    return found


def identity_api_emulator_path(settings: Settings) -> Path:
    """Where the local profile keeps the identity API emulator's users: beside the database, so
    ``supporterflow emulate identity-api --state <this file>`` can register users for the
    in-process emulator (docs/emulators.md)."""
    return settings.database.parent / "identity-api-emulator.sqlite3"


def identity_api(settings: Settings, metrics: Metrics, found: Downstream) -> None:
    """The identity API's email lookup (soft opt-in emails): ``SF_IDENTITY_API_URL`` (its path,
    if any, prefixes ``/user/<id>``), else with the emulators on the in-process emulator, else a
    stand-in that makes the lookup ``Retry`` with what to set."""
    key = secret(settings.identity_api_key) or secrets.token_urlsafe(16)
    transport: Transport | None = None
    base_path = ""
    if settings.identity_api_url:
        origin, base_path = split_url(settings.identity_api_url)
        transport = AiohttpTransport(origin)
    elif settings.emulators == "on":
        path = identity_api_emulator_path(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = IdentityApiState(path)
        found.closers.append(state.close)
        transport = AsgiTransport(create_identity_api_app(key, state), "identity-api")
    if transport is None:
        # Only the soft opt-in emails need it: the rest runs, and a lookup ends in a DLQ.
        found.clients["identity_api"] = NotConfigured(
            "the identity API", "set SF_IDENTITY_API_URL and SF_IDENTITY_API_KEY, or SF_EMULATORS=on"
        )
    else:
        found.clients["identity_api"] = HttpIdentityApi(transport, key, metrics, base_path=base_path)
        found.transports.append(transport)


def user_tokens(settings: Settings, metrics: Metrics, found: Downstream) -> None:
    """Users' OIDC access tokens (link and user endpoints): the configured issuer, or with the
    emulators on the in-process OIDC emulator (keys in ``oidc-emulator/`` beside the database,
    so ``emulate oidc-token --cert-dir`` mints tokens the service accepts). None when neither:
    the endpoints then answer 401 saying OIDC is not configured."""
    if settings.oidc_jwks_url and settings.oidc_issuer and settings.oidc_audience:
        origin, path = split_endpoint(settings.oidc_jwks_url)
        transport: Transport = AiohttpTransport(origin)
        issuer, audience = settings.oidc_issuer, settings.oidc_audience
    elif settings.emulators == "on":
        issuer = settings.oidc_issuer or DEFAULT_ISSUER
        audience = settings.oidc_audience or DEFAULT_AUDIENCE
        keys = OidcIssuer.load_or_create(oidc_emulator_directory(settings), issuer, audience=audience)
        transport, path = AsgiTransport(create_oidc_app(keys), "oidc"), JWKS_PATH
    else:
        found.clients["user_tokens"] = None
        return
    found.transports.append(transport)
    found.clients["user_tokens"] = OidcUserTokens(
        transport,
        path,
        issuer=issuer,
        audience=audience,
        scope=settings.oidc_scope,
        user_id_claim=settings.oidc_user_id_claim,
        metrics=metrics,
    )


def admin_oidc(settings: Settings, found: Downstream) -> None:
    """The transport to the dashboard's OpenID provider (``SF_ADMIN_OIDC_ISSUER``), None when
    unset. Its discovery document, token endpoint and keys are called with absolute URLs, as a
    provider may serve them from other hosts than the issuer's. There is no in-process emulator
    here: the browser must reach the provider too (``supporterflow emulate oidc`` does)."""
    if not settings.admin_oidc_issuer:
        found.clients["admin_oidc_transport"] = None
        return
    parts = urlsplit(settings.admin_oidc_issuer)
    found.clients["admin_oidc_transport"] = keep(found, AiohttpTransport(f"{parts.scheme}://{parts.netloc}"))


def oidc_emulator_directory(settings: Settings) -> Path:
    return settings.database.parent / "oidc-emulator"


def acquisition_api(settings: Settings, metrics: Metrics, found: Downstream) -> None:
    """Support's Acquisition API for the Feast acquisition events: wherever
    ``SF_ACQUISITION_API_URL`` points (the original posted in PROD only), else the in-process
    emulator; without either the events wait in their DLQs, replayable."""
    path = "/"
    transport: Transport | None = None
    if settings.acquisition_api_url:
        origin, path = split_endpoint(settings.acquisition_api_url)
        transport = AiohttpTransport(origin)
    elif settings.emulators == "on":
        transport = AsgiTransport(create_acquisition_api_app(), "acquisition-api")
    if transport is None:
        found.clients["acquisition_api"] = NotConfigured(
            "the Acquisition API", "set SF_ACQUISITION_API_URL, or SF_EMULATORS=on"
        )
        return
    found.transports.append(transport)
    found.clients["acquisition_api"] = HttpAcquisitionApi(transport, path, metrics)
