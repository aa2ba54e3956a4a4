"""Correlation ids: bound for a piece of work, read back by the adapters, sent on outbound calls."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from supporterflow.adapters.outbound import AsgiTransport
from supporterflow.logs import correlation, current_correlation_id, valid_correlation_id


def test_an_id_is_bound_for_the_block_only() -> None:
    assert current_correlation_id() is None
    with correlation("abc-1") as bound:
        assert bound == current_correlation_id() == "abc-1"
        with correlation("inner") as inner:
            assert current_correlation_id() == inner == "inner"
        assert current_correlation_id() == "abc-1"
    assert current_correlation_id() is None


def test_a_missing_or_unsafe_id_is_replaced_by_a_fresh_one() -> None:
    with correlation(None) as fresh, correlation("has spaces\nand a newline") as replaced:
        assert len(fresh) == 32
        assert len(replaced) == 32
        assert fresh != replaced
    assert valid_correlation_id("x" * 129) is None
    assert valid_correlation_id("req-1.2:3_4") == "req-1.2:3_4"


def _echo() -> Starlette:
    async def headers(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.headers))

    return Starlette(routes=[Route("/headers", headers)])


async def test_an_outbound_request_carries_the_bound_id_unless_the_caller_set_one() -> None:
    transport = AsgiTransport(_echo())
    try:
        outside = (await transport.request("GET", "/headers")).json()
        with correlation("req-5"):
            inside = (await transport.request("GET", "/headers", headers={"x-api-key": "k"})).json()
            explicit = (
                await transport.request("GET", "/headers", headers={"X-Correlation-Id": "mine"})
            ).json()
    finally:
        await transport.aclose()
    assert "x-correlation-id" not in outside
    assert (inside["x-correlation-id"], inside["x-api-key"]) == ("req-5", "k")
    assert explicit["x-correlation-id"] == "mine"
