"""Apple: signed data, the App Store Server API, legacy ``verifyReceipt`` and promotional offers.

Everything that proves something comes from Apple's ``app-store-server-library``: the
``SignedDataVerifier`` checks every JWS against the configured roots, bundle ids and environment,
``AsyncAppStoreServerAPIClient`` builds the API calls and their bearer tokens, and
``PromotionalOfferSignatureCreator`` signs offers. What this module adds is plumbing:

- the library's async client owns an httpx client with Apple's host fixed per environment; here
  its requests go through our ``Transport`` (aiohttp to a URL, or the in-process emulator), so a
  base URL is configuration and failures mean ``Retry`` as for every other outbound call;
- with online (OCSP) checks off the library verifies the whole certificate chain of every JWS,
  three times per notification. A chain that verified at one date verifies at any other date
  inside the validity of all its certificates, so :class:`_OfflineChainCache` remembers it for
  exactly that window: the same answers, without repeating the X.509 work.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import structlog
from appstoreserverlibrary.api_client import APIException, AsyncAppStoreServerAPIClient
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.promotional_offer import PromotionalOfferSignatureCreator
from appstoreserverlibrary.signed_data_verifier import (
    SignedDataVerifier,
    VerificationException,
    _ChainVerifier,
)
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from supporterflow.adapters import pyjwt_speedup
from supporterflow.adapters.outbound import Transport, call
from supporterflow.adapters.route_templates import APP_STORE_SERVER_API
from supporterflow.domain.subscriptions.apple_receipts import (
    check_http_status,
    decode_jws_payload,
    should_retry_in_sandbox,
    verify_receipt_body,
)
from supporterflow.domain.subscriptions.apple_v2 import AppStoreSubscription, SignedNotification
from supporterflow.ports import GiveUp, Retry, SignedDataRejected
from supporterflow.runtime.metrics import Metrics

log = structlog.get_logger(__name__)
pyjwt_speedup.install()

_CACHED_CHAINS = 64
# Where the bundle id of a notification lives, by the kind of notification (Apple's
# ResponseBodyV2DecodedPayload: data, summary, externalPurchaseToken or appData).
_NOTIFICATION_BODIES = ("data", "summary", "externalPurchaseToken", "appData")


def load_root_certificates(paths: Sequence[str | Path]) -> list[bytes]:
    """DER bytes of each root (files may be PEM or DER), as the verifier wants them."""
    roots = []
    for path in paths:
        data = Path(path).read_bytes()
        if b"-----BEGIN CERTIFICATE-----" in data:
            data = x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
        roots.append(data)
    return roots


class _OfflineChainCache(_ChainVerifier):
    """The library's chain verifier, remembering offline verifications for the dates at which
    every certificate involved (leaf, intermediate and each configured root) is valid."""

    def __init__(self, root_certificates: list[bytes]) -> None:
        super().__init__(root_certificates)
        roots = [x509.load_der_x509_certificate(root) for root in root_certificates]
        self._roots_window = (
            max((r.not_valid_before_utc.timestamp() for r in roots), default=0.0),
            min((r.not_valid_after_utc.timestamp() for r in roots), default=0.0),
        )
        self._verified: dict[tuple[str, ...], tuple[str, float, float]] = {}

    def verify_chain(self, certificates: list[str], perform_online_checks: bool, effective_date: int) -> str:
        if perform_online_checks:
            return super().verify_chain(certificates, perform_online_checks, effective_date)
        key = tuple(certificates)
        known = self._verified.get(key)
        if known is not None and known[1] <= effective_date <= known[2]:
            return known[0]
        public_key = super().verify_chain(certificates, perform_online_checks, effective_date)
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in certificates[:2]]
        not_before = max([self._roots_window[0], *(c.not_valid_before_utc.timestamp() for c in chain)])
        not_after = min([self._roots_window[1], *(c.not_valid_after_utc.timestamp() for c in chain)])
        if len(self._verified) >= _CACHED_CHAINS:
            self._verified.clear()
        self._verified[key] = (public_key, not_before, not_after)
        return public_key


def _unverified_payload(signed: object) -> dict[str, Any]:
    """The payload of a JWS-shaped string, or ``SignedDataRejected(malformed=True)``."""
    if not isinstance(signed, str) or signed.count(".") != 2:
        raise SignedDataRejected("not a JWS (three base64url parts)", malformed=True)
    try:
        header = jwt.get_unverified_header(signed)
    except jwt.InvalidTokenError as error:
        # InvalidTokenError, not only its DecodeError: a header with a non-string "kid" or an
        # unknown "crit" fails PyJWT's header checks. Anyone can POST it: a 400, not a crash.
        raise SignedDataRejected(f"not a JWS: {error}", malformed=True) from None
    try:
        payload = decode_jws_payload(signed)  # also refuses a payload nested thousands deep
    except ValueError as error:
        raise SignedDataRejected(str(error), malformed=True) from None
    if not isinstance(header, dict):
        raise SignedDataRejected("the JWS header is not an object", malformed=True)
    return payload


class AppleSignedData:
    """One ``SignedDataVerifier`` per accepted bundle id, sharing one chain cache."""

    def __init__(
        self,
        root_certificates: list[bytes],
        bundle_ids: Sequence[str],
        environment: str,
        *,
        app_apple_id: int | None = None,
        online_checks: bool = False,
    ) -> None:
        self.bundle_ids = list(bundle_ids)
        self.environment = environment
        chains = _OfflineChainCache(root_certificates)
        self._verifiers: dict[str, SignedDataVerifier] = {}
        for bundle_id in bundle_ids:
            verifier = SignedDataVerifier(
                root_certificates, online_checks, Environment(environment), bundle_id, app_apple_id
            )
            verifier._chain_verifier = chains
            self._verifiers[bundle_id] = verifier

    def _verifier(self, bundle_id: object) -> SignedDataVerifier:
        verifier = self._verifiers.get(bundle_id) if isinstance(bundle_id, str) else None
        if verifier is None:
            raise SignedDataRejected(f"bundle id {bundle_id!r} is not accepted (SF_APPLE_BUNDLE_IDS)")
        return verifier

    def verify_notification(self, signed_payload: str) -> SignedNotification:
        payload = _unverified_payload(signed_payload)
        if not isinstance(payload.get("notificationType"), str) or not isinstance(
            payload.get("notificationUUID"), str
        ):
            raise SignedDataRejected("no notificationType or notificationUUID", malformed=True)
        body: dict[str, Any] = next(
            (payload[k] for k in _NOTIFICATION_BODIES if isinstance(payload.get(k), dict)), {}
        )
        verifier = self._verifier(body.get("bundleId"))
        try:
            verifier.verify_and_decode_notification(signed_payload)
        except VerificationException as error:
            raise SignedDataRejected(f"signedPayload: {error.status.name}") from None
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        assert isinstance(data, dict)
        transaction = renewal = None
        if "signedTransactionInfo" in data:
            transaction = self._verified(data["signedTransactionInfo"], verifier, renewal=False)
        if "signedRenewalInfo" in data:
            renewal = self._verified(data["signedRenewalInfo"], verifier, renewal=True)
        return SignedNotification(payload, transaction, renewal)

    def verify_item(self, signed: str, bundle_id: str, *, renewal: bool) -> dict[str, Any]:
        """A ``signedTransactionInfo`` / ``signedRenewalInfo`` from the Server API."""
        return self._verified(signed, self._verifier(bundle_id), renewal=renewal)

    @staticmethod
    def _verified(signed: object, verifier: SignedDataVerifier, *, renewal: bool) -> dict[str, Any]:
        """Verified by the library first, decoded after: a nested item needs no 400-or-401
        triage, and PyJWT's parse of a JWS is the most expensive step there is (it checks each
        character of every segment in Python), so it is not done once more beforehand."""
        name = "signedRenewalInfo" if renewal else "signedTransactionInfo"
        if not isinstance(signed, str) or signed.count(".") != 2:
            raise SignedDataRejected("not a JWS (three base64url parts)", malformed=True)
        try:
            if renewal:
                verifier.verify_and_decode_renewal_info(signed)
            else:
                verifier.verify_and_decode_signed_transaction(signed)
        except VerificationException as error:
            raise SignedDataRejected(f"{name}: {error.status.name}") from None
        return decode_jws_payload(signed)


@dataclass(frozen=True)
class _Response:
    """What the library's client reads of an httpx response."""

    status_code: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _TransportClient(AsyncAppStoreServerAPIClient):
    """The library's async client for one bundle id, its requests sent through ``transport``.

    Only the request execution is replaced: paths, bearer tokens and response parsing stay the
    library's. The base URL is the transport's."""

    def __init__(
        self,
        transport: Transport,
        signing_key: bytes,
        key_id: str,
        issuer_id: str,
        bundle_id: str,
        environment: Environment,
        metrics: Metrics | None,
    ) -> None:
        # Not AsyncAppStoreServerAPIClient.__init__: it would open an httpx client never used.
        super(AsyncAppStoreServerAPIClient, self).__init__(
            signing_key, key_id, issuer_id, bundle_id, environment
        )
        self._base_url = ""
        self._transport = transport
        self._metrics = metrics

    async def _execute_request(
        self,
        method: str,
        url: str,
        params: dict[str, str | list[str]],
        headers: dict[str, str],
        json: dict[str, Any] | None,
        data: bytes | None,
    ) -> _Response:
        query = urllib.parse.urlencode(params, doseq=True)
        path = f"{url}?{query}" if query else url
        endpoint = APP_STORE_SERVER_API.endpoint(method, url)  # the route's template: no identifiers
        reply = await call(
            self._transport,
            method,
            path,
            service="app-store",
            endpoint=endpoint,
            metrics=self._metrics,
            json=json,
            headers=headers,
        )
        try:
            reply.json()
            kind = "application/json"
        except ValueError:
            kind = "text/plain"
        return _Response(reply.status, {"content-type": kind}, reply.body)


