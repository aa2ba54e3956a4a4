"""V2 signed data is believed only when it verifies to the configured root: ``AppleSignedData``
directly and through ``POST /apple/pubsub`` (spec §5.1; issue 5: "a payload signed by a chain not
under the configured root, a tampered payload, a wrong bundle id, an expired leaf, a missing
``x5c``, ``alg: none`` -> rejected with nothing stored").

Why both levels: the adapter decides *what* is wrong (``SignedDataRejected`` and its
``malformed`` flag), the route turns that into 401 / 400 and must not have written anything by
then. Chains come from the emulator's ``generate_chain()``: the trusted one has a leaf that
expires in 2025 while its root and intermediate last until 2040, so "expired leaf" is a matter
of ``signedDate`` alone and every date here is fixed (nothing depends on today's date).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.signed_data_verifier import (
    SignedDataVerifier,
    VerificationException,
    _ChainVerifier,
)

from supporterflow.adapters.apple import AppleSignedData
from supporterflow.bootstrap import Container
from supporterflow.emulators.apple.certificates import NOT_BEFORE, CertificateChain, generate_chain
from supporterflow.emulators.apple.signing import AppStoreSigner, notification_payload
from supporterflow.entrypoints.http import create_app
from supporterflow.ports import SignedDataRejected
from supporterflow.topology import TOPOLOGY
from tests.support import open_container

BUNDLE = "uk.co.guardian.iphone2"
FEAST_BUNDLE = "uk.co.guardian.Feast"
OTHER_BUNDLE = "com.example.other"
PRODUCT = "uk.co.guardian.gla.1month"
OTID = "2000000100"
UUID = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"

LEAF_NOT_AFTER = datetime(2025, 1, 1, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


VALID_DATE = _ms(datetime(2024, 6, 1, 12, tzinfo=UTC))  # inside every certificate's validity
EXPIRED_DATE = _ms(datetime(2025, 6, 1, 12, tzinfo=UTC))  # the leaf ended 2025-01-01, the CA did not
QUEUES = ("apple-subscriptions-to-fetch", "feast-apple-subscriptions-to-fetch")


@dataclass(frozen=True)
class Chains:
    """``trusted`` is the configured root's chain; ``foreign`` is shaped the same under another root."""

    trusted: AppStoreSigner
    foreign: AppStoreSigner


@pytest.fixture(scope="module")
def chains() -> Chains:
    return Chains(
        trusted=AppStoreSigner(generate_chain(leaf_not_after=LEAF_NOT_AFTER)),
        foreign=AppStoreSigner(generate_chain()),
    )


def transaction(
    *, bundle_id: str = BUNDLE, environment: str = "Sandbox", signed_date: int = VALID_DATE
) -> dict[str, Any]:
    """A ``JWSTransactionDecodedPayload``, Apple's field names."""
    return {
        "transactionId": "2000000111",
        "originalTransactionId": OTID,
        "bundleId": bundle_id,
        "productId": PRODUCT,
        "purchaseDate": signed_date - 86_400_000,
        "originalPurchaseDate": signed_date - 86_400_000,
        "expiresDate": signed_date + 29 * 86_400_000,
        "quantity": 1,
        "type": "Auto-Renewable Subscription",
        "inAppOwnershipType": "PURCHASED",
        "signedDate": signed_date,
        "environment": environment,
        "transactionReason": "PURCHASE",
    }


def renewal(*, environment: str = "Sandbox", signed_date: int = VALID_DATE) -> dict[str, Any]:
    """A ``JWSRenewalInfoDecodedPayload``."""
    return {
        "originalTransactionId": OTID,
        "autoRenewProductId": PRODUCT,
        "productId": PRODUCT,
        "autoRenewStatus": 1,
        "signedDate": signed_date,
        "environment": environment,
    }


def payload(
    signer: AppStoreSigner,
    *,
    bundle_id: str = BUNDLE,
    environment: str = "Sandbox",
    signed_date: int = VALID_DATE,
    signed_transaction_info: str | None = None,
    signed_renewal_info: str | None = None,
) -> dict[str, Any]:
    """A ``SUBSCRIBED`` notification payload whose nested items ``signer`` signed, unless given."""
    return notification_payload(
        notification_type="SUBSCRIBED",
        subtype="INITIAL_BUY",
        bundle_id=bundle_id,
        environment=environment,
        signed_date=signed_date,
        signed_transaction_info=signed_transaction_info
        or signer.sign(transaction(bundle_id=bundle_id, environment=environment, signed_date=signed_date)),
        signed_renewal_info=signed_renewal_info
        or signer.sign(renewal(environment=environment, signed_date=signed_date)),
        status=1,
        notification_uuid=UUID,
    )


