"""Braze's user export over HTTP: the identity id behind a Feast purchase's external id
(spec/mobile-purchases.md §10.2).

Every failure is ``Retry``, even a refused key or a refused body: the Feast update flows retry
whatever is not graceful and then dead-letter it (§5.7, §5.8), and a 401 is a configuration
problem that an operator fixes before replaying the dead letters. The external id (a purchase's
account token) is never logged in clear, nor are Braze's error bodies, which can echo the key.
"""

from __future__ import annotations

import hashlib
from typing import Any

import structlog

from supporterflow.adapters.outbound import Transport, call
from supporterflow.ports import Retry
from supporterflow.runtime.metrics import Metrics

SERVICE = "braze"
ENDPOINT = "users/export/ids"

log = structlog.get_logger(__name__)


def _fingerprint(external_id: str) -> str:
    """Enough to tell two external ids apart in the logs, not to recover one."""
    return hashlib.sha256(external_id.encode()).hexdigest()[:12]


def _identity_id(body: Any) -> str | None:
    """``users[0].custom_attributes.identity_id``; any other shape means Braze holds none."""
    users = body.get("users") if isinstance(body, dict) else None
    user = users[0] if isinstance(users, list) and users else None
    attributes = user.get("custom_attributes") if isinstance(user, dict) else None
    identity_id = attributes.get("identity_id") if isinstance(attributes, dict) else None
    return identity_id if isinstance(identity_id, str) and identity_id else None


class BrazeIdentityLookup:
    def __init__(self, transport: Transport, api_key: str, metrics: Metrics | None = None) -> None:
        self._transport = transport
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self._metrics = metrics

    async def identity_id(self, external_id: str) -> str | None:
        response = await call(
            self._transport,
            "POST",
            f"/{ENDPOINT}",
            service=SERVICE,
            endpoint=ENDPOINT,
            metrics=self._metrics,
            json={"external_ids": [external_id], "fields_to_export": ["custom_attributes"]},
            headers=self._headers,
        )
        if response.status in (401, 403):
            raise Retry(
                f"{SERVICE} refused the API key (HTTP {response.status}): "
                "fix the Braze key, then replay the dead letters"
            )
        if not 200 <= response.status < 300:
            raise Retry(
                f"Received a non-ok response from Braze attempting to fetch user (HTTP {response.status})"
            )
        try:
            body = response.json()
        except ValueError:
            raise Retry(f"{SERVICE} {ENDPOINT}: the answer is not JSON") from None
        identity_id = _identity_id(body)
        if identity_id is None:
            log.info("no identity id in Braze", external_id_sha256=_fingerprint(external_id))
        return identity_id
