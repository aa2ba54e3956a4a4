"""Deliver what Pub/Sub would push for a life-cycle step: the envelope of spec §4.1 around the
``DeveloperNotification``, with the OIDC token Google attaches when the push subscription has
authentication configured, to the URL of the service under test."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from supporterflow.emulators.google.payloads import developer_notification, rfc3339
from supporterflow.emulators.google.push import DEFAULT_SUBSCRIPTION, PushSigner, push_body
from supporterflow.emulators.google.store import GooglePlayState, Step

USER_AGENT = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"
"""What Pub/Sub push requests are sent with."""
_FIRST_MESSAGE_ID = 10_000_000_000_000_000
"""Pub/Sub message ids are decimal strings of 16-17 digits."""


def with_secret(url: str, secret: str | None) -> str:
    """``url`` with ``?secret=`` added (the legacy shared secret of spec §4.1), others kept."""
    if secret is None:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "secret"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("secret", secret)])))


def notification_body(
    step: Step, state: GooglePlayState, *, subscription: str = DEFAULT_SUBSCRIPTION
) -> dict[str, Any]:
    """The push body for ``step``: a new message id (persisted, so ids never repeat across
    processes sharing ``--state``) and the state's clock as publish time."""
    message_id = str(state.next_counter("messages", _FIRST_MESSAGE_ID))
    return push_body(developer_notification(step), message_id, rfc3339(state.now_ms()), subscription)


def send_notification(
    url: str,
    step: Step,
    state: GooglePlayState,
    signer: PushSigner | None,
    *,
    audience: str | None = None,
    secret: str | None = None,
    subscription: str = DEFAULT_SUBSCRIPTION,
    timeout_s: float = 10.0,
) -> httpx.Response:
    """POST the push for ``step`` to ``url`` (plus ``?secret=`` when given) and return the
    response; Pub/Sub retries anything but 2xx/102, the caller decides what to do.

    With a ``signer`` the request carries ``Authorization: Bearer <OIDC token>``, its audience
    ``audience`` or, as Pub/Sub's default, the push endpoint URL (with its query). Without one it
    is an unauthenticated push."""
    target = with_secret(url, secret)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if signer is not None:
        headers["Authorization"] = f"Bearer {signer.token(audience or target)}"
    body = notification_body(step, state, subscription=subscription)
    return httpx.post(target, json=body, headers=headers, timeout=timeout_s)
