"""Structured logs: one JSON object per line, with the correlation id of the request or message.

Secrets, receipts, purchase tokens and identity contents must never reach a log in clear. The
``redact`` processor replaces the value of any field whose name says it holds one of them by a
short fingerprint (so that an operator can still tell two values apart), wherever the field is
nested.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

SENSITIVE_FIELDS = frozenset(
    {
        "authorization",
        "password",
        "secret",
        "token",
        "access_token",
        "id_token",
        "api_key",
        "x-api-key",
        "apikey",
        "receipt",
        "latest_receipt",
        "latestreceipt",
        "receipt-data",
        "purchasetoken",
        "purchase_token",
        "linkedpurchasetoken",
        "signedpayload",
        "signedtransactioninfo",
        "signedrenewalinfo",
        "email",
        "mobile",
        "phone",
        "identity",
        "identities",
        "private_key",
    }
)


def fingerprint(value: Any) -> str:
    digest = hashlib.sha256(repr(value).encode()).hexdigest()[:10]
    return f"<redacted {digest}>"


def scrub(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: (fingerprint(v) if str(k).lower() in SENSITIVE_FIELDS else scrub(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def redacted_json(body: bytes, width: int | None = None) -> str:
    """A message body for operators (CLI, dashboard): JSON with sensitive fields fingerprinted."""
    try:
        text = json.dumps(scrub(json.loads(body)), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        text = f"<{len(body)} bytes, not JSON>"
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        event_dict[key] = fingerprint(value) if key.lower() in SENSITIVE_FIELDS else scrub(value)
    return event_dict


class _StderrLogger:
    """Writes each line straight to the current ``sys.stderr`` (structlog's fast path: the
    service's own lines skip the standard library's logging). Looked up at each write, so a
    stream replaced later (tests, daemonising) is followed; a failed write is dropped, because a
    log line must never break the work it describes."""

    def __init__(self, name: str) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(message + "\n")

    debug = info = warning = warn = error = err = critical = fatal = exception = log = msg


def _stderr_logger(*args: Any) -> _StderrLogger:
    return _StderrLogger(str(args[0]) if args else "supporterflow")


def _add_logger_name(logger: Any, _: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event_dict["logger"] = getattr(logger, "name", None) or event_dict.get("logger")
    return event_dict


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """The service's own lines go straight from structlog to stderr; lines of other libraries
    (uvicorn) come through the standard library and get the same processing and format."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            _add_logger_name,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        context_class=dict,
        logger_factory=_stderr_logger,
        # Not cached: module-level loggers must follow a later configure_logging (tests, CLI).
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    for name in ("uvicorn", "uvicorn.error"):
        # uvicorn's own logging config (if something ran it) sets handlers, levels and propagation.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).setLevel(logging.NOTSET)
        logging.getLogger(name).propagate = True
    # One line per outbound request is noise; outbound calls are measured in the metrics instead.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, numeric_level))
    # At debug level botocore logs every request's parameters: items with identity contents,
    # receipts and message bodies. Never below WARNING, whatever SF_LOG_LEVEL says.
    for name in ("botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(name).setLevel(max(logging.WARNING, numeric_level))
