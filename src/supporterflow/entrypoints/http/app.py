"""The ASGI application: routes of every area behind the shared middleware."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from supporterflow.bootstrap import Container
from supporterflow.entrypoints.http import (
    admin,
    admin_api,
    apple,
    gdpr,
    google,
    supporter_events,
    system,
    users,
)
from supporterflow.entrypoints.http.middleware import BodyLimit, RequestContext
from supporterflow.entrypoints.http.responses import HttpError, error_response


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HttpError)
    return error_response(error.status, error.detail, message=error.message)


async def _starlette_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    response = error_response(error.status_code)
    if error.headers:
        response.headers.update(error.headers)
    return response


def create_app(container: Container) -> Starlette:
    return Starlette(
        routes=[
            *system.routes(container),
            *admin_api.routes(container),
            *admin.routes(container),
            *supporter_events.routes(container),
            *apple.routes(container),
            *google.routes(container),
            *users.routes(container),
            *gdpr.routes(container),
        ],
        middleware=[
            Middleware(RequestContext, metrics=container.metrics),
            Middleware(BodyLimit, limit=container.settings.max_body_bytes),
        ],
        exception_handlers={HttpError: _http_error, HTTPException: _starlette_error},
    )