def signed(signer: AppStoreSigner, **changes: Any) -> str:
    return signer.sign(payload(signer, **changes))


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def tampered(jws: str, change: Callable[[dict[str, Any]], None]) -> str:
    """``jws`` with its payload segment rewritten after signing; header and signature kept."""
    header, body, signature = jws.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    change(decoded)
    return f"{header}.{_segment(decoded)}.{signature}"


def _refund(decoded: dict[str, Any]) -> None:
    decoded["notificationType"] = "REFUND"


def _longer(decoded: dict[str, Any]) -> None:
    decoded["expiresDate"] += 365 * 86_400_000


# --- the cases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejected:
    """A ``signedPayload`` and how it must be refused: ``malformed`` -> 400, else 401."""

    name: str
    build: Callable[[Chains], object]
    malformed: bool
    reason: str


def _alg_none(chains: Chains) -> str:
    """Apple's header with ``alg: none`` and an empty signature: the chain is fine, nothing is signed."""
    header = {"alg": "none", "x5c": chains.trusted.chain.x5c}
    return f"{_segment(header)}.{_segment(payload(chains.trusted))}."


def _no_x5c(chains: Chains) -> str:
    return jwt.encode(payload(chains.trusted), chains.trusted.chain.leaf_key, algorithm="ES256")


def _leaf_only(chains: Chains) -> str:
    chain = chains.trusted.chain
    return jwt.encode(
        payload(chains.trusted), chain.leaf_key, algorithm="ES256", headers={"x5c": chain.x5c[:1]}
    )


def _nested_tampered(chains: Chains) -> str:
    inner = tampered(chains.trusted.sign(transaction()), _longer)
    return signed(chains.trusted, signed_transaction_info=inner)


def _nested_foreign_renewal(chains: Chains) -> str:
    return signed(chains.trusted, signed_renewal_info=chains.foreign.sign(renewal()))


def _nested_other_bundle(chains: Chains) -> str:
    # Both bundles are accepted, but a notification of one app must not carry another's transaction.
    inner = chains.trusted.sign(transaction(bundle_id=FEAST_BUNDLE))
    return signed(chains.trusted, signed_transaction_info=inner)


def _nested_production(chains: Chains) -> str:
    inner = chains.trusted.sign(transaction(environment="Production"))
    return signed(chains.trusted, signed_transaction_info=inner)


def _nested_garbage(chains: Chains) -> str:
    return signed(chains.trusted, signed_transaction_info="not-a-jws")


def _kid_not_a_string(chains: Chains) -> str:
    return f"{_segment({'alg': 'ES256', 'kid': 5})}.{_segment(payload(chains.trusted))}.c2ln"


def _unknown_crit(chains: Chains) -> str:
    header = {"alg": "ES256", "crit": ["exp"], "exp": 1}
    return f"{_segment(header)}.{_segment(payload(chains.trusted))}.c2ln"


def _deeply_nested() -> str:
    body = base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).rstrip(b"=").decode()
    return f"{_segment({'alg': 'ES256'})}.{body}.c2ln"


def _array_payload() -> str:
    body = base64.urlsafe_b64encode(b"[1, 2]").rstrip(b"=").decode()
    return f"{_segment({'alg': 'ES256'})}.{body}.c2ln"


def _no_uuid(chains: Chains) -> str:
    without = payload(chains.trusted)
    del without["notificationUUID"]
    return chains.trusted.sign(without)


