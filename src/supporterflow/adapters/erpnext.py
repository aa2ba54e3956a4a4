"""ERPNext (Frappe) REST API: documents under ``/api/resource/<DocType>`` with token auth
(spec/supporter-events.md §6).

An upsert creates the document under its deterministic name and, when it exists already (409
``DuplicateEntryError``), updates it: delivering the same action twice leaves one document."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from supporterflow.adapters.outbound import call
from supporterflow.ports import ErpDocument, ErpWrite, GiveUp, Retry
from supporterflow.runtime.metrics import Metrics

SERVICE = "erpnext"


def frappe_message(response: httpx.Response) -> str:
    """The human message of a Frappe error: ``_server_messages`` (a JSON list of JSON objects),
    else ``exception``, else the status."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    try:
        messages = [json.loads(m).get("message", "") for m in json.loads(body.get("_server_messages", "[]"))]
    except (ValueError, TypeError, AttributeError):
        messages = []
    text = "; ".join(m for m in messages if m) or str(body.get("exception") or body.get("exc_type") or "")
    return text[:500] or f"HTTP {response.status_code}"


class ErpNextClient:
    def __init__(
        self, client: httpx.AsyncClient, api_key: str, api_secret: str, metrics: Metrics | None = None
    ):
        self._client = client
        self._headers = {"Authorization": f"token {api_key}:{api_secret}"}
        self._metrics = metrics

    async def _send(
        self, method: str, document: ErpDocument, path: str, body: dict[str, Any]
    ) -> httpx.Response:
        response = await call(
            self._client,
            method,
            path,
            service=SERVICE,
            endpoint=f"{method} {document.doctype}",
            metrics=self._metrics,
            json=body,
            headers=self._headers,
        )
        if response.status_code in (401, 403):
            raise GiveUp(f"{SERVICE} refused the API token (HTTP {response.status_code})")
        return response

    async def upsert(self, document: ErpDocument) -> ErpWrite:
        collection = f"/api/resource/{quote(document.doctype)}"
        created = await self._send("POST", document, collection, {**document.fields, "name": document.name})
        if created.status_code == 200:
            return ErpWrite(document.doctype, document.name, "created")
        if created.status_code != 409:
            raise _refusal(document, created)
        updated = await self._send(
            "PUT", document, f"{collection}/{quote(document.name, safe='')}", document.fields
        )
        if updated.status_code == 200:
            return ErpWrite(document.doctype, document.name, "updated")
        if updated.status_code == 404:
            raise Retry(f"{SERVICE}: {document.doctype} {document.name} vanished between create and update")
        raise _refusal(document, updated)


def _refusal(document: ErpDocument, response: httpx.Response) -> GiveUp:
    return GiveUp(
        f"{SERVICE} refused {document.doctype} {document.name} (HTTP {response.status_code}): "
        f"{frappe_message(response)}"
    )
