"""The identity API's user lookup over HTTP: a user's primary email address, for the soft opt-in
email (spec/mobile-purchases.md §8.2 step 4b).

``GET <base>/user/<identityId>`` with ``Authorization: Bearer <key>``; the answer's
``user.primaryEmailAddress`` is the address. Every failure is ``Retry``, as the original's throw
failed the stream batch: a 404, a user without an address, a refused key (an operator fixes the
key, then replays the dead letters) and the transient failures ``call`` already classifies.

Neither the identity id nor the address is ever logged or put in an error's text in clear (error
texts end up in logs and dead-letter reasons): logs carry a fingerprint of the identity id. The
original's error code ``[8892291c]`` is in every failure's text, so its alerts still find them.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from typing import Any

import structlog

from supporterflow.adapters.outbound import Transport, call
from supporterflow.ports import Retry
from supporterflow.runtime.metrics import Metrics

SERVICE = "identity-api"
ENDPOINT = "user"
ERROR_CODE = "[8892291c]"

log = structlog.get_logger(__name__)


def fingerprint(identity_id: str) -> str:
    """Enough to tell two identity ids apart in the logs, not to recover one."""
    return hashlib.sha256(identity_id.encode()).hexdigest()[:12]


def _primary_email(body: Any) -> str | None:
    user = body.get("user") if isinstance(body, dict) else None
    email = user.get("primaryEmailAddress") if isinstance(user, dict) else None
    return email if isinstance(email, str) and email else None


class HttpIdentityApi:
    """``base_path`` is the path of the configured base URL (``https://host/prefix`` -> the
    transport reaches ``https://host``, requests go to ``/prefix/user/<id>``)."""

    def __init__(
        self, transport: Transport, api_key: str, metrics: Metrics | None = None, *, base_path: str = ""
    ) -> None:
        self._transport = transport
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._metrics = metrics
        self._base_path = base_path.rstrip("/")

    async def primary_email(self, identity_id: str) -> str:
        path = f"{self._base_path}/user/{urllib.parse.quote(identity_id, safe='')}"
        try:
            response = await call(
                self._transport,
                "GET",
                path,
                service=SERVICE,
                endpoint=ENDPOINT,
                metrics=self._metrics,
                headers=self._headers,
            )
        except Retry as error:
            raise Retry(f"{ERROR_CODE} {error}", after_s=error.after_s) from None
        digest = fingerprint(identity_id)
        if response.status in (401, 403):
            log.warning("identity API refused the key", status=response.status)
            raise Retry(
                f"{ERROR_CODE} {SERVICE} refused the API key (HTTP {response.status}): "
                "fix SF_IDENTITY_API_KEY, then replay the dead letters"
            )
        if not 200 <= response.status < 300:
            log.warning("identity API lookup failed", status=response.status, identity_id_sha256=digest)
            raise Retry(
                f"{ERROR_CODE} Could not fetch details from identity API for user sha256:{digest} "
                f"(HTTP {response.status})"
            )
        try:
            body = response.json()
        except ValueError:
            raise Retry(f"{ERROR_CODE} {SERVICE} {ENDPOINT}: the answer is not JSON") from None
        email = _primary_email(body)
        if email is None:
            log.warning("identity API user without a primary email address", identity_id_sha256=digest)
            raise Retry(f"{ERROR_CODE} User or primaryEmailAddress is undefined for user sha256:{digest}")
        return email
