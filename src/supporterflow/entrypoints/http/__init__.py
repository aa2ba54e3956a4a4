"""The HTTP surface: an ASGI app (Starlette) with one router module per area."""

from supporterflow.entrypoints.http.app import create_app

__all__ = ["create_app"]
