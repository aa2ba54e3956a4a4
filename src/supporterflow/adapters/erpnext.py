"""ERPNext (Frappe) REST API: documents under ``/api/resource/<DocType>`` with token auth
(spec/supporter-events.md §6).

An upsert creates the document under its deterministic name and, when it exists already (409
``DuplicateEntryError``), updates it: delivering the same action twice leaves one document."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from supporterflow.adapters.outbound import Reply, Transport, call
from supporterflow.ports import ErpDocument, ErpWrite, GiveUp, Retry
from supporterflow.runtime.metrics import Metrics

SERVICE = "erpnext"


def frappe_message(response: Reply) -> str:
    """The human message of a Frappe error: ``_server_messages`` (a JSON list of JSON objects),
    else ``exception``, else the status."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status}"
    if not isinstance(body, dict):
        return f"HTTP {response.status}"
    try:
        messages = [json.loads(m).get("message", "") for m in json.loads(body.get("_server_messages", "[]"))]
    except (ValueError, TypeError, AttributeError):
        messages = []
    text = "; ".join(m for m in messages if m) or str(body.get("exception") or body.get("exc_type") or "")
    return text[:500] or f"HTTP {response.status}"


class ErpNextClient:
    def __init__(self, transport: Transport, api_key: str, api_secret: str, metrics: Metrics | None = None):
        self._transport = transport
        self._headers = {"Authorization": f"token {api_key}:{api_secret}"}
        self._metrics = metrics

    async def _send(
        self, method: str, document: ErpDocument, path: str, body: dict[str, Any] | None
    ) -> Reply:
        response = await call(
            self._transport,
            method,
            path,
            service=SERVICE,
            endpoint=f"{method} {document.doctype}",
            metrics=self._metrics,
            json=body,
            headers=self._headers,
        )
        if response.status in (401, 403):
            raise GiveUp(f"{SERVICE} refused the API token (HTTP {response.status})")
        return response

    async def upsert(self, document: ErpDocument) -> ErpWrite:
        collection = f"/api/resource/{quote(document.doctype)}"
        path = f"{collection}/{quote(document.name, safe='')}"
        created = await self._send("POST", document, collection, {**document.fields, "name": document.name})
        if created.status == 200:
            return ErpWrite(document.doctype, document.name, "created")
        if created.status != 409:
            raise _refusal(document, created)
        fields = document.fields
        if document.merge_rows:
            stored = await self._send("GET", document, path, None)
            if stored.status != 200:
                raise Retry(f"{SERVICE}: {document.doctype} {document.name} exists but could not be read")
            fields = _merged(fields, stored.json()["data"])
        return await self._update(document, path, fields)

    async def _update(self, document: ErpDocument, path: str, fields: dict[str, Any]) -> ErpWrite:
        updated = await self._send("PUT", document, path, fields)
        if updated.status == 200:
            return ErpWrite(document.doctype, document.name, "updated")
        if updated.status == 404:
            raise Retry(f"{SERVICE}: {document.doctype} {document.name} vanished between create and update")
        raise _refusal(document, updated)


def _merged(fields: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with each child table added to the stored rows: a row whose ``id`` is stored
    already replaces it, the others are appended."""
    merged = dict(fields)
    for key, rows in fields.items():
        if not isinstance(rows, list):
            continue
        by_id = {row.get("id"): row for row in stored.get(key) or [] if isinstance(row, dict)}
        for row in rows:
            by_id[row.get("id")] = {**by_id.get(row.get("id"), {}), **row}
        merged[key] = list(by_id.values())
    return merged


def _refusal(document: ErpDocument, response: Reply) -> GiveUp:
    return GiveUp(
        f"{SERVICE} refused {document.doctype} {document.name} (HTTP {response.status}): "
        f"{frappe_message(response)}"
    )
