"""Routes of the service itself: liveness, metrics, API description."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from supporterflow import __version__
from supporterflow.bootstrap import Container
from supporterflow.entrypoints.http.openapi import build_openapi, render_docs
from supporterflow.functions.answers import standard_body

_OK = standard_body(200)


async def healthcheck(request: Request) -> Response:
    """Liveness: 200 while the process serves requests."""
    return JSONResponse(_OK)


def routes(container: Container) -> list[Route]:
    async def metrics(request: Request) -> Response:
        """Prometheus metrics of this process (queue depths and stream lag read at scrape time)."""
        await container.refresh_metrics()
        return Response(generate_latest(container.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Response:
        """This API's OpenAPI 3.1 description."""
        return JSONResponse(build_openapi(request.app.routes, title="supporterflow", version=__version__))

    async def docs(request: Request) -> Response:
        """This API's description as a page."""
        spec = build_openapi(request.app.routes, title="supporterflow", version=__version__)
        return HTMLResponse(render_docs(spec))

    return [
        Route("/healthcheck", healthcheck, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
        Route("/docs", docs, methods=["GET"], include_in_schema=False),
    ]
