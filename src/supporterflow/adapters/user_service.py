"""serverless-user-service over HTTP: ``POST /signup`` and ``POST /match`` with ``x-api-key``
(spec/supporter-events.md §5.1 step 4, §2.5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supporterflow.adapters.outbound import Reply, Transport, call
from supporterflow.ports import GiveUp
from supporterflow.runtime.metrics import Metrics

SERVICE = "user-service"


def _message(response: Reply) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return (
        str(body.get("message") or body.get("errors") or body)[:500] if isinstance(body, dict) else str(body)
    )


class HttpUserService:
    def __init__(self, transport: Transport, api_key: str, metrics: Metrics | None = None) -> None:
        self._transport = transport
        self._headers = {"x-api-key": api_key}
        self._metrics = metrics

    async def _post(self, endpoint: str, body: Mapping[str, Any]) -> Reply:
        response = await call(
            self._transport,
            "POST",
            f"/{endpoint}",
            service=SERVICE,
            endpoint=endpoint,
            metrics=self._metrics,
            json=body,
            headers=self._headers,
        )
        if response.status in (401, 403):
            raise GiveUp(f"{SERVICE} refused the API key (HTTP {response.status})")
        return response

    async def signup(self, request: Mapping[str, Any]) -> dict[str, Any]:
        response = await self._post("signup", request)
        if response.status != 200:
            raise GiveUp(f"{SERVICE} refused the signup (HTTP {response.status}): {_message(response)}")
        body: dict[str, Any] = response.json()
        return body

    async def match(self, request: Mapping[str, Any]) -> dict[str, Any] | None:
        response = await self._post("match", request)
        if response.status == 404:
            return None
        if response.status != 200:
            raise GiveUp(f"{SERVICE} refused the match (HTTP {response.status}): {_message(response)}")
        body: dict[str, Any] = response.json()
        return body
