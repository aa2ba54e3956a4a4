"""What runs where: tables, queues, consumers, stream subscriptions and schedules, as data.

The local runtime and the AWS template generator both read ``TOPOLOGY``; nothing else wires a
consumer to a queue. Tables and keys follow the original DynamoDB tables
(spec/mobile-purchases.md §1.1); flows add their queues, consumers and schedules here as they are
built.
"""

from __future__ import annotations

from supporterflow.declare import Consumer, Cron, Every, Index, OnChange, QueueDef, TableDef, Topology
from supporterflow.functions.apple_revalidate import apple_revalidate
from supporterflow.functions.apple_update import apple_update, feast_apple_update
from supporterflow.functions.delete_links import delete_links
from supporterflow.functions.export_historical import export_apple_historical, export_google_historical
from supporterflow.functions.export_subscription_events import export_subscription_events
from supporterflow.functions.export_tables import export_subscriptions, export_user_subscriptions
from supporterflow.functions.feast_acquisitions import (
    feast_acquisition_router,
    feast_apple_acquisition,
    feast_google_acquisition,
)
from supporterflow.functions.google_oauth import google_oauth
from supporterflow.functions.google_update import feast_google_update, google_update
from supporterflow.functions.soft_opt_in import soft_opt_in
from supporterflow.functions.soi_dlq import soi_dlq
from supporterflow.functions.subscription_activity import record_activity
from supporterflow.functions.supporter_consume import supporter_consume

SUBSCRIPTIONS = TableDef(
    "subscriptions",
    hash_key="subscriptionId",
    # The original's projection, so that adopting its table leaves the index as it is (nothing
    # here queries it: revalidation scans, as the original's does).
    indexes={
        "ios-endTimestamp-revalidation-index-with-platform": Index(
            "subscriptionId", "endTimestamp", projection=("autoRenewing", "platform", "receipt")
        )
    },
    ttl_attribute="ttl",
    stream=True,
    # spec §1.3: the data-mapper's string attributes (googlePayload and applePayload are "Any").
    strings=frozenset(
        {
            "subscriptionId",
            "startTimestamp",
            "endTimestamp",
            "cancellationTimestamp",
            "productId",
            "platform",
            "billingPeriod",
            "receipt",
            "extra",
        }
    ),
)

# The original table has a stream with no consumer; locally we write no change records for it
# until a subscriber needs them.
SUBSCRIPTION_EVENTS = TableDef(
    "subscription-events",
    hash_key="subscriptionId",
    sort_key="timestampAndType",
    indexes={"date-timestamp-index-v2": Index("date", "timestamp")},
    ttl_attribute="ttl",
    physical="{app}-{stage}-subscription-events-v2",
    # spec §1.4: promotional_offer_id/_name and the payloads are "Any".
    strings=frozenset(
        {
            "subscriptionId",
            "timestampAndType",
            "date",
            "timestamp",
            "eventType",
            "platform",
            "appId",
            "product_id",
            "extra",
        }
    ),
)

USER_SUBSCRIPTIONS = TableDef(
    "user-subscriptions",
    hash_key="userId",
    sort_key="subscriptionId",
    indexes={"subscriptionId-userId": Index("subscriptionId", "userId")},
    stream=True,
    strings=frozenset({"userId", "subscriptionId", "creationTimestamp"}),  # spec §1.5
)

SUPPORTER_EVENTS = TableDef(
    "supporter-events",
    hash_key="id",
    indexes={"status-receivedAt": Index("status", "receivedAt")},
    ttl_attribute="ttl",
)

# The dashboard's timeline of each subscription (functions/subscription_activity.py): one row per
# fetch, state change, expiry or link, expiring after SF_ACTIVITY_RETENTION_DAYS.
SUBSCRIPTION_ACTIVITY = TableDef(
    "subscription-activity", hash_key="subscriptionId", sort_key="at", ttl_attribute="ttl"
)

