"""Deliver what the App Store would POST for a life-cycle step: a V2 ``{"signedPayload"}`` or
a V1 status-update body, to the URL of the service under test."""

from __future__ import annotations

from typing import Any, Literal

import httpx

from supporterflow.emulators.apple.legacy import v1_notification
from supporterflow.emulators.apple.payloads import signed_notification
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import AppleStoreState, Step

NotificationVersion = Literal["v1", "v2"]


def notification_body(
    step: Step,
    state: AppleStoreState,
    signer: AppStoreSigner,
    *,
    version: NotificationVersion = "v2",
    app_apple_id: int | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """The JSON body Apple would send for ``step``; ``password`` (the shared secret) only goes
    into V1 bodies, as Apple did."""
    subscription = state.get(step.original_transaction_id)
    if version == "v1":
        return v1_notification(step, subscription, password=password)
    return {
        "signedPayload": signed_notification(
            step, subscription, signer, state.now_ms(), app_apple_id=app_apple_id
        )
    }


def send_notification(
    url: str,
    step: Step,
    state: AppleStoreState,
    signer: AppStoreSigner,
    *,
    version: NotificationVersion = "v2",
    app_apple_id: int | None = None,
    password: str | None = None,
    timeout_s: float = 10.0,
) -> httpx.Response:
    """POST the notification for ``step`` to ``url`` and return the response (Apple retries on
    anything but 2xx; the caller decides what to do)."""
    body = notification_body(
        step, state, signer, version=version, app_apple_id=app_apple_id, password=password
    )
    return httpx.post(url, json=body, timeout=timeout_s)
