"""Topologies the benchmarks run the real server with (``SF_TOPOLOGY``)."""

from __future__ import annotations

from supporterflow.declare import Topology
from supporterflow.topology import TOPOLOGY

# Accepting only: the tables and queues of the service without its consumers, so an ingest
# figure is not mixed with the cost of delivery running in the same process.
INGEST_ONLY = Topology(tables=TOPOLOGY.tables, queues=TOPOLOGY.queues)
