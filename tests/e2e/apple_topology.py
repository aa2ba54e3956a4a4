"""The App Store part of the service's topology, for the end-to-end tests of the Apple pipeline
(``SF_TOPOLOGY=tests.e2e.apple_topology:TOPOLOGY``): the subscriptions, subscription-events and
user-subscriptions tables, the Apple queues and the two fetch consumers, as the real topology
declares them. The supporter-events flow is left out (with SF_EMULATORS=off it would need the user
service and ERPNext), and so is the six-hourly revalidation schedule, which would only add
fetches the tests did not ask for. The back-off is short, so a fetch retried once costs a second
rather than the real topology's minutes."""

from __future__ import annotations

import dataclasses

from supporterflow.declare import Topology
from supporterflow.topology import (
    APPLE_HISTORICAL_SUBSCRIPTIONS,
    APPLE_SUBSCRIPTIONS_TO_FETCH,
    FEAST_APPLE_SUBSCRIPTIONS_TO_FETCH,
    SUBSCRIPTION_EVENTS,
    SUBSCRIPTIONS,
    USER_SUBSCRIPTIONS,
)
from supporterflow.topology import TOPOLOGY as SERVICE

APPLE_QUEUES = (
    APPLE_SUBSCRIPTIONS_TO_FETCH,
    FEAST_APPLE_SUBSCRIPTIONS_TO_FETCH,
    APPLE_HISTORICAL_SUBSCRIPTIONS,
)

TOPOLOGY = Topology(
    tables=(SUBSCRIPTIONS, SUBSCRIPTION_EVENTS, USER_SUBSCRIPTIONS),
    queues=APPLE_QUEUES,
    consumers=tuple(
        dataclasses.replace(c, backoff_base_s=0.5, backoff_max_s=2.0)
        for c in SERVICE.consumers
        if c.queue in {q.name for q in APPLE_QUEUES}
    ),
)
