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
import random
import re
import sys
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, Final

import structlog

#: The request header (in and out) and the queue message attribute that carry a correlation id.
CORRELATION_HEADER = "x-correlation-id"
CORRELATION_ATTRIBUTE = "correlation_id"
_CORRELATION_KEY = "correlation_id"  # the field of every log line, bound in structlog's contextvars
_VALID_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

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


#: Values that are sensitive by their shape, whatever their field's name: an email address, a
#: phone number, a Google purchase token (a Google subscription's ``subscriptionId``), a receipt or
#: another long base64 blob. The ``_IN_TEXT`` patterns find them inside free text (an error).
_EMAIL_IN_TEXT: Final = re.compile(r"[^\s@\"'<>]+@[^\s@\"'<>]+\.[A-Za-z]{2,}")
_BLOB_IN_TEXT: Final = re.compile(r"[A-Za-z0-9+/=_-]{120,}")
_TOKEN_OR_PHONE_IN_TEXT: Final = re.compile(
    r"\b[a-z]{10,40}\.[A-Za-z0-9_-]{20,}"  # a Google purchase token
    r"|\+\d{10,15}\b|\b0\d{10}\b"  # a phone number
)
_PHONE: Final = re.compile(r"^(\+\d{6,15}|0\d{9,10})$")
_GOOGLE_TOKEN: Final = re.compile(r"^[a-z]{10,40}\.[A-Za-z0-9_-]{20,}$")
_BLOB_LENGTH: Final = 120
_SHORTEST: Final = 7  # "+" and six digits, the shortest phone number ``_PHONE`` takes


def looks_sensitive(value: str) -> bool:
    if "@" in value and _EMAIL_IN_TEXT.fullmatch(value):
        return True
    if len(value) >= _BLOB_LENGTH and _BLOB_IN_TEXT.fullmatch(value):
        return True
    return bool(_PHONE.match(value.replace(" ", "")) or _GOOGLE_TOKEN.match(value))


def _fingerprinted(match: re.Match[str]) -> str:
    return fingerprint(match.group(0))


def redact_text(value: str) -> str:
    """A string fit to log or show: fingerprinted whole when it looks sensitive, else with every
    sensitive-looking value inside it fingerprinted. Every string of every log line comes through
    here, so the costly searches (emails, blobs) run only where a match is possible."""
    if len(value) < _SHORTEST and "@" not in value:
        return value  # shorter than any phone number, token or blob: only an email could hide
    if looks_sensitive(value):
        return fingerprint(value)
    if "@" in value:
        value = _EMAIL_IN_TEXT.sub(_fingerprinted, value)
    if len(value) >= _BLOB_LENGTH:
        value = _BLOB_IN_TEXT.sub(_fingerprinted, value)
    return _TOKEN_OR_PHONE_IN_TEXT.sub(_fingerprinted, value)


def new_correlation_id() -> str:
    """Unique, not secret: 128 random bits without a system call."""
    return f"{random.getrandbits(128):032x}"


def valid_correlation_id(value: str | None) -> str | None:
    """``value`` when it is safe to log, carry and send on (short, no spaces or markup), else None.
    Ids come from callers' headers and queue messages: anything else is replaced by a fresh one."""
    return value if value is not None and _VALID_CORRELATION_ID.match(value) else None


def current_correlation_id() -> str | None:
    """The correlation id bound for the work in progress (a request, a message, a stream record, a
    scheduled run), None outside of any. Queue adapters stamp it on the messages they send and the
    outbound transports send it as ``x-correlation-id``, so no caller has to pass it along."""
    value = structlog.contextvars.get_contextvars().get(_CORRELATION_KEY)
    return value if isinstance(value, str) else None


@contextlib.contextmanager
def correlation(correlation_id: str | None) -> Iterator[str]:
    """Bind ``correlation_id`` (a fresh one when None or not valid) for the block: every log line,
    queued message and outbound request inside it carries it. Yields the id bound."""
    bound = valid_correlation_id(correlation_id) or new_correlation_id()
    with structlog.contextvars.bound_contextvars(**{_CORRELATION_KEY: bound}):
        yield bound


def fingerprint(value: Any) -> str:
    digest = hashlib.sha256(repr(value).encode()).hexdigest()[:10]
    return f"<redacted {digest}>"


def scrub(value: Any, text: Callable[[str], str] | None = None) -> Any:
    """``value`` with the values of sensitive fields fingerprinted, at any depth; ``text``, when
    given, also judges every other string (the dashboard's check of values by their shape)."""
    if isinstance(value, Mapping):
        return {
            k: (fingerprint(v) if str(k).lower() in SENSITIVE_FIELDS else scrub(v, text))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v, text) for v in value]
    if text is not None and isinstance(value, str):
        return text(value)
    return value


def redacted_json(body: bytes, width: int | None = None) -> str:
    """A message body for operators (CLI, dashboard): JSON with sensitive fields fingerprinted."""
    try:
        text = json.dumps(scrub(json.loads(body)), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        text = f"<{len(body)} bytes, not JSON>"
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


#: Fields that are never data: the message (a constant of the code), and what the processors
#: before ``redact`` add.
_NOT_DATA: Final = frozenset({"event", "level", "timestamp"})


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if key in _NOT_DATA:
            continue
        event_dict[key] = fingerprint(value) if key.lower() in SENSITIVE_FIELDS else scrub(value, redact_text)
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
