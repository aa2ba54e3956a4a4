"""Listing ERPNext documents: Frappe's fields, filters, or_filters, order_by and paging, with the
SQL behaviours a client notices (case-insensitive strings, NULL as '', LIKE wildcards)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.integration.emulators.test_erpnext_documents import assert_frappe_error, create

DONATIONS = "/api/resource/Donation"

SEED = [
    {"name": "d1", "amount": 5, "status": "Complete", "provider": "Stripe", "supporter": "s1"},
    {"name": "d2", "amount": 10, "status": "pending", "provider": "Paypal", "supporter": "s2"},
    {"name": "d3", "amount": 20, "status": "complete", "provider": "Stripe"},
    {"name": "d4", "amount": 7.5, "status": "Refunded", "provider": "Just Giving", "supporter": "s1"},
]


@pytest.fixture
async def donations(erpnext: httpx.AsyncClient) -> httpx.AsyncClient:
    for donation in SEED:
        await create(erpnext, DONATIONS, donation)
    return erpnext


async def names(client: httpx.AsyncClient, path: str = DONATIONS, **params: Any) -> list[str]:
    query = {k: v if isinstance(v, str | int) else json.dumps(v) for k, v in params.items()}
    response = await client.get(path, params=query)
    assert response.status_code == 200, response.text
    return [row["name"] for row in response.json()["data"]]


async def test_a_list_has_only_names_newest_change_first(donations: httpx.AsyncClient) -> None:
    response = await donations.get(DONATIONS)
    assert response.json() == {"data": [{"name": "d4"}, {"name": "d3"}, {"name": "d2"}, {"name": "d1"}]}


async def test_a_list_of_a_doctype_with_no_documents_is_empty(erpnext: httpx.AsyncClient) -> None:
    response = await erpnext.get("/api/resource/Gift%20Aid%20Declaration")
    assert response.json() == {"data": []}


async def test_fields_select_columns_and_star_leaves_out_child_tables(erpnext: httpx.AsyncClient) -> None:
    await create(erpnext, DONATIONS, {"name": "d1", "amount": 5, "lines": [{"sku": "x"}]})

    some = await erpnext.get(DONATIONS, params={"fields": json.dumps(["name", "amount", "missing"])})
    every = await erpnext.get(DONATIONS, params={"fields": json.dumps(["*"])})

    assert some.json()["data"] == [{"name": "d1", "amount": 5, "missing": None}]
    (row,) = every.json()["data"]
    assert {"name", "amount", "owner", "creation", "modified", "docstatus"} <= set(row)
    assert "lines" not in row


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([["status", "=", "complete"]], ["d3", "d1"]),
        ([["status", "!=", "complete"]], ["d4", "d2"]),
        ([["amount", ">", 7.5]], ["d3", "d2"]),
        ([["amount", ">=", 7.5]], ["d4", "d3", "d2"]),
        ([["amount", "<", "10"]], ["d4", "d1"]),
        ([["amount", "<=", 10]], ["d4", "d2", "d1"]),
        ([["provider", "like", "%giv%"]], ["d4"]),
        ([["provider", "like", "Str_pe"]], ["d3", "d1"]),
        ([["provider", "not like", "S%"]], ["d4", "d2"]),
        ([["provider", "in", ["Paypal", "Just Giving"]]], ["d4", "d2"]),
        ([["provider", "in", "Paypal,Stripe"]], ["d3", "d2", "d1"]),
        ([["provider", "not in", ["Stripe"]]], ["d4", "d2"]),
        ([["supporter", "is", "not set"]], ["d3"]),
        ([["supporter", "=", ""]], ["d3"]),
        ([["Donation", "supporter", "=", "s1"]], ["d4", "d1"]),
        ([["provider", "=", "Stripe"], ["amount", ">", 5]], ["d3"]),
        (["status", "=", "pending"], ["d2"]),
        ({"supporter": "s1"}, ["d4", "d1"]),
        ({"supporter": "s1", "amount": [">", 6]}, ["d4"]),
    ],
)
async def test_filters_are_anded_conditions(
    donations: httpx.AsyncClient, filters: Any, expected: list[str]
) -> None:
    assert await names(donations, filters=filters) == expected


async def test_or_filters_are_ored_and_combined_with_filters(donations: httpx.AsyncClient) -> None:
    found = await names(
        donations,
        filters=[["provider", "!=", "Paypal"]],
        or_filters=[["status", "=", "refunded"], ["amount", "<", 6]],
    )
    assert found == ["d4", "d1"]


async def test_a_filter_on_a_child_doctype_matches_any_of_its_rows(erpnext: httpx.AsyncClient) -> None:
    await create(
        erpnext, "/api/resource/Supporter", {"name": "s1", "first_name": "A", "email": [{"id": "h1"}]}
    )
    await create(
        erpnext,
        "/api/resource/Supporter",
        {"name": "s2", "first_name": "B", "email": [{"id": "h2"}, {"id": "h3", "doctype": "Email Address"}]},
    )

    assert await names(erpnext, "/api/resource/Supporter", filters=[["Email", "id", "=", "h1"]]) == ["s1"]
    assert await names(erpnext, "/api/resource/Supporter", filters=[["Email Address", "id", "=", "h3"]]) == [
        "s2"
    ]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("amount asc", ["d1", "d4", "d2", "d3"]),
        ("amount", ["d1", "d4", "d2", "d3"]),
        ("`tabDonation`.`amount` desc", ["d3", "d2", "d4", "d1"]),
        ("creation asc", ["d1", "d2", "d3", "d4"]),
        ("provider asc, amount desc", ["d4", "d2", "d3", "d1"]),
        ("supporter desc, name asc", ["d2", "d1", "d4", "d3"]),
    ],
)
async def test_order_by_sorts_like_sql(
    donations: httpx.AsyncClient, order_by: str, expected: list[str]
) -> None:
    assert await names(donations, order_by=order_by) == expected


async def test_pages_are_20_documents_unless_asked_otherwise(erpnext: httpx.AsyncClient) -> None:
    for i in range(25):
        await create(erpnext, DONATIONS, {"name": f"d{i:02}"})

    assert len(await names(erpnext)) == 20
    assert len(await names(erpnext, limit_page_length=0)) == 25
    page = await names(erpnext, order_by="name asc", limit_start=10, limit_page_length=5)
    assert page == ["d10", "d11", "d12", "d13", "d14"]
    assert await names(erpnext, order_by="name asc", limit_start=24) == ["d24"]


@pytest.mark.parametrize(
    "params",
    [
        {"filters": "not json"},
        {"filters": json.dumps([["status", "between", "a"]])},
        {"filters": json.dumps([["status", "="]])},
        {"filters": json.dumps("status")},
        {"fields": json.dumps([1])},
        {"order_by": "amount sideways"},
        {"limit_page_length": "-1"},
    ],
)
async def test_a_query_frappe_would_refuse_is_a_417(
    donations: httpx.AsyncClient, params: dict[str, str]
) -> None:
    assert_frappe_error(await donations.get(DONATIONS, params=params), 417, "ValidationError")