# One audit entry per GDPR erasure (functions/gdpr_erase.py): an id, when, what was removed and a
# sha256 of the user id, never the id itself.
GDPR_ERASURES = TableDef("gdpr-erasures", hash_key="id")

# Ten receives with back-off from 2 s to 5 min ride out an outage of a downstream service of
# several minutes before a message is dead-lettered.
SUPPORTER_EVENTS_TO_DELIVER = QueueDef("supporter-events-to-deliver", visibility_s=120, max_receives=10)

# The original's fetch queues redrive after 8 receives (spec §5.5, §5.7); the visibility covers
# a verifyReceipt call, the App Store Server API calls and the writes with room to spare.
APPLE_SUBSCRIPTIONS_TO_FETCH = QueueDef("apple-subscriptions-to-fetch", visibility_s=60, max_receives=8)
FEAST_APPLE_SUBSCRIPTIONS_TO_FETCH = QueueDef(
    "feast-apple-subscriptions-to-fetch", visibility_s=60, max_receives=8
)
# Snapshots for the datalake export (spec §1.7, §9.4); nothing consumes them until it runs.
APPLE_HISTORICAL_SUBSCRIPTIONS = QueueDef("apple-historical-subscriptions", visibility_s=300, max_receives=8)
GOOGLE_SUBSCRIPTIONS_TO_FETCH = QueueDef("google-subscriptions-to-fetch", visibility_s=60, max_receives=8)
FEAST_GOOGLE_SUBSCRIPTIONS_TO_FETCH = QueueDef(
    "feast-google-subscriptions-to-fetch", visibility_s=60, max_receives=8
)
GOOGLE_HISTORICAL_SUBSCRIPTIONS = QueueDef(
    "google-historical-subscriptions", visibility_s=300, max_receives=8
)

# Soft opt-ins (spec §8). Links that arrive before their subscription wait here for the
# 30-minute drain (soi_dlq), which discards them after a day; like upstream it has no redrive
# of its own (a message the drain cannot read stays visible to operators until then).
SOFT_OPT_IN_ACQUISITIONS_DLQ = QueueDef(
    "soft-opt-in-acquisitions-dlq",
    visibility_s=60,
    dlq=False,
    physical="{app}-soft-opt-in-acquisitions-DLQ-{stage}",
)
# Outbound: the membership account's consent setter and the comms account's Braze email queue
# (spec §1.7, §11.3). Nothing here consumes them: locally an operator inspects them
# (`supporterflow queues`); on AWS the SQS adapter sends to the other accounts' queues.
SOFT_OPT_IN_CONSENT_SETTER_QUEUE = QueueDef(
    "soft-opt-in-consent-setter-queue",
    dlq=False,
    physical="soft-opt-in-consent-setter-queue-{stage}",
    external=True,
)
BRAZE_EMAILS = QueueDef("braze-emails", dlq=False, physical="braze-emails-{stage}", external=True)
# Feast acquisitions (spec §10.3, §11.3): visibility 300 s, 5 receives, then the DLQ.
FEAST_APPLE_ACQUISITION_EVENTS_QUEUE = QueueDef(
    "feast-apple-acquisition-events-queue",
    visibility_s=300,
    max_receives=5,
    dlq_physical="{app}-{stage}-feast-apple-acquisition-events-dlq",
)
FEAST_GOOGLE_ACQUISITION_EVENTS_QUEUE = QueueDef(
    "feast-google-acquisition-events-queue",
    visibility_s=300,
    max_receives=5,
    dlq_physical="{app}-{stage}-feast-google-acquisition-events-dlq",
)

DAILY_EXPORT = "3 0 * * *"