CASES = [
    Rejected("foreign-root", lambda c: signed(c.foreign), False, "signedPayload: VERIFICATION_FAILURE"),
    Rejected(
        "tampered-payload",
        lambda c: tampered(signed(c.trusted), _refund),
        False,
        "signedPayload: VERIFICATION_FAILURE",
    ),
    Rejected(
        "wrong-bundle",
        lambda c: signed(c.trusted, bundle_id=OTHER_BUNDLE),
        False,
        "bundle id 'com.example.other' is not accepted",
    ),
    Rejected(
        "expired-leaf",
        lambda c: signed(c.trusted, signed_date=EXPIRED_DATE),
        False,
        "signedPayload: VERIFICATION_FAILURE",
    ),
    Rejected("missing-x5c", _no_x5c, False, "signedPayload: VERIFICATION_FAILURE"),
    Rejected("alg-none", _alg_none, False, "signedPayload: VERIFICATION_FAILURE"),
    Rejected("leaf-only-x5c", _leaf_only, False, "signedPayload: INVALID_CHAIN_LENGTH"),
    Rejected(
        "wrong-environment",
        lambda c: signed(c.trusted, environment="Production"),
        False,
        "signedPayload: INVALID_ENVIRONMENT",
    ),
    Rejected("nested-tampered", _nested_tampered, False, "signedTransactionInfo: VERIFICATION_FAILURE"),
    Rejected(
        "nested-foreign-root", _nested_foreign_renewal, False, "signedRenewalInfo: VERIFICATION_FAILURE"
    ),
    Rejected(
        "nested-other-bundle", _nested_other_bundle, False, "signedTransactionInfo: INVALID_APP_IDENTIFIER"
    ),
    Rejected("nested-production", _nested_production, False, "signedTransactionInfo: INVALID_ENVIRONMENT"),
    Rejected("nested-garbage", _nested_garbage, True, "not a JWS (three base64url parts)"),
    Rejected("two-parts", lambda c: "a.b", True, "not a JWS (three base64url parts)"),
    Rejected("no-dots", lambda c: "not-a-jws", True, "not a JWS (three base64url parts)"),
    Rejected("bad-base64", lambda c: "a.b.c", True, "not a JWS: Invalid header padding"),
    Rejected(
        "kid-not-a-string", _kid_not_a_string, True, "not a JWS: Key ID header parameter must be a string"
    ),
    Rejected("unknown-crit", _unknown_crit, True, "not a JWS: Unsupported critical extension: exp"),
    Rejected("deeply-nested", lambda c: _deeply_nested(), True, "not a JWS: maximum recursion depth"),
    Rejected("array-payload", lambda c: _array_payload(), True, "not a JWS: its payload is not an object"),
    Rejected("no-notification-uuid", _no_uuid, True, "no notificationType or notificationUUID"),
]


def verifier(
    chains: Chains, *, environment: str = "Sandbox", app_apple_id: int | None = None
) -> AppleSignedData:
    return AppleSignedData(
        [chains.trusted.chain.root_der], [BUNDLE, FEAST_BUNDLE], environment, app_apple_id=app_apple_id
    )


# --- AppleSignedData -----------------------------------------------------------------------------


def test_a_notification_signed_under_the_root_is_decoded_with_its_nested_items(chains: Chains) -> None:
    """The control case: without it every rejection below could be a verifier that accepts nothing."""
    sent = payload(chains.trusted)
    verified = verifier(chains).verify_notification(chains.trusted.sign(sent))
    assert verified.payload == sent
    assert verified.transaction == transaction()
    assert verified.renewal == renewal()


def test_a_feast_notification_is_verified_for_the_feast_bundle(chains: Chains) -> None:
    verified = verifier(chains).verify_notification(signed(chains.trusted, bundle_id=FEAST_BUNDLE))
    assert verified.transaction == transaction(bundle_id=FEAST_BUNDLE)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_adapter_rejects(chains: Chains, case: Rejected) -> None:
    signed_payload = case.build(chains)
    with pytest.raises(SignedDataRejected) as rejected:
        verifier(chains).verify_notification(signed_payload)  # type: ignore[arg-type]
    assert rejected.value.malformed is case.malformed
    assert str(rejected.value).startswith(case.reason), str(rejected.value)


LIBRARY_CAUSES = {
    "foreign-root": "unable to get local issuer certificate",
    "tampered-payload": "Signature verification failed",
    "expired-leaf": "certificate has expired",
    "missing-x5c": "x5c claim was empty",
    "alg-none": "Algorithm was not ES256",
}


@pytest.mark.parametrize("name", list(LIBRARY_CAUSES))
def test_each_case_fails_in_the_library_for_the_reason_it_is_named_after(chains: Chains, name: str) -> None:
    """The adapter only says VERIFICATION_FAILURE; the library's own cause shows that each case
    is refused for what it claims to test (an expired leaf, not some other flaw of the test chain)."""
    [case] = [case for case in CASES if case.name == name]
    plain = SignedDataVerifier([chains.trusted.chain.root_der], False, Environment.SANDBOX, BUNDLE)
    with pytest.raises(VerificationException) as failed:
        plain.verify_and_decode_notification(case.build(chains))  # type: ignore[arg-type]
    assert str(failed.value.__cause__) == LIBRARY_CAUSES[name]


