"""The unmodified ``SignedDataVerifier`` accepts what the emulator signs, and only that."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from appstoreserverlibrary.models.NotificationTypeV2 import NotificationTypeV2
from appstoreserverlibrary.models.Status import Status
from appstoreserverlibrary.models.Subtype import Subtype
from appstoreserverlibrary.signed_data_verifier import (
    SignedDataVerifier,
    VerificationException,
    VerificationStatus,
)

from supporterflow.emulators.apple.certificates import CertificateChain, generate_chain
from supporterflow.emulators.apple.payloads import (
    renewal_info_payload,
    signed_notification,
    transaction_payload,
)
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import AppleStoreState
from tests.integration.emulators.apple.conftest import BUNDLE_ID, PRODUCT_ID, verifier_for


def subscribed(state: AppleStoreState, signer: AppStoreSigner) -> tuple[str, dict[str, Any]]:
    step = state.subscribe(bundle_id=BUNDLE_ID, product_id=PRODUCT_ID)
    subscription = state.get(step.original_transaction_id)
    return signed_notification(step, subscription, signer, state.now_ms()), subscription


def test_the_header_is_apples(signer: AppStoreSigner, chain: CertificateChain) -> None:
    header = jwt.get_unverified_header(signer.sign({"signedDate": 1}))
    assert header == {"alg": "ES256", "x5c": chain.x5c}
    assert len(header["x5c"]) == 3


def test_a_signed_notification_verifies_and_decodes(
    state: AppleStoreState, signer: AppStoreSigner, verifier: SignedDataVerifier
) -> None:
    signed, subscription = subscribed(state, signer)

    notification = verifier.verify_and_decode_notification(signed)

    assert notification.notificationType == NotificationTypeV2.SUBSCRIBED
    assert notification.subtype == Subtype.INITIAL_BUY
    assert notification.version == "2.0"
    assert notification.signedDate == state.now_ms()
    assert notification.data is not None
    assert notification.data.status == Status.ACTIVE
    assert notification.data.signedTransactionInfo is not None
    assert notification.data.signedRenewalInfo is not None
    transaction = verifier.verify_and_decode_signed_transaction(notification.data.signedTransactionInfo)
    assert transaction.originalTransactionId == subscription["originalTransactionId"]
    assert transaction.productId == PRODUCT_ID
    assert transaction.expiresDate == subscription["transactions"][0]["expiresDate"]
    renewal = verifier.verify_and_decode_renewal_info(notification.data.signedRenewalInfo)
    assert renewal.autoRenewProductId == PRODUCT_ID
    assert renewal.rawAutoRenewStatus == 1


def test_every_payload_field_is_one_the_library_models(
    state: AppleStoreState, signer: AppStoreSigner, verifier: SignedDataVerifier
) -> None:
    """A misspelt field would decode silently to None: compare what was sent with what came out."""
    _, subscription = subscribed(state, signer)
    state.refund(subscription["originalTransactionId"])
    subscription = state.get(subscription["originalTransactionId"])
    transaction = transaction_payload(subscription, state.now_ms())
    renewal = renewal_info_payload(subscription, state.now_ms())

    decoded_transaction = verifier.verify_and_decode_signed_transaction(signer.sign(transaction))
    decoded_renewal = verifier.verify_and_decode_renewal_info(signer.sign(renewal))

    for name, value in transaction.items():
        raw = getattr(decoded_transaction, f"raw{name[0].upper()}{name[1:]}", None)
        assert value in (getattr(decoded_transaction, name), raw), name
    for name, value in renewal.items():
        raw = getattr(decoded_renewal, f"raw{name[0].upper()}{name[1:]}", None)
        assert value in (getattr(decoded_renewal, name), raw), name


def rejection(verifier: SignedDataVerifier, signed: str) -> VerificationStatus:
    with pytest.raises(VerificationException) as raised:
        verifier.verify_and_decode_notification(signed)
    return raised.value.status


def test_a_chain_under_another_root_is_rejected(state: AppleStoreState, signer: AppStoreSigner) -> None:
    signed, _ = subscribed(state, signer)
    assert (
        rejection(verifier_for(generate_chain().root_der), signed) == VerificationStatus.VERIFICATION_FAILURE
    )


def test_a_tampered_payload_is_rejected(
    state: AppleStoreState, signer: AppStoreSigner, verifier: SignedDataVerifier
) -> None:
    signed, _ = subscribed(state, signer)
    header, _, signature = signed.split(".")
    other = signer.sign(
        {**jwt.decode(signed, options={"verify_signature": False}), "notificationType": "REFUND"}
    )
    forged = ".".join([header, other.split(".")[1], signature])
    assert rejection(verifier, forged) == VerificationStatus.VERIFICATION_FAILURE


def test_another_bundle_id_is_rejected(
    state: AppleStoreState, signer: AppStoreSigner, chain: CertificateChain
) -> None:
    signed, _ = subscribed(state, signer)
    assert (
        rejection(verifier_for(chain.root_der, "com.other.app"), signed)
        == VerificationStatus.INVALID_APP_IDENTIFIER
    )


def test_a_leaf_expired_at_the_signed_date_is_rejected(state: AppleStoreState) -> None:
    short_lived = generate_chain(leaf_not_after=datetime(2021, 1, 1, tzinfo=UTC))
    signed, _ = subscribed(state, AppStoreSigner(short_lived))
    assert rejection(verifier_for(short_lived.root_der), signed) == VerificationStatus.VERIFICATION_FAILURE


def test_a_missing_x5c_is_rejected(
    state: AppleStoreState, signer: AppStoreSigner, chain: CertificateChain, verifier: SignedDataVerifier
) -> None:
    signed, _ = subscribed(state, signer)
    payload = jwt.decode(signed, options={"verify_signature": False})
    without_chain = jwt.encode(payload, chain.leaf_key, algorithm="ES256")
    assert rejection(verifier, without_chain) == VerificationStatus.VERIFICATION_FAILURE


def test_alg_none_is_rejected(
    state: AppleStoreState, signer: AppStoreSigner, chain: CertificateChain, verifier: SignedDataVerifier
) -> None:
    signed, _ = subscribed(state, signer)
    payload = jwt.decode(signed, options={"verify_signature": False})
    unsigned = jwt.encode(payload, "", algorithm="none", headers={"x5c": chain.x5c})
    assert rejection(verifier, unsigned) == VerificationStatus.VERIFICATION_FAILURE
