"""``gdpr erase`` on the aws profile (moto): the DLQs are swept (each message received once and
made visible again unless it holds the user), and the work queues, which SQS cannot sweep
without counting receives towards their redrive, are named in the summary and its audit entry."""

from __future__ import annotations

import json
from pathlib import Path

from supporterflow.adapters.clock import FrozenClock
from supporterflow.bootstrap import bootstrap
from supporterflow.entrypoints.http.gdpr import erase
from supporterflow.topology import TOPOLOGY
from tests.aws.test_aws_runtime import (  # noqa: F401 (endpoint, moto_endpoint: fixtures)
    aws_settings,
    endpoint,
    moto_endpoint,
    provisioned,
)

USER = "user-to-erase"
SOI_DLQ = "soft-opt-in-acquisitions-dlq"


async def test_an_erasure_sweeps_the_dlqs_and_names_the_queues_it_cannot(
    tmp_path: Path,
    endpoint: str,  # noqa: F811
) -> None:
    settings = aws_settings(tmp_path, endpoint, "CODE", provisioned(endpoint, "CODE"))
    container = bootstrap(settings, clock=FrozenClock("2026-03-01T12:00:00+00:00"), topology=TOPOLOGY).open()
    try:
        dlq = container.queues[SOI_DLQ]
        for user in (USER, "someone-else"):
            await dlq.send(json.dumps({"subscriptionId": "s-1", "identityId": user, "timestamp": 1}).encode())

        summary = await erase(container, USER)

        assert summary.removed == {SOI_DLQ: 1}
        assert "apple-subscriptions-to-fetch" in summary.not_swept
        assert all(not name.endswith("-dlq") for name in summary.not_swept)
        [left] = (await dlq.list()).messages
        assert json.loads(left.body)["identityId"] == "someone-else"
        audit = await container.tables["gdpr-erasures"].get({"id": summary.erasure_id})
        assert audit is not None
        assert audit["queuesNotSwept"] == list(summary.not_swept)
        assert USER not in json.dumps(audit)
    finally:
        await container.aclose()