@dataclass(frozen=True)
class ApiKey:
    """An App Store Connect API key (``SF_APPLE_KEY_ID``, ``_ISSUER_ID``, ``_PRIVATE_KEY_FILE``)."""

    private_key_pem: bytes
    key_id: str
    issuer_id: str


class AppStoreServerApi:
    """Signed notifications, and Get All Subscription Statuses with every signed item verified
    before it is believed. Without ``transport`` and ``key`` only notifications are verified;
    a lookup then raises ``Retry`` saying what to configure."""

    def __init__(
        self,
        signed_data: AppleSignedData,
        transport: Transport | None = None,
        key: ApiKey | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._signed_data = signed_data
        self.bundle_ids: Sequence[str] = signed_data.bundle_ids
        environment = Environment(signed_data.environment)
        self._clients = (
            {
                bundle_id: _TransportClient(
                    transport, key.private_key_pem, key.key_id, key.issuer_id, bundle_id, environment, metrics
                )
                for bundle_id in signed_data.bundle_ids
            }
            if transport is not None and key is not None
            else {}
        )

    def verify_notification(self, signed_payload: str) -> SignedNotification:
        return self._signed_data.verify_notification(signed_payload)

    async def subscription(self, original_transaction_id: str, bundle_id: str) -> AppStoreSubscription | None:
        if not self._clients:
            raise Retry(
                "the App Store Server API is not configured: "
                "set SF_APPLE_KEY_ID, _ISSUER_ID and _PRIVATE_KEY_FILE"
            )
        client = self._clients.get(bundle_id)
        if client is None:
            raise GiveUp(f"bundle id {bundle_id!r} is not accepted (SF_APPLE_BUNDLE_IDS)")
        try:
            response = await client.get_all_subscription_statuses(original_transaction_id)
        except APIException as error:
            if error.http_status_code == 404:
                return None
            if error.http_status_code in (401, 403):
                # A key or configuration problem: retried (then dead-lettered) so that the
                # messages can be replayed once an operator has fixed it.
                raise Retry(
                    f"the App Store Server API refused the key (HTTP {error.http_status_code})"
                ) from None
            raise GiveUp(
                f"the App Store Server API refused the request (HTTP {error.http_status_code}, "
                f"{error.raw_api_error}: {error.error_message})"
            ) from None
        except (ValueError, ExceptionGroup) as error:
            # A 2xx whose body is not JSON (ValueError) or not a StatusResponse (cattrs'
            # validation errors are ExceptionGroups): a proxy or an incident, not an answer.
            raise Retry(
                f"the App Store Server API answered something unreadable ({type(error).__name__})"
            ) from None
        if not response.data:
            # Apple answers 404 for an id it does not know; a 2xx without data is not an answer.
            raise Retry("the App Store Server API answered no subscription data")
        for group in response.data:
            for item in group.lastTransactions or []:
                if item.originalTransactionId != original_transaction_id or not item.signedTransactionInfo:
                    continue
                try:
                    transaction = self._signed_data.verify_item(
                        item.signedTransactionInfo, bundle_id, renewal=False
                    )
                    renewal = (
                        self._signed_data.verify_item(item.signedRenewalInfo, bundle_id, renewal=True)
                        if item.signedRenewalInfo
                        else None
                    )
                except SignedDataRejected as error:
                    raise GiveUp(
                        f"the App Store Server API answered data that does not verify: {error}"
                    ) from None
                if item.rawStatus is None:
                    raise GiveUp("the App Store Server API answered an item without a status")
                return AppStoreSubscription(
                    status=int(item.rawStatus),
                    transaction=transaction,
                    renewal=renewal,
                    environment=str(response.rawEnvironment or self._signed_data.environment),
                    bundle_id=bundle_id,
                )
        return None


@dataclass(frozen=True)
class ReceiptEndpoint:
    """Where one verifyReceipt host is reached: a transport and the path on it."""

    transport: Transport
    path: str


class VerifyReceipt:
    """Legacy ``verifyReceipt`` (spec §3.4 steps 1-3). ``primary`` is the production host in
    PROD and the sandbox host on every other stage, as upstream chose by stage."""

    def __init__(
        self,
        primary: ReceiptEndpoint,
        sandbox: ReceiptEndpoint,
        *,
        live_password: str,
        feast_password: str,
        metrics: Metrics | None = None,
    ) -> None:
        self._primary, self._sandbox = primary, sandbox
        self._passwords = {False: live_password, True: feast_password}
        self._metrics = metrics

    async def _post(self, endpoint: ReceiptEndpoint, receipt: str, password: str) -> dict[str, Any]:
        reply = await call(
            endpoint.transport,
            "POST",
            endpoint.path,
            service="apple-verify-receipt",
            endpoint="verifyReceipt",
            metrics=self._metrics,
            json=verify_receipt_body(receipt, password),
        )
        check = check_http_status(reply.status)
        if check.error() is not None:
            raise Retry(f"verifyReceipt: {check.message} (HTTP {reply.status})")
        try:
            body = reply.json()
        except ValueError:
            raise Retry("verifyReceipt answered something that is not JSON") from None
        if not isinstance(body, dict):
            raise Retry("verifyReceipt answered JSON that is not an object")
        return body

    async def verify(self, receipt: str, *, feast: bool, sandbox_retry: bool) -> dict[str, Any]:
        password = self._passwords[feast]
        body = await self._post(self._primary, receipt, password)
        if should_retry_in_sandbox(body, sandbox_retry=sandbox_retry):
            # Upstream sends the Live secret here whatever the app (§13.2.1); the app's own is right.
            body = await self._post(self._sandbox, receipt, password)
        return body


class PromotionalOffers:
    """Signs promotional offers with the configured key (spec §3.9)."""

    def __init__(self, private_key_pem: bytes, key_id: str, bundle_id: str) -> None:
        self.key_id = key_id
        self._creator = PromotionalOfferSignatureCreator(private_key_pem, key_id, bundle_id)

    def sign(self, *, product_id: str, offer_id: str, username: str, nonce: Any, timestamp_ms: int) -> str:
        signature: str = self._creator.create_signature(product_id, offer_id, username, nonce, timestamp_ms)
        return signature


def split_url(url: str) -> tuple[str, str]:
    """``https://host/path`` -> (``https://host``, ``/path``): a transport per origin."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc}", parts.path or "/"
