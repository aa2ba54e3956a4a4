"""App Store JWS, as Apple signs them: ES256 with the certificate chain in ``x5c`` and no ``typ``.

Three payloads travel this way (field names as in Apple's documentation and the
``app-store-server-library`` models): ``JWSTransactionDecodedPayload`` and
``JWSRenewalInfoDecodedPayload`` (built by :mod:`.store` from a subscription), and the V2
notification ``ResponseBodyV2DecodedPayload`` (built here, around the two signed ones).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import jwt

from supporterflow.emulators.apple.certificates import CertificateChain

NOTIFICATION_VERSION = "2.0"


class AppStoreSigner:
    """Signs payloads with the leaf key of ``chain``; a verifier trusting the chain's root
    accepts them."""

    def __init__(self, chain: CertificateChain) -> None:
        self.chain = chain

    def sign(self, payload: Mapping[str, Any]) -> str:
        """The compact JWS of ``payload``: header ``{"alg": "ES256", "x5c": [leaf, intermediate,
        root]}`` like Apple's."""
        return jwt.encode(
            dict(payload),
            self.chain.leaf_key,
            algorithm="ES256",
            headers={"x5c": self.chain.x5c, "typ": None},
        )


def notification_payload(
    *,
    notification_type: str,
    subtype: str | None,
    bundle_id: str,
    environment: str,
    signed_date: int,
    app_apple_id: int | None = None,
    signed_transaction_info: str | None = None,
    signed_renewal_info: str | None = None,
    status: int | None = None,
    notification_uuid: str | None = None,
) -> dict[str, Any]:
    """A ``ResponseBodyV2DecodedPayload`` with a ``data`` object; absent values are left out,
    as Apple leaves them out (``subtype`` of a plain ``DID_RENEW``, ``appAppleId`` in Sandbox)."""
    data: dict[str, Any] = {"bundleId": bundle_id, "environment": environment}
    optional = {
        "appAppleId": app_apple_id,
        "signedTransactionInfo": signed_transaction_info,
        "signedRenewalInfo": signed_renewal_info,
        "status": status,
    }
    data.update({key: value for key, value in optional.items() if value is not None})
    payload: dict[str, Any] = {
        "notificationType": notification_type,
        "notificationUUID": notification_uuid or str(uuid.uuid4()),
        "data": data,
        "version": NOTIFICATION_VERSION,
        "signedDate": signed_date,
    }
    if subtype is not None:
        payload["subtype"] = subtype
    return payload
