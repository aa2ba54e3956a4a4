"""The Google Play part of the service's topology, for the end-to-end tests of the Google
pipeline (``SF_TOPOLOGY=tests.e2e.google_topology:TOPOLOGY``): the subscriptions,
subscription-events and user-subscriptions tables, the Google queues and the two fetch
consumers, as the real topology declares them. The supporter-events flow is left out (with
SF_EMULATORS=off it would need the user service and ERPNext), and so is the 15-minute token
publication, which would only add token requests the tests did not ask for. With SF_EMULATORS=off
and no Braze configured, the Feast consumer gets the NotConfigured identity lookup; the live
consumer, which the tests drive, needs none. The back-off is short, so a fetch retried once costs
a second rather than the real topology's minutes."""

from __future__ import annotations

import dataclasses

from supporterflow.declare import Topology
from supporterflow.topology import (
    FEAST_GOOGLE_SUBSCRIPTIONS_TO_FETCH,
    GOOGLE_HISTORICAL_SUBSCRIPTIONS,
    GOOGLE_SUBSCRIPTIONS_TO_FETCH,
    SUBSCRIPTION_EVENTS,
    SUBSCRIPTIONS,
    USER_SUBSCRIPTIONS,
)
from supporterflow.topology import TOPOLOGY as SERVICE

GOOGLE_QUEUES = (
    GOOGLE_SUBSCRIPTIONS_TO_FETCH,
    FEAST_GOOGLE_SUBSCRIPTIONS_TO_FETCH,
    GOOGLE_HISTORICAL_SUBSCRIPTIONS,
)

TOPOLOGY = Topology(
    tables=(SUBSCRIPTIONS, SUBSCRIPTION_EVENTS, USER_SUBSCRIPTIONS),
    queues=GOOGLE_QUEUES,
    consumers=tuple(
        dataclasses.replace(c, backoff_base_s=0.5, backoff_max_s=2.0)
        for c in SERVICE.consumers
        if c.queue in {q.name for q in GOOGLE_QUEUES}
    ),
)