@pytest.mark.parametrize("value", [5, None, ["a", "b", "c"], {"a": 1}])
def test_a_signed_payload_that_is_not_a_string_is_malformed(chains: Chains, value: object) -> None:
    with pytest.raises(SignedDataRejected, match="three base64url parts") as rejected:
        verifier(chains).verify_notification(value)  # type: ignore[arg-type]
    assert rejected.value.malformed is True


def test_production_data_needs_the_configured_app_apple_id(chains: Chains) -> None:
    """In Production the notification must also name our App Apple ID."""
    production = verifier(chains, environment="Production", app_apple_id=1234)
    ours = chains.trusted.sign(
        notification_payload(
            notification_type="TEST",
            subtype=None,
            bundle_id=BUNDLE,
            environment="Production",
            signed_date=VALID_DATE,
            app_apple_id=1234,
        )
    )
    verified = production.verify_notification(ours)
    assert (verified.payload["data"]["appAppleId"], verified.transaction) == (1234, None)
    other_app = chains.trusted.sign(
        notification_payload(
            notification_type="TEST",
            subtype=None,
            bundle_id=BUNDLE,
            environment="Production",
            signed_date=VALID_DATE,
            app_apple_id=9999,
        )
    )
    with pytest.raises(SignedDataRejected, match=r"^signedPayload: INVALID_APP_IDENTIFIER$"):
        production.verify_notification(other_app)


# --- the offline chain cache ---------------------------------------------------------------------


class _Counting:
    """Counts the library's full X.509 chain verifications, to tell a cache hit from a miss."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = _ChainVerifier._verify_chain_without_caching

        def counted(
            verifier: _ChainVerifier,
            certificates: list[str],
            perform_online_checks: bool,
            effective_date: int,
        ) -> str:
            self.calls += 1
            key: str = original(
                verifier,
                certificates=certificates,
                perform_online_checks=perform_online_checks,
                effective_date=effective_date,
            )
            return key

        monkeypatch.setattr(_ChainVerifier, "_verify_chain_without_caching", counted)


def _test_notification(signer: AppStoreSigner, signed_date: int) -> str:
    return signer.sign(
        notification_payload(
            notification_type="TEST",
            subtype=None,
            bundle_id=BUNDLE,
            environment="Sandbox",
            signed_date=signed_date,
        )
    )


def test_a_chain_verified_once_is_still_refused_outside_the_leafs_validity(
    chains: Chains, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache remembers a chain for the dates at which all its certificates are valid, and no
    others: a date after the leaf expired (or before it began) is checked again, and fails."""
    counting = _Counting(monkeypatch)
    signed_data = verifier(chains)
    signed_data.verify_notification(_test_notification(chains.trusted, VALID_DATE))
    assert counting.calls == 1

    later_inside = VALID_DATE + 90 * 86_400_000
    signed_data.verify_notification(_test_notification(chains.trusted, later_inside))
    assert counting.calls == 1  # answered from the cache

    for outside in (EXPIRED_DATE, _ms(NOT_BEFORE) - 1000):
        with pytest.raises(SignedDataRejected, match=r"^signedPayload: VERIFICATION_FAILURE$"):
            signed_data.verify_notification(_test_notification(chains.trusted, outside))
    assert counting.calls == 3  # both went to the full verification

    signed_data.verify_notification(_test_notification(chains.trusted, VALID_DATE))
    assert counting.calls == 3  # a refusal does not evict what verified


def _library_accepts(chain: CertificateChain, signed_payload: str) -> bool:
    plain = SignedDataVerifier([chain.root_der], False, Environment.SANDBOX, BUNDLE)
    try:
        plain.verify_and_decode_notification(signed_payload)
    except VerificationException:
        return False
    return True


def _cached_accepts(signed_data: AppleSignedData, signed_payload: str) -> bool:
    try:
        signed_data.verify_notification(signed_payload)
    except SignedDataRejected:
        return False
    return True


