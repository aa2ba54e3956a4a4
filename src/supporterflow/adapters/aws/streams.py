"""Reading a DynamoDB table's stream from a long-running process (``supporterflow serve --profile
aws``), where the Lambda runtime would otherwise be handed the records.

``DynamoStreamReader`` reads one table's stream with the ``dynamodbstreams`` API (DescribeStream,
GetShardIterator, GetRecords) and returns ``ChangeRecord``\\ s decoded exactly as the Lambda events
are (``lambda_events.change_record``), each with the id of the shard it came from. Progress is a
checkpoint per subscriber and shard (``Checkpoints``): the sequence number of the last record the
subscriber is done with.

Ordering, as DynamoDB Streams give it:

- every change of one item appears once, in the order of the writes, in one shard lineage: a shard
  holds a key's changes for a while, then is closed and its children take over;
- ``read`` returns each shard's records in order, and reads a child shard only once every record of
  its parent has been checkpointed (a parent that has aged out of the stream's 24 hours counts as
  done), so a subscriber that handles the records of a shard in the order given, and checkpoints
  after handling, sees the changes of each key in write order;
- records of different shards (different keys) come in no particular order relative to each other.

Delivery is at least once: ``read`` always starts after the stored checkpoint, so records returned
but not checkpointed are returned again (by the next ``read``, or after a restart).

How the API is used: DescribeStream (all pages) lists the shards, open and closed; it is called
again when a shard ends and at least every ``describe_every_s``. A shard without a checkpoint is read
from TRIM_HORIZON, one with a checkpoint from AFTER_SEQUENCE_NUMBER; one GetRecords per shard per
``read``. The ``NextShardIterator`` is kept and reused while the checkpoint is where the reader left
off, so a subscriber that checkpoints what it read costs one GetRecords per shard per ``read``.
A checkpoint older than the stream's retention (``TrimmedDataAccessException``) means records were
lost; the reader logs an error and goes on from the oldest record still there. Throttling and every
other failure of a call raise ``Retry``. Each boto3 call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import structlog
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
)

from supporterflow.adapters.aws.lambda_events import change_record
from supporterflow.declare import TableDef, physical_name
from supporterflow.ports import ChangeRecord, Retry

log = structlog.get_logger(__name__)

T = TypeVar("T")

MAX_GET_RECORDS = 1000  # GetRecords Limit
CHECKPOINTS_TABLE = "stream-checkpoints"  # <app>-<stage>-stream-checkpoints
# Sequence numbers are strings of 21 to 40 digits: stored left-padded to 40 so that DynamoDB's
# string comparison (in the condition that keeps checkpoints from going back) is numeric order.
SEQUENCE_DIGITS = 40
# A checkpoint row expires (DynamoDB TTL on ``expiresAt``) this long after it was last moved: by
# then every record up to it has left the stream (24 hours), so reading the shard from TRIM_HORIZON
# gives the same records as reading after the checkpoint.
CHECKPOINT_TTL_S = 2 * 24 * 3600
# GetRecords answers for an iterator that cannot be used any more: get a new one.
_STALE_ITERATOR = frozenset({"ExpiredIteratorException", "TrimmedDataAccessException"})


def checkpoints_table_name(app: str, stage: str) -> str:
    return physical_name(CHECKPOINTS_TABLE, None, app, stage)


def _code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "Unknown"))
    return type(error).__name__


async def _call(what: str, call: Callable[[], T], *, passes: frozenset[str] = frozenset()) -> T:
    """One boto3 call in a thread. Errors whose code is in ``passes`` are raised as they are (for
    the caller to handle); every other error raises ``Retry``."""
    try:
        return await asyncio.to_thread(call)
    except (ClientError, BotoCoreError) as error:
        code = _code(error)
        if code in passes:
            raise
        raise Retry(f"{what} failed: {code}") from None


# --------------------------------------------------------------------------------------------------
# Checkpoints


class Checkpoints(Protocol):
    """The sequence number (a string of digits) of the last record a subscriber is done with, per
    shard. ``put`` never moves a checkpoint back."""

    async def get(self, subscriber: str, shard: str) -> str | None: ...

    async def put(self, subscriber: str, shard: str, sequence: str) -> None: ...


class MemoryCheckpoints:
    """Checkpoints kept in memory: lost with the process (for tests, and for a subscriber that may
    read the stream again from its horizon after a restart)."""

    def __init__(self) -> None:
        self._sequences: dict[tuple[str, str], str] = {}

    async def get(self, subscriber: str, shard: str) -> str | None:
        return self._sequences.get((subscriber, shard))

    async def put(self, subscriber: str, shard: str, sequence: str) -> None:
        current = self._sequences.get((subscriber, shard))
        if current is None or int(sequence) > int(current):
            self._sequences[(subscriber, shard)] = str(int(sequence))


class DynamoCheckpoints:
    """Checkpoints in the table ``<app>-<stage>-stream-checkpoints``: hash key ``subscriber`` (S),
    range key ``shard`` (S), attributes ``sequence`` (S, 40 digits, zero-padded) and ``expiresAt``
    (N, epoch seconds; the table's TTL attribute). ``put`` is a conditional PutItem that only
    writes a greater sequence; ``get`` reads consistently."""

    def __init__(self, client: Any, table_name: str, *, clock: Callable[[], float] = time.time) -> None:
        self._client = client  # a boto3 DynamoDB client; boto3 is untyped
        self.table_name = table_name
        self._clock = clock

    async def get(self, subscriber: str, shard: str) -> str | None:
        response = await _call(
            f"DynamoDB GetItem on {self.table_name}",
            lambda: self._client.get_item(
                TableName=self.table_name,
                Key={"subscriber": {"S": subscriber}, "shard": {"S": shard}},
                ConsistentRead=True,
            ),
        )
        item = response.get("Item")
        return None if item is None else str(int(item["sequence"]["S"]))

    async def put(self, subscriber: str, shard: str, sequence: str) -> None:
        padded = str(int(sequence)).zfill(SEQUENCE_DIGITS)
        item = {
            "subscriber": {"S": subscriber},
            "shard": {"S": shard},
            "sequence": {"S": padded},
            "expiresAt": {"N": str(int(self._clock()) + CHECKPOINT_TTL_S)},
        }
        # Refused when the stored checkpoint is already at or past this one: it stays.
        with contextlib.suppress(ClientError):
            await _call(
                f"DynamoDB PutItem on {self.table_name}",
                lambda: self._client.put_item(
                    TableName=self.table_name,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#sequence) OR #sequence < :sequence",
                    ExpressionAttributeNames={"#sequence": "sequence"},
                    ExpressionAttributeValues={":sequence": {"S": padded}},
                ),
                passes=frozenset({"ConditionalCheckFailedException"}),
            )


# --------------------------------------------------------------------------------------------------
# The reader


@dataclass(frozen=True)
class _Shard:
    id: str
    parent: str | None
    start: int  # StartingSequenceNumber


def _lineage_order(shards: list[_Shard]) -> list[_Shard]:
    """Parents before children; otherwise by starting sequence number."""
    by_id = {s.id: s for s in shards}
    ordered: list[_Shard] = []
    placed: set[str] = set()
    for shard in sorted(shards, key=lambda s: s.start):
        chain: list[_Shard] = []
        current: _Shard | None = shard
        while current is not None and current.id not in placed:
            chain.append(current)
            placed.add(current.id)
            current = by_id.get(current.parent) if current.parent else None
        ordered.extend(reversed(chain))
    return ordered


@dataclass
class _Position:
    """Where the reader left a shard for a subscriber: after ``after`` (a sequence number, None for
    the horizon), ``iterator`` goes on; ``iterator`` None means the shard ended there."""

    after: str | None
    iterator: str | None


class DynamoStreamReader:
    """One table's stream, read per subscriber (see the module's docstring for the guarantees).

    ``client`` is a boto3 ``dynamodbstreams`` client, ``stream_arn`` the table's
    ``LatestStreamArn`` (see ``latest_stream_arn``), ``table`` the table's declaration (its name
    and ``strings`` decode the records)."""

    def __init__(
        self,
        client: Any,  # a boto3 DynamoDB Streams client; boto3 is untyped
        stream_arn: str,
        table: TableDef,
        checkpoints: Checkpoints,
        *,
        describe_every_s: float = 60.0,
    ) -> None:
        self._client = client
        self.stream_arn = stream_arn
        self.table = table
        self._checkpoints = checkpoints
        self._describe_every_s = describe_every_s
        self._shards: list[_Shard] = []
        self._described_at: float | None = None
        self._positions: dict[tuple[str, str], _Position] = {}
        # Shards every record of which the subscriber has checkpointed, and which have ended.
        self._done: dict[str, set[str]] = {}
        self._turn: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"DynamoStreamReader(table={self.table.name!r}, stream_arn={self.stream_arn!r})"

    async def read(self, subscriber: str, *, limit: int) -> list[tuple[str, ChangeRecord]]:
        """Up to ``limit`` records after the subscriber's checkpoints, each with its shard id: in
        order within each shard, a child shard only after its parent is done."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        shards = await self._current_shards()
        known = {s.id for s in shards}
        done = self._done.setdefault(subscriber, set())
        done &= known
        # Begin with another shard each time, so that one busy shard does not hold back the rest.
        turn = self._turn.get(subscriber, 0)
        self._turn[subscriber] = turn + 1
        start = turn % len(shards) if shards else 0
        records: list[tuple[str, ChangeRecord]] = []
        pending = shards[start:] + shards[:start]
        while pending:
            waiting: list[_Shard] = []  # children of shards not done (yet)
            finished = False
            for shard in pending:
                if len(records) >= limit:
                    return records
                if shard.id in done:
                    continue
                if shard.parent in known and shard.parent not in done:
                    waiting.append(shard)
                    continue
                taken = await self._read_shard(subscriber, shard, limit - len(records))
                if taken is None:
                    done.add(shard.id)
                    finished = True
                else:
                    records.extend((shard.id, record) for record in taken)
            # A shard found done after its child was passed over: the child's turn now.
            pending = waiting if finished else []
        return records

    async def checkpoint(self, subscriber: str, shard: str, sequence: int | str) -> None:
        """Every record of ``shard`` up to ``sequence`` is done for ``subscriber``."""
        await self._checkpoints.put(subscriber, shard, str(int(sequence)))

    async def _read_shard(self, subscriber: str, shard: _Shard, limit: int) -> list[ChangeRecord] | None:
        """The shard's next records after the checkpoint, or None when it has ended there."""
        checkpoint = await self._checkpoints.get(subscriber, shard.id)
        key = (subscriber, shard.id)
        position = self._positions.get(key)
        if position is None or position.after != checkpoint:
            position = _Position(checkpoint, await self._iterator(shard, checkpoint))
            if position.iterator is None:  # the shard is gone from the stream
                self._positions.pop(key, None)
                return None
        if position.iterator is None:
            return None
        try:
            response = await self._get_records(position.iterator, limit, passes=_STALE_ITERATOR)
        except ClientError:  # the iterator expired (15 minutes) or points to trimmed records
            response = await self._get_records(await self._fresh(shard, checkpoint, key), limit)
        raw = response.get("Records", [])
        records = [change_record(r, self.table) for r in raw]
        after = str(raw[-1]["dynamodb"]["SequenceNumber"]) if raw else checkpoint
        self._positions[key] = _Position(after, response.get("NextShardIterator"))
        if self._positions[key].iterator is None:
            self._described_at = None  # the shard closed: look for its children
            if not records:
                return None
        return records

    async def _fresh(self, shard: _Shard, checkpoint: str | None, key: tuple[str, str]) -> str:
        self._positions.pop(key, None)
        iterator = await self._iterator(shard, checkpoint)
        if iterator is None:
            raise Retry(f"shard {shard.id} of {self.stream_arn} is gone")
        return iterator

    async def _get_records(
        self, iterator: str, limit: int, *, passes: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        response: dict[str, Any] = await _call(
            f"DynamoDB Streams GetRecords on {self.stream_arn}",
            lambda: self._client.get_records(ShardIterator=iterator, Limit=min(limit, MAX_GET_RECORDS)),
            passes=passes,
        )
        return response

    async def _iterator(self, shard: _Shard, after: str | None) -> str | None:
        """A shard iterator after ``after`` (from TRIM_HORIZON when None, or when the records after
        it have been trimmed); None when the shard no longer exists."""
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard.id}
        if after is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        what = f"DynamoDB Streams GetShardIterator on {self.stream_arn}"
        passes = frozenset({"TrimmedDataAccessException", "ResourceNotFoundException"})
        try:
            response = await _call(what, lambda: self._client.get_shard_iterator(**kwargs), passes=passes)
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                self._described_at = None
                return None
            log.error(
                "stream records lost: the checkpoint is older than the stream's retention",
                table=self.table.name,
                shard=shard.id,
                checkpoint=after,
            )
            kwargs = {"StreamArn": self.stream_arn, "ShardId": shard.id, "ShardIteratorType": "TRIM_HORIZON"}
            response = await _call(what, lambda: self._client.get_shard_iterator(**kwargs))
        iterator = response.get("ShardIterator")
        return None if iterator is None else str(iterator)

    async def _current_shards(self) -> list[_Shard]:
        now = time.monotonic()
        if self._described_at is not None and now - self._described_at < self._describe_every_s:
            return self._shards
        shards: list[_Shard] = []
        exclusive_start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
            if exclusive_start is not None:
                kwargs["ExclusiveStartShardId"] = exclusive_start
            response = await _call(
                f"DynamoDB Streams DescribeStream on {self.stream_arn}",
                lambda kwargs=kwargs: self._client.describe_stream(**kwargs),  # type: ignore[misc]
            )
            description = response["StreamDescription"]
            shards.extend(
                _Shard(
                    id=str(s["ShardId"]),
                    parent=s.get("ParentShardId"),
                    start=int(s["SequenceNumberRange"]["StartingSequenceNumber"]),
                )
                for s in description.get("Shards", [])
            )
            exclusive_start = description.get("LastEvaluatedShardId")
            if not exclusive_start:
                break
        self._shards = _lineage_order(shards)
        self._described_at = now
        known = {s.id for s in self._shards}
        for key in [k for k in self._positions if k[1] not in known]:
            del self._positions[key]
        return self._shards


async def latest_stream_arn(client: Any, table_name: str) -> str:
    """The ``LatestStreamArn`` of a table (``client`` is a boto3 DynamoDB client)."""
    response = await _call(
        f"DynamoDB DescribeTable on {table_name}", lambda: client.describe_table(TableName=table_name)
    )
    arn = response["Table"].get("LatestStreamArn")
    if not arn:
        raise ValueError(f"table {table_name} has no stream")
    return str(arn)
