"""The ``ChangeStream`` port on DynamoDB Streams, so that the local ``StreamDispatcher`` runs
unchanged in ``supporterflow serve --profile aws``.

The port has one checkpoint per subscriber, a sequence number; DynamoDB Streams need one per
subscriber and shard (``DynamoStreamReader``). The two meet like this:

- each ``OnChange`` subscription names one table, so ``read`` takes exactly one table (anything
  else raises ``ValueError``) and asks that table's reader;
- ``read`` returns the records of ONE shard only, in that shard's order: the first shard the reader
  answered with (the reader begins with another shard on each read, so shards take turns). Records
  of other shards that came with it are dropped, not checkpointed, and come again on a later read;
- ``read`` remembers, per subscriber, the shard of every record it returned last, so that
  ``checkpoint(subscriber, records[-1].sequence)`` (what the dispatcher does after a batch) moves
  the checkpoint of that shard.

Ordering and delivery are the reader's: each key's changes in write order, at least once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from supporterflow.adapters.aws.streams import Checkpoints, DynamoStreamReader, latest_stream_arn
from supporterflow.declare import TableDef
from supporterflow.ports import ChangeRecord


class DynamoChangeStream:
    """``readers`` maps each logical table name to the reader of its stream."""

    def __init__(self, readers: Mapping[str, DynamoStreamReader]) -> None:
        self._readers = dict(readers)
        # subscriber -> sequence -> (table, shard), for the records of its last read.
        self._returned: dict[str, dict[int, tuple[str, str]]] = {}

    @property
    def tables(self) -> list[str]:
        return list(self._readers)

    def _reader(self, tables: Sequence[str]) -> tuple[str, DynamoStreamReader]:
        names = list(dict.fromkeys(tables))
        if len(names) != 1:
            raise ValueError(
                "DynamoChangeStream reads one table per call (each OnChange subscription names one "
                f"table), not {names!r}"
            )
        table = names[0]
        reader = self._readers.get(table)
        if reader is None:
            raise ValueError(f"no stream reader for table {table!r} (known: {sorted(self._readers)})")
        return table, reader

    async def read(self, subscriber: str, *, tables: Sequence[str], limit: int) -> list[ChangeRecord]:
        """Records of the one table in ``tables`` after the subscriber's checkpoints, all of one
        shard, in that shard's order."""
        table, reader = self._reader(tables)
        taken = await reader.read(subscriber, limit=limit)
        if not taken:
            self._returned[subscriber] = {}
            return []
        shard = taken[0][0]
        records = [record for of, record in taken if of == shard]
        self._returned[subscriber] = {record.sequence: (table, shard) for record in records}
        return records

    async def checkpoint(self, subscriber: str, sequence: int) -> None:
        """Everything up to ``sequence`` is done for this subscriber, in the shard of that record:
        ``sequence`` must be one the subscriber's last ``read`` returned (``ValueError`` if not)."""
        where = self._returned.get(subscriber, {}).get(sequence)
        if where is None:
            raise ValueError(
                f"sequence {sequence} was not returned by the last read of subscriber {subscriber!r}"
            )
        table, shard = where
        await self._readers[table].checkpoint(subscriber, shard, sequence)

    async def lag(self, subscriber: str, *, tables: Sequence[str]) -> int:
        """Always 0: DynamoDB Streams have no cheap count of the records a subscriber has not read
        (it would take reading every shard to its end). The template's alarm on the stream's
        ``IteratorAge`` covers a subscriber falling behind."""
        return 0


async def dynamo_change_stream(
    dynamodb: Any,  # a boto3 DynamoDB client; boto3 is untyped
    streams: Any,  # a boto3 DynamoDB Streams client
    tables: Iterable[TableDef],
    checkpoints: Checkpoints,
    *,
    app: str,
    stage: str,
) -> DynamoChangeStream:
    """A change stream over the streams of ``tables`` that have ``stream`` set (each table's
    ``LatestStreamArn`` is looked up once, here)."""
    readers: dict[str, DynamoStreamReader] = {}
    for table in tables:
        if table.stream:
            arn = await latest_stream_arn(dynamodb, table.physical_name(app, stage))
            readers[table.name] = DynamoStreamReader(streams, arn, table, checkpoints)
    return DynamoChangeStream(readers)