def test_the_cache_answers_as_the_library_does_at_the_edges_of_the_validity(chains: Chains) -> None:
    """Warmed by one verification, the cached verifier and a fresh library verifier agree at
    every edge: one second before ``notBefore``, at it, inside, at the leaf's ``notAfter``
    (OpenSSL still accepts that second) and one second after."""
    signed_data = verifier(chains)
    signed_data.verify_notification(_test_notification(chains.trusted, VALID_DATE))
    edges = {
        "before": _ms(NOT_BEFORE - timedelta(seconds=1)),
        "not_before": _ms(NOT_BEFORE),
        "inside": VALID_DATE,
        "leaf_not_after": _ms(LEAF_NOT_AFTER),
        "last_millisecond": _ms(LEAF_NOT_AFTER) + 999,
        "after": _ms(LEAF_NOT_AFTER + timedelta(seconds=1)),
    }
    answers = {}
    for name, date in edges.items():
        signed_payload = _test_notification(chains.trusted, date)
        cached = _cached_accepts(signed_data, signed_payload)
        assert cached is _library_accepts(chains.trusted.chain, signed_payload), name
        answers[name] = cached
    assert answers == {
        "before": False,
        "not_before": True,
        "inside": True,
        "leaf_not_after": True,
        "last_millisecond": True,
        "after": False,
    }


# --- through POST /apple/pubsub ------------------------------------------------------------------


@dataclass
class Service:
    container: Container
    api: httpx.AsyncClient

    async def post(self, body: object, path: str = "/apple/pubsub") -> httpx.Response:
        return await self.api.post(path, json=body)

    async def assert_nothing_stored(self) -> None:
        assert (await self.container.tables["subscription-events"].scan()).items == []
        for name in QUEUES:
            assert (await self.container.queues[name].depth()).total == 0, name


@pytest.fixture
async def service(tmp_path: Path, chains: Chains) -> AsyncIterator[Service]:
    """The service trusting the ``trusted`` chain's root only (``SF_APPLE_ROOT_CERTS``), with the
    V1 secrets unset: what is refused here is refused for the signature alone."""
    root = tmp_path / "trusted-root.pem"
    root.write_bytes(chains.trusted.chain.root_pem)
    container = open_container(
        tmp_path, TOPOLOGY, apple_root_certs=str(root), apple_bundle_ids=f"{BUNDLE},{FEAST_BUNDLE}"
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(container)), base_url="http://sf"
    ) as api:
        yield Service(container, api)
    await container.aclose()


async def test_the_route_stores_what_verifies(service: Service, chains: Chains) -> None:
    """The control case of the route: the same configuration accepts a good notification."""
    response = await service.post({"signedPayload": signed(chains.trusted)})
    assert response.status_code == 200, response.text
    [event] = (await service.container.tables["subscription-events"].scan()).items
    assert (event["subscriptionId"], event["notificationUUID"]) == (OTID, UUID)
    assert (await service.container.queues["apple-subscriptions-to-fetch"].depth()).total == 1


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_the_route_rejects_and_stores_nothing(service: Service, chains: Chains, case: Rejected) -> None:
    response = await service.post({"signedPayload": case.build(chains)})
    status = 400 if case.malformed else 401
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    assert body["message"] == ("INVALID_REQUEST" if case.malformed else "UNAUTHORISED")
    assert body["detail"].startswith(case.reason)
    await service.assert_nothing_stored()


@pytest.mark.parametrize("value", [5, None, True, ["a.b.c"], {"signedPayload": "a.b.c"}])
async def test_a_non_string_signed_payload_is_a_400(service: Service, value: object) -> None:
    response = await service.post({"signedPayload": value})
    assert response.status_code == 400
    assert response.json()["detail"] == "signedPayload must be a string"
    await service.assert_nothing_stored()


async def test_the_feast_route_verifies_the_same_way(service: Service, chains: Chains) -> None:
    response = await service.post(
        {"signedPayload": signed(chains.foreign, bundle_id=FEAST_BUNDLE)}, "/feast/apple/pubsub"
    )
    assert response.status_code == 401
    await service.assert_nothing_stored()


async def test_an_empty_object_is_a_v1_notification_that_fails_the_v1_parser(service: Service) -> None:
    """No ``signedPayload``: the body is read as V1 (spec §3.1), whose strict parser says what is
    missing first."""
    response = await service.post({})
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "message": "INVALID_REQUEST",
        "detail": "missing field: environment",
    }
    await service.assert_nothing_stored()
