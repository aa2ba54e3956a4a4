"""An OpenAPI 3.1 description built from the routes themselves, and a ``/docs`` page that renders
it on the server (no front-end assets fetched from the internet: the service runs offline).

A route documents itself with its docstring (first line: summary) and, where it has bodies worth
describing, with ``@documented(request=Model, responses={200: Model})`` using pydantic models."""

from __future__ import annotations

import html
import inspect
import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.routing import BaseRoute, Route

F = TypeVar("F", bound=Callable[..., Any])

_STANDARD_ERROR = {
    "type": "object",
    "properties": {
        "status": {"type": "integer"},
        "message": {"type": "string"},
        "detail": {"type": "string"},
    },
    "required": ["status", "message"],
}


def documented(
    *, request: type[BaseModel] | None = None, responses: dict[int, type[BaseModel] | str] | None = None
) -> Callable[[F], F]:
    def mark(endpoint: F) -> F:
        endpoint.__openapi__ = {"request": request, "responses": responses or {}}  # type: ignore[attr-defined]
        return endpoint

    return mark


def _operation(route: Route, method: str) -> dict[str, Any]:
    doc = inspect.getdoc(route.endpoint) or ""
    summary, _, description = doc.partition("\n")
    meta = getattr(route.endpoint, "__openapi__", {"request": None, "responses": {}})
    operation: dict[str, Any] = {"summary": summary.strip(), "operationId": f"{method}_{route.name}"}
    if description.strip():
        operation["description"] = description.strip()
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.param_convertors
    ]
    if params:
        operation["parameters"] = params
    if meta["request"] is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": meta["request"].model_json_schema()}},
        }
    responses: dict[str, Any] = {}
    for status, model in (meta["responses"] or {200: "OK"}).items():
        if isinstance(model, str):
            responses[str(status)] = {"description": model}
        else:
            responses[str(status)] = {
                "description": model.__doc__ or "OK",
                "content": {"application/json": {"schema": model.model_json_schema()}},
            }
    responses.setdefault(
        "default", {"description": "Error", "content": {"application/json": {"schema": _STANDARD_ERROR}}}
    )
    operation["responses"] = responses
    return operation


def build_openapi(routes: list[BaseRoute], *, title: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        if not isinstance(route, Route) or not route.include_in_schema:
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(route.path, {})[method.lower()] = _operation(route, method)
    return {"openapi": "3.1.0", "info": {"title": title, "version": version}, "paths": paths}


def render_docs(spec: dict[str, Any]) -> str:
    """The OpenAPI description as a readable HTML page."""
    rows = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = ", ".join(sorted(k for k in operation["responses"] if k != "default"))
            details = html.escape(json.dumps(operation, indent=2))
            rows.append(
                f"<details><summary><code>{method.upper()}</code> <code>{html.escape(path)}</code> "
                f"— {html.escape(operation['summary'])} <small>({responses})</small></summary>"
                f"<pre>{details}</pre></details>"
            )
    title = html.escape(spec["info"]["title"])
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title} API</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "summary{cursor:pointer;padding:.4rem 0}pre{background:#f5f5f5;padding:1rem;overflow:auto}</style>"
        f"</head><body><h1>{title} <small>{html.escape(spec['info']['version'])}</small></h1>"
        "<p>Machine-readable description: <a href='/openapi.json'>/openapi.json</a></p>"
        f"{''.join(rows)}</body></html>"
    )
