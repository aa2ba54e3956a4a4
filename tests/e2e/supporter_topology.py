"""The service's own topology with a short back-off ceiling and many receives, so that an outage
test does not wait minutes for the next retry once the outage ends. The real topology rides out
outages of several minutes with 10 receives and back-off up to 5 minutes; this one keeps the same
shape at test speed. Everything else is the real topology."""

from __future__ import annotations

import dataclasses

from supporterflow.declare import Topology
from supporterflow.topology import TOPOLOGY as SERVICE

TOPOLOGY = Topology(
    tables=SERVICE.tables,
    queues=tuple(dataclasses.replace(q, max_receives=100) for q in SERVICE.queues),
    consumers=tuple(dataclasses.replace(c, backoff_base_s=1.0, backoff_max_s=4.0) for c in SERVICE.consumers),
    streams=SERVICE.streams,
    schedules=SERVICE.schedules,
)