TOPOLOGY = Topology(
    tables=(
        SUBSCRIPTIONS,
        SUBSCRIPTION_EVENTS,
        USER_SUBSCRIPTIONS,
        SUPPORTER_EVENTS,
        GDPR_ERASURES,
        SUBSCRIPTION_ACTIVITY,
    ),
    queues=(
        SUPPORTER_EVENTS_TO_DELIVER,
        APPLE_SUBSCRIPTIONS_TO_FETCH,
        FEAST_APPLE_SUBSCRIPTIONS_TO_FETCH,
        APPLE_HISTORICAL_SUBSCRIPTIONS,
        GOOGLE_SUBSCRIPTIONS_TO_FETCH,
        FEAST_GOOGLE_SUBSCRIPTIONS_TO_FETCH,
        GOOGLE_HISTORICAL_SUBSCRIPTIONS,
        SOFT_OPT_IN_ACQUISITIONS_DLQ,
        SOFT_OPT_IN_CONSENT_SETTER_QUEUE,
        BRAZE_EMAILS,
        FEAST_APPLE_ACQUISITION_EVENTS_QUEUE,
        FEAST_GOOGLE_ACQUISITION_EVENTS_QUEUE,
    ),
    consumers=(
        # Each delivery waits on several HTTP calls in a row (signup, then each document):
        # many in flight per process keep the CPU busy.
        Consumer(
            "supporter-events-to-deliver",
            supporter_consume,
            concurrency=64,
            backoff_base_s=2.0,
            backoff_max_s=300.0,
        ),
        # One fetch waits on Apple (verifyReceipt, then the Server API for the extra): dozens in
        # flight per process, with back-off long enough to ride out an Apple incident.
        Consumer("apple-subscriptions-to-fetch", apple_update, concurrency=64, backoff_base_s=2.0),
        Consumer(
            "feast-apple-subscriptions-to-fetch", feast_apple_update, concurrency=64, backoff_base_s=2.0
        ),
        # The same for Google: two or three Play Developer API calls per fetch.
        Consumer("google-subscriptions-to-fetch", google_update, concurrency=64, backoff_base_s=2.0),
        Consumer(
            "feast-google-subscriptions-to-fetch", feast_google_update, concurrency=64, backoff_base_s=2.0
        ),
        Consumer(
            "feast-apple-acquisition-events-queue",
            feast_apple_acquisition,
            concurrency=16,
            backoff_base_s=2.0,
        ),
        Consumer(
            "feast-google-acquisition-events-queue",
            feast_google_acquisition,
            concurrency=16,
            backoff_base_s=2.0,
        ),
    ),
    streams=(
        # A new link is an acquisition: the consent setter is told, maybe the user emailed.
        OnChange("user-subscriptions", frozenset({"INSERT"}), soft_opt_in),
        # A subscription expired by TTL: its links go, a Cancellation per linked user.
        OnChange("subscriptions", frozenset({"REMOVE"}), delete_links),
        # A new Feast link is an acquisition event. A link written before its subscription
        # (the link endpoints) goes to the retry queue after two tries instead of holding the
        # stream; by its next delivery the subscription is usually stored.
        OnChange("user-subscriptions", frozenset({"INSERT"}), feast_acquisition_router, max_attempts=2),
        # The dashboard's timeline (off on aws unless SF_ACTIVITY_RETENTION_DAYS is set).
        OnChange("subscriptions", frozenset({"INSERT", "MODIFY", "REMOVE"}), record_activity),
        OnChange("user-subscriptions", frozenset({"INSERT", "REMOVE"}), record_activity),
    ),
    schedules=(
        Every(6 * 3600, apple_revalidate),
        Every(15 * 60, google_oauth),
        Every(30 * 60, soi_dlq),
        # The datalake exports of yesterday, at the original's 00:03 UTC (spec §9).
        Cron(DAILY_EXPORT, export_subscription_events),
        Cron(DAILY_EXPORT, export_subscriptions),
        Cron(DAILY_EXPORT, export_user_subscriptions),
        Cron(DAILY_EXPORT, export_apple_historical),
        Cron(DAILY_EXPORT, export_google_historical),
    ),
)
