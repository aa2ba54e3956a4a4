"""Support's Acquisition API over HTTP: one POST per Feast acquisition event (spec §10.4).

The body is the event as the original's ``JSON.stringify`` wrote it (compact, keys in the order
given), with ``Content-Type: application/json``. Unlike the original, the answer is checked
(§13.1.10): a 2xx is recorded; no answer, a 429 or a 5xx is ``Retry``
(``outbound.call``); any other answer is ``GiveUp`` with the API's message, so that the event
waits in the dead-letter queue where an operator sees why.

The original posted only in PROD, the one stage whose configuration had an ``acquisitionApiUrl``.
Here the event is posted wherever ``SF_ACQUISITION_API_URL`` is set, to that URL (path and query
kept); the local profile posts to the emulator. The URL is never logged: it may hold a key.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from supporterflow.adapters.outbound import Reply, Transport, call
from supporterflow.ports import GiveUp
from supporterflow.runtime.metrics import Metrics

SERVICE = "acquisition-api"
ENDPOINT = "acquisition"
_HEADERS = {"Content-Type": "application/json"}
_MAX_MESSAGE = 500


def split_endpoint(url: str) -> tuple[str, str]:
    """``https://host/path?query`` -> (``https://host``, ``/path?query``): the transport's origin
    and what is POSTed to on it."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError("SF_ACQUISITION_API_URL is not an absolute URL")
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    return f"{parts.scheme}://{parts.netloc}", target


def _message(reply: Reply) -> str:
    """What the API said, on one line and short: its JSON ``message`` and ``errors`` if it sent
    them, else the start of its text."""
    text = reply.text
    try:
        body = reply.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        text = body["message"]
        errors = body.get("errors")
        if isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors):
            listed = "; ".join(errors)
            if listed not in text:
                text = f"{text}: {listed}"
    text = " ".join(text.split())
    return text[:_MAX_MESSAGE] if text else "no message"


class HttpAcquisitionApi:
    """POSTs events to ``path`` on ``transport``."""

    def __init__(self, transport: Transport, path: str = "/", metrics: Metrics | None = None) -> None:
        self._transport = transport
        self._path = path
        self._metrics = metrics

    async def send(self, payload: Mapping[str, Any]) -> None:
        reply = await call(
            self._transport,
            "POST",
            self._path,
            service=SERVICE,
            endpoint=ENDPOINT,
            metrics=self._metrics,
            content=json.dumps(payload, separators=(",", ":")).encode(),
            headers=_HEADERS,
        )
        if not 200 <= reply.status < 300:
            raise GiveUp(f"the Acquisition API refused the event (HTTP {reply.status}): {_message(reply)}")
