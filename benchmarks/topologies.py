"""Topologies the benchmarks run the real server with (``SF_TOPOLOGY``)."""

from __future__ import annotations

import dataclasses

from supporterflow.declare import Topology
from supporterflow.topology import (
    APPLE_HISTORICAL_SUBSCRIPTIONS,
    APPLE_SUBSCRIPTIONS_TO_FETCH,
    FEAST_APPLE_SUBSCRIPTIONS_TO_FETCH,
    FEAST_GOOGLE_SUBSCRIPTIONS_TO_FETCH,
    GOOGLE_HISTORICAL_SUBSCRIPTIONS,
    GOOGLE_SUBSCRIPTIONS_TO_FETCH,
    SUBSCRIPTION_EVENTS,
    SUBSCRIPTIONS,
    TOPOLOGY,
    USER_SUBSCRIPTIONS,
)

# Accepting only: the tables and queues of the service (the App Store's and Google Play's
# included) without its consumers, so an ingest figure is not mixed with the cost of delivery
# running in the same process.
INGEST_ONLY = Topology(tables=TOPOLOGY.tables, queues=TOPOLOGY.queues)

# Fetching App Store subscriptions only: the Apple tables and queues, and the live apps' consumer
# of apple-subscriptions-to-fetch exactly as the service declares it (its concurrency, batch size
# and back-off), so a drain figure is that consumer's and nothing else's.
_APPLE_UPDATE = next(c for c in TOPOLOGY.consumers if c.queue == APPLE_SUBSCRIPTIONS_TO_FETCH.name)
APPLE_DRAIN = Topology(
    tables=(SUBSCRIPTIONS, SUBSCRIPTION_EVENTS, USER_SUBSCRIPTIONS),
    queues=(APPLE_SUBSCRIPTIONS_TO_FETCH, FEAST_APPLE_SUBSCRIPTIONS_TO_FETCH, APPLE_HISTORICAL_SUBSCRIPTIONS),
    consumers=(_APPLE_UPDATE,),
)
# The same consumer handling one message at a time (one received per poll, one in flight): what
# a naive consumer would do, the comparison point of benchmarks.apple_drain.
APPLE_DRAIN_ONE_AT_A_TIME = dataclasses.replace(
    APPLE_DRAIN, consumers=(dataclasses.replace(_APPLE_UPDATE, concurrency=1, batch_size=1),)
)

# Fetching Google Play subscriptions only: the same for the live apps' consumer of
# google-subscriptions-to-fetch (two Play Developer API calls per message: v2, then v1).
_GOOGLE_UPDATE = next(c for c in TOPOLOGY.consumers if c.queue == GOOGLE_SUBSCRIPTIONS_TO_FETCH.name)
GOOGLE_DRAIN = Topology(
    tables=(SUBSCRIPTIONS, SUBSCRIPTION_EVENTS, USER_SUBSCRIPTIONS),
    queues=(
        GOOGLE_SUBSCRIPTIONS_TO_FETCH,
        FEAST_GOOGLE_SUBSCRIPTIONS_TO_FETCH,
        GOOGLE_HISTORICAL_SUBSCRIPTIONS,
    ),
    consumers=(_GOOGLE_UPDATE,),
)
# The comparison point of benchmarks.google_drain: that consumer one message at a time.
GOOGLE_DRAIN_ONE_AT_A_TIME = dataclasses.replace(
    GOOGLE_DRAIN, consumers=(dataclasses.replace(_GOOGLE_UPDATE, concurrency=1, batch_size=1),)
)

# A user's purchases only (benchmarks.user_subscriptions, benchmarks.link): the subscriptions and
# user-subscriptions tables and the queue the App Store link route needs to exist (its dead-letter
# queue with it), without any consumer or stream subscriber: the links written before the server
# starts and by the load trigger nothing (their change records are written, as the service does,
# and nobody reads them).
USERS_ONLY = Topology(tables=(SUBSCRIPTIONS, USER_SUBSCRIPTIONS), queues=(APPLE_SUBSCRIPTIONS_TO_FETCH,))
