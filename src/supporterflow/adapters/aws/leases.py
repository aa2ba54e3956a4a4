"""The ``Coordination`` port (leases and schedule state) on a DynamoDB table, so that several
``supporterflow serve --profile aws`` processes agree on who dispatches a change stream or runs a
schedule (same semantics as the local ``SqliteCoordination``).

The table: hash key ``name`` (S); attributes ``owner`` (S), ``expiresAt`` (N, epoch seconds, with
fractions) and ``ttl`` (N, whole epoch seconds: ``expiresAt`` plus a day; the table's TTL attribute,
so that leases nobody released vanish on their own).

- ``acquire`` is one conditional PutItem: it writes when there is no lease, when the caller already
  holds it (a renewal) or when it has lapsed (``expiresAt`` before now); a refused condition
  (``ConditionalCheckFailedException``) means another owner holds it: False.
- ``release`` is a DeleteItem conditioned on the owner: a lease taken over by someone else after it
  lapsed stays theirs, and the refused condition is ignored.
- Every other error from boto3 raises ``Retry``. Each boto3 call runs in a worker thread.

Time is the caller's ``Clock``: holders' clocks are assumed to agree to well within a lease's TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
)

from supporterflow.declare import physical_name
from supporterflow.ports import Clock, Retry

T = TypeVar("T")

LEASES_TABLE = "leases"  # <app>-<stage>-leases
# How long a lease row outlives its expiry before DynamoDB's TTL deletes it.
TTL_GRACE_S = 24 * 3600
_CONDITION_FAILED = "ConditionalCheckFailedException"
# Not "schedule:<name>": the scheduler takes its lease under that name, in the same table.
_SCHEDULE = "next-due:"


def leases_table_name(app: str, stage: str) -> str:
    return physical_name(LEASES_TABLE, None, app, stage)


class _Refused(Exception):
    """The write's condition did not hold."""


def _number(value: float) -> str:
    """An epoch-seconds value as a DynamoDB number (millisecond precision)."""
    return format(round(value, 3), ".3f")


class DynamoLeases:
    def __init__(self, client: Any, table_name: str, clock: Clock) -> None:
        self._client = client  # a boto3 DynamoDB client; boto3 is untyped
        self.table_name = table_name
        self._clock = clock

    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the lease ``name`` for ``ttl_s`` seconds; False while another owner holds it."""
        now = self._clock.now().timestamp()
        expires_at = now + ttl_s
        item = {
            "name": {"S": name},
            "owner": {"S": owner},
            "expiresAt": {"N": _number(expires_at)},
            "ttl": {"N": str(int(expires_at) + TTL_GRACE_S)},
        }
        try:
            await self._call(
                "PutItem",
                lambda: self._client.put_item(
                    TableName=self.table_name,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#n) OR #o = :owner OR #e < :now",
                    ExpressionAttributeNames={"#n": "name", "#o": "owner", "#e": "expiresAt"},
                    ExpressionAttributeValues={":owner": {"S": owner}, ":now": {"N": _number(now)}},
                ),
            )
        except _Refused:
            return False
        return True

    async def release(self, name: str, owner: str) -> None:
        """Give the lease up, if ``owner`` still holds it."""
        # A refused condition: another owner's lease now, or none; nothing of ours to release.
        with contextlib.suppress(_Refused):
            await self._call(
                "DeleteItem",
                lambda: self._client.delete_item(
                    TableName=self.table_name,
                    Key={"name": {"S": name}},
                    ConditionExpression="#o = :owner",
                    ExpressionAttributeNames={"#o": "owner"},
                    ExpressionAttributeValues={":owner": {"S": owner}},
                ),
            )

    # schedule state (the ``Coordination`` port) ------------------------------------------------

    async def next_due(self, schedule: str) -> datetime | None:
        """When ``schedule`` is next due: a row ``next-due:<name>`` with ``nextDue`` (N) beside the
        leases (no TTL: a schedule's state lives as long as the schedule)."""
        response = await self._call(
            "GetItem",
            lambda: self._client.get_item(
                TableName=self.table_name, Key={"name": {"S": _SCHEDULE + schedule}}, ConsistentRead=True
            ),
        )
        item = response.get("Item")
        return None if item is None else datetime.fromtimestamp(float(item["nextDue"]["N"]), UTC)

    async def set_next_due(self, schedule: str, due: datetime) -> None:
        await self._call(
            "PutItem",
            lambda: self._client.put_item(
                TableName=self.table_name,
                Item={"name": {"S": _SCHEDULE + schedule}, "nextDue": {"N": _number(due.timestamp())}},
            ),
        )

    async def _call(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(call)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", "Unknown"))
            if code == _CONDITION_FAILED:
                raise _Refused from None
            raise Retry(f"DynamoDB {operation} on {self.table_name} failed: {code}") from None
        except BotoCoreError as error:
            raise Retry(f"DynamoDB {operation} on {self.table_name} failed: {type(error).__name__}") from None
