"""The three outcomes an SQS consumer distinguishes when processing fails (spec §2.7).

Why: whether a message is redelivered (retry), acknowledged with a warning (graceful) or
acknowledged and dropped (give up) is decided by the error *type*, so domain code raises these
and the adapters map them; with SQS BatchSize 1, "rethrow" means "let the message be redelivered".
"""

from __future__ import annotations

__all__ = ["GracefulProcessingError", "ProcessingError"]


class ProcessingError(Exception):
    """``ProcessingError(message, shouldRetry)``: rethrown only when ``should_retry`` is true."""

    def __init__(self, message: str, *, should_retry: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.should_retry = should_retry


class GracefulProcessingError(Exception):
    """Acknowledged with a warning -- e.g. Apple status 21007, a sandbox receipt reaching PROD."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
