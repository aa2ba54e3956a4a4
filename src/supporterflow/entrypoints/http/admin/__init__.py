"""The operator dashboard (``/admin``): see ``pages``."""

from supporterflow.entrypoints.http.admin.pages import routes

__all__ = ["routes"]
