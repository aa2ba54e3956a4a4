"""The Parquet schemas: one typed column per attribute, nested payloads as JSON text.

Why JSON text for payloads and not structs: the payloads are whatever Apple and Google sent (V1
notifications, decoded V2 payloads, Play API bodies), so a struct's type would change from one day
to the next, and a warehouse cannot load files whose schemas drift. A JSON string column loads
everywhere (DuckDB ``->>``, BigQuery ``JSON_VALUE``, Spark ``get_json_object``). Timestamps are
``timestamp[ms, UTC]``, dates ``date32``, epoch numbers ``int64``.

Columns are the attributes the flows write (spec §1.3-§1.5 and the columns supporterflow adds);
the NDJSON line of a row keeps every attribute, including any a future writer adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import pyarrow as pa

from supporterflow.domain.exports.layout import Dataset

Kind = Literal["string", "bool", "int", "timestamp", "date", "json"]

ARROW_TYPES: Final[dict[Kind, pa.DataType]] = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "int": pa.int64(),
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "date": pa.date32(),
    "json": pa.string(),
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    doc: str


EVENT_COLUMNS: Final = (
    Column("subscriptionId", "string", "Apple original transaction id, or Google purchase token"),
    Column("timestampAndType", "string", "timestamp and event type joined by a vertical bar (the sort key)"),
    Column("date", "date", "day of the event (UTC)"),
    Column("timestamp", "timestamp", "when the event happened (Google) or was received (Apple)"),
    Column("eventType", "string", "Apple notification type, or Google event name"),
    Column("platform", "string", "platform of the app (spec §2.2), or `unknown`"),
    Column("appId", "string", "bundle id or package name"),
    Column("freeTrial", "bool", "a trial or introductory offer"),
    Column("googlePayload", "json", "the developer notification (Google)"),
    Column("applePayload", "json", "the notification (Apple), without receipts and shared secret"),
    Column("ttl", "int", "expiry of the row, epoch seconds"),
    Column("promotional_offer_id", "string", "offer id"),
    Column("promotional_offer_name", "string", "offer code name (Apple)"),
    Column("product_id", "string", "product id (SKU)"),
    Column("purchase_date_ms", "int", "purchase date, epoch ms (Apple)"),
    Column("expires_date_ms", "int", "expiry date, epoch ms (Apple)"),
    Column("extra", "string", "the original's `extra` JSON string"),
    Column("messageId", "string", "Pub/Sub message id (Google; supporterflow)"),
    Column("notificationUUID", "string", "App Store Server Notification id (Apple V2; supporterflow)"),
)

SUBSCRIPTION_COLUMNS: Final = (
    Column("subscriptionId", "string", "Apple original transaction id, or Google purchase token"),
    Column("startTimestamp", "timestamp", "start of the subscription"),
    Column("endTimestamp", "timestamp", "end of the current period"),
    Column("cancellationTimestamp", "timestamp", "when it was cancelled"),
    Column("autoRenewing", "bool", "renews at the end of the period"),
    Column("productId", "string", "product id (SKU)"),
    Column("platform", "string", "platform of the app (spec §2.2)"),
    Column("freeTrial", "bool", "a trial or introductory offer"),
    Column("billingPeriod", "string", "ISO-8601 duration (`P1M`, `P1Y`)"),
    Column("googlePayload", "json", "the Play Developer API body (Google)"),
    Column(
        "applePayload",
        "json",
        "the verifyReceipt response or decoded App Store data (Apple), without receipts",
    ),
    Column("ttl", "int", "expiry of the row, epoch seconds"),
    Column("extra", "string", "the original's `extra` JSON string"),
    Column("status", "string", "active, grace_period, billing_retry, expired, revoked, refunded or paused"),
    Column("environment", "string", "Production or Sandbox"),
    Column("bundleId", "string", "Apple bundle id"),
    Column("fetchedAt", "timestamp", "when the store produced this state"),
    Column("linkedPurchaseToken", "string", "the purchase token this one replaced (Google)"),
    Column("supersededBy", "string", "the purchase token that replaced this one (Google)"),
)

USER_SUBSCRIPTION_COLUMNS: Final = (
    Column("userId", "string", "identity id"),
    Column("subscriptionId", "string", "the linked subscription"),
    Column("creationTimestamp", "timestamp", "when the link was written"),
)

HISTORICAL_COLUMNS: Final = (
    Column("subscriptionId", "string", "Apple original transaction id, or Google purchase token"),
    Column("snapshotDate", "timestamp", "when the update flow fetched this state"),
    Column(
        "payload", "json", "verifyReceipt response (Apple, without receipts) or Play API v1 body (Google)"
    ),
)

COLUMNS: Final[dict[Dataset, tuple[Column, ...]]] = {
    "subscription-events": EVENT_COLUMNS,
    "subscriptions": SUBSCRIPTION_COLUMNS,
    "user-subscriptions": USER_SUBSCRIPTION_COLUMNS,
    "apple-historical": HISTORICAL_COLUMNS,
    "google-historical": HISTORICAL_COLUMNS,
}


def arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.kind]) for c in columns])


def markdown_table(columns: tuple[Column, ...]) -> str:
    """The schema as docs/export.md shows it (a test keeps the two equal)."""
    rows = [
        f"| `{c.name}` | {ARROW_TYPES[c.kind]}{' (JSON)' if c.kind == 'json' else ''} | {c.doc} |"
        for c in columns
    ]
    return "\n".join(["| column | type | meaning |", "|---|---|---|", *rows])
