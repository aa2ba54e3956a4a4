"""Nothing sensitive reaches a log line in clear."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from supporterflow.logs import configure_logging, redact, redacted_json


def test_sensitive_fields_are_fingerprinted_at_any_depth() -> None:
    event = redact(
        None,
        "info",
        {
            "event": "notification",
            "purchaseToken": "tok-123",
            "payload": {"receipt": "MIIT...", "nested": [{"email": "a@example.com", "kept": 1}]},
            "password": "hunter2",
        },
    )
    text = json.dumps(event)
    for secret in ("tok-123", "MIIT...", "a@example.com", "hunter2"):
        assert secret not in text
    assert event["payload"]["nested"][0]["kept"] == 1
    assert event["purchaseToken"].startswith("<redacted ")


def test_the_same_value_gets_the_same_fingerprint() -> None:
    first = redact(None, "info", {"token": "abc"})["token"]
    second = redact(None, "info", {"token": "abc"})["token"]
    other = redact(None, "info", {"token": "abd"})["token"]
    assert first == second != other


def test_message_bodies_for_operators_are_redacted_and_cut() -> None:
    assert redacted_json(b'{"subscriptionId":"s1","purchaseToken":"secret"}').startswith(
        '{"subscriptionId":"s1"'
    )
    assert "secret" not in redacted_json(b'{"subscriptionId":"s1","purchaseToken":"secret"}')
    assert redacted_json(b"\xff\xfe") == "<2 bytes, not JSON>"
    assert len(redacted_json(b'{"a":"' + b"x" * 500 + b'"}', width=40)) == 40


def test_log_lines_are_json_with_the_bound_correlation_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    with structlog.contextvars.bound_contextvars(correlation_id="c-1"):
        structlog.get_logger("test").info("hello", api_key="k-9")
    logging.getLogger("uvicorn.error").info("from the standard library")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["event"] == "hello"
    assert lines[0]["correlation_id"] == "c-1"
    assert "k-9" not in json.dumps(lines[0])
    assert lines[1]["event"] == "from the standard library"


GOOGLE_TOKEN = "oikebkpxboycddzrimulgbdw.AO-J1OwMzjU-KeHqK8b288GmSMbT2lJS1T0bKjk8q6_ABkduxUOerNYLFRplQjbt"


def test_values_are_also_judged_by_their_shape_whatever_their_field() -> None:
    """A Google subscription's id is its purchase token: ``subscription_id=`` must not log it."""
    line = redact(
        None,
        "info",
        {
            "event": "subscription updated",
            "subscription_id": GOOGLE_TOKEN,
            "apple_id": "2000000123456789",
            "error": "Retry('no user for dante@example.com, token " + GOOGLE_TOKEN + "')",
            "nested": {"contact": "+447847000000", "receipt_like": "MIIT" + "A" * 200},
        },
    )
    text = json.dumps(line)
    for secret in (GOOGLE_TOKEN, "dante@example.com", "+447847000000", "MIIT" + "A" * 100):
        assert secret not in text
    assert line["apple_id"] == "2000000123456789"  # plain ids stay readable
    assert line["error"].startswith("Retry('no user for <redacted ")
    assert line["event"] == "subscription updated"
