"""What runs where: tables, queues, consumers, stream subscriptions and schedules, as data.

The local runtime and the AWS template generator both read ``TOPOLOGY``; nothing else wires a
consumer to a queue. Tables and keys follow the original DynamoDB tables
(spec/mobile-purchases.md §1.1); flows add their queues, consumers and schedules here as they are
built.
"""

from __future__ import annotations

from supporterflow.declare import Index, TableDef, Topology

SUBSCRIPTIONS = TableDef(
    "subscriptions",
    hash_key="subscriptionId",
    indexes={"ios-endTimestamp-revalidation-index-with-platform": Index("subscriptionId", "endTimestamp")},
    ttl_attribute="ttl",
    stream=True,
)

# The original table has a stream with no consumer; locally we write no change records for it
# until a subscriber needs them.
SUBSCRIPTION_EVENTS = TableDef(
    "subscription-events",
    hash_key="subscriptionId",
    sort_key="timestampAndType",
    indexes={"date-timestamp-index-v2": Index("date", "timestamp")},
    ttl_attribute="ttl",
)

USER_SUBSCRIPTIONS = TableDef(
    "user-subscriptions",
    hash_key="userId",
    sort_key="subscriptionId",
    indexes={"subscriptionId-userId": Index("subscriptionId", "userId")},
    stream=True,
)

SUPPORTER_EVENTS = TableDef(
    "supporter-events",
    hash_key="id",
    indexes={"status-receivedAt": Index("status", "receivedAt")},
    ttl_attribute="ttl",
)

TOPOLOGY = Topology(tables=(SUBSCRIPTIONS, SUBSCRIPTION_EVENTS, USER_SUBSCRIPTIONS, SUPPORTER_EVENTS))
