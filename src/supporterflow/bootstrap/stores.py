"""The stores' clients: App Store (signed data, Server API, verifyReceipt, offers) and Google
Play (service-account tokens, Play Developer API, push tokens), each from its settings or, with
the emulators on, from the in-process emulator for whatever is not configured explicitly."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

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
from supporterflow.adapters.google import GoogleAccessTokens, GooglePlayApi, PushTokenVerifier
from supporterflow.adapters.outbound import AiohttpTransport, AsgiTransport, Transport
from supporterflow.bootstrap.parts import Downstream, NotConfigured, keep, secret
from supporterflow.config import Settings
from supporterflow.domain.subscriptions.platforms import APPLE_BUNDLE_TO_PLATFORM
from supporterflow.emulators.apple.app import create_app_store_app
from supporterflow.emulators.apple.auth import ApiKey as EmulatedApiKey
from supporterflow.emulators.apple.certificates import CertificateChain
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import AppleStoreState
from supporterflow.emulators.google.app import CERTS_PATH, create_play_app
from supporterflow.emulators.google.oauth import SERVICE_ACCOUNT_FILE, ServiceAccount
from supporterflow.emulators.google.push import DEFAULT_PUSH_EMAIL, PushSigner
from supporterflow.emulators.google.store import GooglePlayState
from supporterflow.runtime.metrics import Metrics

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


def apple(settings: Settings, metrics: Metrics, found: Downstream) -> None:
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
            return ReceiptEndpoint(keep(found, AsgiTransport(emulator, "app-store")), emulated_path)
        origin, path = split_url(url)
        return ReceiptEndpoint(keep(found, AiohttpTransport(origin)), path)

    production = endpoint(settings.apple_verify_receipt_url, "apple_verify_receipt_url", "/verifyReceipt")
    sandbox = endpoint(
        settings.apple_sandbox_verify_receipt_url,
        "apple_sandbox_verify_receipt_url",
        "/sandbox/verifyReceipt",
    )
    found.clients["receipts"] = VerifyReceipt(
        production if settings.stage == "PROD" else sandbox,
        sandbox,
        live_password=secret(settings.apple_shared_secret) or "",
        feast_password=secret(settings.feast_apple_shared_secret) or "",
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
            signed_data, keep(found, transport), key, metrics=metrics
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


#: The in-process Play emulator's token URI: written in its service-account file, reached
#: through the in-process transport by path.
EMULATED_TOKEN_URI = "http://play.emulator/token"  # noqa: S105 (a URL)
#: The push audience of the local profile when SF_GOOGLE_PUSH_AUDIENCE is not set.
LOCAL_PUSH_AUDIENCE = "supporterflow-local-push"


def google_emulator_directory(settings: Settings) -> Path:
    """Where the local profile keeps the Play emulator's keys, service-account file and
    purchases: beside the database, for ``google send-test-notification``."""
    return settings.database.parent / "google-emulator"


def google(settings: Settings, metrics: Metrics, found: Downstream) -> None:
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
            return keep(found, AsgiTransport(emulator, "play")), urllib.parse.urlsplit(url).path
        origin, path = split_url(url)
        return keep(found, AiohttpTransport(origin)), path

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
            token_transport: Transport = keep(found, AsgiTransport(emulator, "play"))
        else:
            token_transport = keep(found, AiohttpTransport(split_url(token_uri)[0]))
        tokens = GoogleAccessTokens.from_file(
            str(account_file),
            token_transport,
            token_uri=token_uri if "google_oauth_token_url" in given else None,
            metrics=metrics,
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
            transport, path, audience=audience, service_account=email, metrics=metrics
        )
