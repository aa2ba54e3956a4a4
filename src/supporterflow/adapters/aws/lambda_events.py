"""The AWS Lambda event shapes, decoded into the ports' types (pure: no AWS clients).

- ``change_records``: a DynamoDB Streams event (``Records[*]`` with ``eventName``, ``dynamodb``
  and ``eventSourceARN``) -> ``ChangeRecord``\\ s. ``change_record`` decodes one record and is also
  what ``streams.DynamoStreamReader`` uses for the records of ``GetRecords``, which have the same
  ``dynamodb`` shape but no ``eventSourceARN`` (the reader knows its table).
- ``sqs_messages``: an SQS event -> ``Received`` messages (with the correlation id of the message
  attribute ``correlation_id``, in Lambda's shape ``messageAttributes.correlation_id.stringValue``).
- ``batch_response``: the partial batch response (``ReportBatchItemFailures``) naming the items to
  deliver again: SQS message ids, or stream records' ``SequenceNumber`` (the event source mapping
  retries a stream batch from the lowest one named).

Images and keys are DynamoDB JSON, decoded by ``marshal.from_dynamo`` with the table's ``strings``
(a NULL attribute the data-mapper declares as a string reads back as ``''``), so a record reads the
same as the local change stream's. ``table`` in a record is the logical table name.

TTL deletions: DynamoDB marks the REMOVE records of expired items with the service principal
``dynamodb.amazonaws.com`` (``userIdentity`` is ``{"type": "Service", "principalId": ...}`` in a
Lambda event and ``{"Type": "Service", "PrincipalId": ...}`` from ``GetRecords``); those records get
``principal = TTL_PRINCIPAL``, every other record None.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from supporterflow.adapters.aws.marshal import from_dynamo
from supporterflow.declare import TableDef
from supporterflow.logs import CORRELATION_ATTRIBUTE, valid_correlation_id
from supporterflow.ports import TTL_PRINCIPAL, ChangeEvent, ChangeRecord, Received

TTL_SERVICE_PRINCIPAL = "dynamodb.amazonaws.com"
_EVENTS: frozenset[str] = frozenset({"INSERT", "MODIFY", "REMOVE"})


def table_name_of(stream_arn: str) -> str:
    """The table name in a stream ARN:
    ``arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>``."""
    parts = stream_arn.split(":", 5)
    resource = parts[5].split("/") if len(parts) == 6 else []
    if len(resource) < 4 or resource[0] != "table" or resource[2] != "stream" or not resource[1]:
        raise ValueError(f"not a DynamoDB stream ARN: {stream_arn!r}")
    return resource[1]


def _created_at(value: Any) -> datetime:
    """``ApproximateCreationDateTime``: epoch seconds in a Lambda event, a ``datetime`` from boto3."""
    if value is None:
        raise ValueError("stream record without dynamodb.ApproximateCreationDateTime")
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float | Decimal | str) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    raise ValueError(f"ApproximateCreationDateTime of an unexpected type: {type(value).__name__}")


def _principal(record: Mapping[str, Any]) -> str | None:
    identity = record.get("userIdentity") or {}
    kind = identity.get("type", identity.get("Type"))
    principal = identity.get("principalId", identity.get("PrincipalId"))
    return TTL_PRINCIPAL if kind == "Service" and principal == TTL_SERVICE_PRINCIPAL else None


def change_record(record: Mapping[str, Any], table: TableDef) -> ChangeRecord:
    """One stream record (of a Lambda event or of ``GetRecords``) of ``table``."""
    event_name = record.get("eventName")
    if event_name not in _EVENTS:
        raise ValueError(f"stream record with an unknown eventName: {event_name!r}")
    data = record.get("dynamodb")
    if not isinstance(data, Mapping) or "SequenceNumber" not in data or "Keys" not in data:
        raise ValueError("stream record without dynamodb.SequenceNumber and dynamodb.Keys")
    old, new = data.get("OldImage"), data.get("NewImage")
    return ChangeRecord(
        sequence=int(data["SequenceNumber"]),
        table=table.name,
        event_name=cast(ChangeEvent, event_name),
        keys=from_dynamo(dict(data["Keys"]), table.strings),
        old_image=None if old is None else from_dynamo(dict(old), table.strings),
        new_image=None if new is None else from_dynamo(dict(new), table.strings),
        principal=_principal(record),
        committed_at=_created_at(data.get("ApproximateCreationDateTime")),
    )


def change_records(event: Mapping[str, Any], tables: Mapping[str, TableDef]) -> list[ChangeRecord]:
    """The records of a DynamoDB Streams Lambda event, in the event's order (which is the stream's
    order per shard). ``tables`` maps physical table names to their declarations; a record of a
    table not in it raises ``ValueError``."""
    records: list[ChangeRecord] = []
    for record in event.get("Records", []):
        name = table_name_of(str(record.get("eventSourceARN", "")))
        table = tables.get(name)
        if table is None:
            raise ValueError(f"stream record of an unknown table: {name}")
        records.append(change_record(record, table))
    return records


def _correlation_id(message: Mapping[str, Any]) -> str | None:
    attribute = (message.get("messageAttributes") or {}).get(CORRELATION_ATTRIBUTE) or {}
    value = attribute.get("stringValue")
    return valid_correlation_id(value) if isinstance(value, str) else None


def sqs_messages(event: Mapping[str, Any]) -> list[Received]:
    """The messages of an SQS Lambda event. The body is the message text as UTF-8 bytes; the
    receipt handle is the event's (Lambda deletes the messages that the batch response does not
    name as failures)."""
    return [
        Received(
            message_id=str(m["messageId"]),
            body=str(m["body"]).encode("utf-8"),
            receipt=str(m["receiptHandle"]),
            receive_count=int(m["attributes"]["ApproximateReceiveCount"]),
            sent_at=datetime.fromtimestamp(int(m["attributes"]["SentTimestamp"]) / 1000, UTC),
            correlation_id=_correlation_id(m),
        )
        for m in event.get("Records", [])
    ]


def batch_response(failed_ids: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """A partial batch response: ``{"batchItemFailures": [{"itemIdentifier": id}, ...]}``, each id
    once, in the order given. Empty means the whole batch succeeded."""
    return {"batchItemFailures": [{"itemIdentifier": i} for i in dict.fromkeys(failed_ids)]}
