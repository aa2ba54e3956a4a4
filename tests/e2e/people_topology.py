"""The links and soft opt-ins part of the service's topology, for the end-to-end tests of issue 7
(``SF_TOPOLOGY=tests.e2e.people_topology:TOPOLOGY``): the subscriptions, user-subscriptions and
subscription-activity tables (the soft opt-in notes what it sent there), the two fetch queues
the link endpoints need (``/apple/linkToSubscriptions`` and ``/google/linkToSubscriptions`` are
only served when their fetch queue exists), the soft opt-in
DLQ, the two outbound queues, and the soft opt-in and delete-links stream subscriptions (with
their retry queues and DLQs, which ``Topology`` derives from them), as the real topology declares
them.

Left out: the fetch consumers (the tests link subscriptions that are already stored, so nothing
is fetched, and a fetch would need the stores' APIs), the Feast acquisition router and its
queues (they need the Acquisition API), the supporter-events flow, and every schedule, the
30-minute ``soi_dlq`` drain included. The stream subscriptions back off in tens of
milliseconds rather than the real topology's seconds, so a record that keeps failing (five
stream attempts, then five receives of its retry queue, each redelivered after the queue's
one-second minimum) reaches the retry queue's DLQ in a few seconds.
"""

from __future__ import annotations

import dataclasses

from supporterflow.declare import Topology
from supporterflow.functions.delete_links import delete_links
from supporterflow.functions.soft_opt_in import soft_opt_in
from supporterflow.topology import (
    APPLE_SUBSCRIPTIONS_TO_FETCH,
    BRAZE_EMAILS,
    GOOGLE_SUBSCRIPTIONS_TO_FETCH,
    SOFT_OPT_IN_ACQUISITIONS_DLQ,
    SOFT_OPT_IN_CONSENT_SETTER_QUEUE,
    SUBSCRIPTION_ACTIVITY,
    SUBSCRIPTIONS,
    USER_SUBSCRIPTIONS,
)
from supporterflow.topology import TOPOLOGY as SERVICE

PEOPLE_HANDLERS = (soft_opt_in, delete_links)

TOPOLOGY = Topology(
    tables=(SUBSCRIPTIONS, USER_SUBSCRIPTIONS, SUBSCRIPTION_ACTIVITY),
    queues=(
        APPLE_SUBSCRIPTIONS_TO_FETCH,
        GOOGLE_SUBSCRIPTIONS_TO_FETCH,
        SOFT_OPT_IN_ACQUISITIONS_DLQ,
        SOFT_OPT_IN_CONSENT_SETTER_QUEUE,
        BRAZE_EMAILS,
    ),
    streams=tuple(
        dataclasses.replace(s, backoff_base_s=0.02, backoff_max_s=0.1)
        for s in SERVICE.streams
        if s.handler in PEOPLE_HANDLERS
    ),
)
