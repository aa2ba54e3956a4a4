"""The ``Table`` port on Amazon DynamoDB.

One ``DynamoTable`` wraps one DynamoDB table and a boto3 DynamoDB *client* (the low-level API, not
the resource). boto3 is synchronous, so every call runs in a worker thread
(``asyncio.to_thread``) and the event loop never waits on the network.

How the port maps to DynamoDB:

- Items are marshalled as the original's data-mapper wrote them (``marshal.py``, spec
  mobile-purchases.md §1.2): ``''`` is stored as NULL at any depth, and reads back as ``''`` only
  for the top-level attributes the ``TableDef`` declares as ``strings``; elsewhere it reads back
  as None, as it did in the original.
- Conditions become ``ConditionExpression`` with ``ExpressionAttributeNames``/``Values``
  placeholders (an attribute name is never written into an expression). A condition that does
  not hold raises ``ConditionFailed`` and nothing is written.
- ``put``/``delete`` without ``then_send`` are one ``PutItem``/``DeleteItem`` each. With
  ``then_send`` the write and one row per message in the outbox table (``DynamoOutbox``) are one
  ``TransactWriteItems``: the messages exist if and only if the write happened. A stream on the
  outbox table relays them to SQS.
- Pages of ``query`` and ``scan`` hold exactly ``limit`` items unless they are the last, and carry
  a cursor only when more items follow, as the SQLite adapter's: the adapter asks for one item
  more than the page and continues after DynamoDB's 1 MB pages. The cursor is the key of the last
  item of the page (table keys, plus the index keys for an index query), encoded with
  ``adapters/cursors.py``.
- Reads of the table (``get``, ``batch_get``, ``query`` without index, ``scan``) are strongly
  consistent unless ``consistent_reads=False``; index queries cannot be (DynamoDB's GSIs are
  eventually consistent).
- Throttling, server errors and network failures raise ``Retry`` naming the operation, the table
  and the error code; a request DynamoDB refuses as invalid (``ValidationException``, a bad
  parameter) raises ``ValueError`` with DynamoDB's message. Item values never appear in errors.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any, TypeVar

from botocore.exceptions import (  # type: ignore[import-untyped]
    ClientError,
    HTTPClientError,
    ParamValidationError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from supporterflow.adapters import cursors
from supporterflow.adapters.aws.marshal import AttributeValue, from_dynamo, to_dynamo, to_value
from supporterflow.adapters.conditions import holds
from supporterflow.declare import TableDef
from supporterflow.domain.exports.lines import without
from supporterflow.logs import current_correlation_id
from supporterflow.ports import (
    Absent,
    AllOf,
    AnyOf,
    AttrEquals,
    AttrLessThan,
    AttrMissing,
    Condition,
    ConditionFailed,
    Exists,
    Item,
    Key,
    KeyRange,
    Outgoing,
    Page,
    Queue,
    Retry,
    Scalar,
)

T = TypeVar("T")
Image = dict[str, AttributeValue]

MAX_BATCH_GET = 100  # keys per BatchGetItem
MAX_BATCH_WRITE = 25  # requests per BatchWriteItem
MAX_TRANSACTION_ITEMS = 100  # actions per TransactWriteItems
MAX_DELAY_S = 900  # SQS DelaySeconds: 0..900
BATCH_ATTEMPTS = 6  # BatchGetItem/BatchWriteItem calls per chunk before giving up with Retry
BACKOFF_BASE_S = 0.05
BACKOFF_MAX_S = 1.0
DELETE_ATTEMPTS = 3  # read-then-transact rounds of a delete with then_send

_VALIDATION_CODES = frozenset({"ValidationException", "SerializationException"})
_CONDITION_FAILED = "ConditionalCheckFailedException"
_TRANSACTION_CANCELED = "TransactionCanceledException"


def _error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "Unknown"))
    return type(error).__name__


def _error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", "")) or _error_code(error)


def _backoff(attempt: int) -> float:
    return float(min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt))


def _key_value(source: Mapping[str, Any], attribute: str, table: str) -> Scalar:
    value = source.get(attribute)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{table}: key attribute {attribute!r} must be a string or a number, got {value!r}")
    if value == "":
        raise ValueError(f"{table}: key attribute {attribute!r} must not be an empty string")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{table}: key attribute {attribute!r} must be a finite number")
    return value


def _check_path(path: str) -> None:
    if not path or any(not label for label in path.split(".")):
        raise ValueError(f"not a document path: {path!r}")


def _compact(item: Item) -> bytes:
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()


class _Expression:
    """Placeholders for one request's expressions: ``#n0``... for names, ``:v0``... for values."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}  # attribute name -> placeholder
        self._values: dict[str, AttributeValue] = {}

    def name(self, attribute: str) -> str:
        if attribute not in self._names:
            self._names[attribute] = f"#n{len(self._names)}"
        return self._names[attribute]

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self._values)}"
        self._values[placeholder] = to_value(value)
        return placeholder

    def arguments(self) -> dict[str, Any]:
        """``ExpressionAttributeNames``/``Values`` (DynamoDB refuses them empty)."""
        arguments: dict[str, Any] = {}
        if self._names:
            arguments["ExpressionAttributeNames"] = {p: name for name, p in self._names.items()}
        if self._values:
            arguments["ExpressionAttributeValues"] = dict(self._values)
        return arguments

    def condition(self, condition: Condition, hash_key: str) -> str:
        """``condition`` as a ``ConditionExpression`` (``hash_key`` stands for the item)."""
        match condition:
            case Exists():
                return f"attribute_exists({self.name(hash_key)})"
            case Absent():
                return f"attribute_not_exists({self.name(hash_key)})"
            case AttrEquals(name, value):
                stored = to_value(value)
                if stored.get("NULL") is True:
                    # None and '' are both stored as NULL: compare the type, which is defined
                    # for NULL where "=" might not be.
                    return f"attribute_type({self.name(name)}, {self.value('NULL')})"
                return f"{self.name(name)} = {self.value(value)}"
            case AttrLessThan(name, value):
                return f"{self.name(name)} < {self.value(value)}"
            case AttrMissing(name):
                return f"attribute_not_exists({self.name(name)})"
            case AnyOf(conditions):
                if not conditions:  # any() of nothing is false
                    item = self.name(hash_key)
                    return f"(attribute_exists({item}) AND attribute_not_exists({item}))"
                return "(" + " OR ".join(self.condition(c, hash_key) for c in conditions) + ")"
            case AllOf(conditions):
                if not conditions:  # all() of nothing is true
                    item = self.name(hash_key)
                    return f"(attribute_exists({item}) OR attribute_not_exists({item}))"
                return "(" + " AND ".join(self.condition(c, hash_key) for c in conditions) + ")"
        raise TypeError(f"not a condition: {condition!r}")

    def key_condition(
        self, hash_name: str, hash_value: Scalar, sort_name: str | None, sort: KeyRange | None
    ) -> str:
        expression = f"{self.name(hash_name)} = {self.value(hash_value)}"
        if sort is None:
            return expression
        if sort_name is None:
            raise ValueError("a sort condition needs a sort key")
        name = self.name(sort_name)
        if sort.op == "between":
            if sort.upper is None:
                raise ValueError("between needs an upper bound")
            return f"{expression} AND {name} BETWEEN {self.value(sort.value)} AND {self.value(sort.upper)}"
        if sort.op == "begins_with":
            if not isinstance(sort.value, str):
                raise ValueError("begins_with needs a string")
            return f"{expression} AND begins_with({name}, {self.value(sort.value)})"
        if sort.op not in ("=", "<", "<=", ">", ">="):
            raise ValueError(f"not a key condition operator: {sort.op!r}")
        return f"{expression} AND {name} {sort.op} {self.value(sort.value)}"


class DynamoOutbox:
    """The outbox table that messages sent with a write (``then_send``) are committed to.

    Each message is one row: ``id`` (S, a uuid4 hex, the hash key), ``queueUrl`` (S, from
    ``queue_urls``), ``body`` (S, the body decoded as UTF-8), ``delaySeconds`` (N, clamped to
    SQS's 0..900), ``ttl`` (N, epoch seconds ``ttl_s`` from now) and, when there is one,
    ``correlationId`` (S: the message's own, else the one bound when the write is made, see
    ``logs.current_correlation_id``). A stream on the table relays the rows to SQS; the TTL
    removes rows the relay has long handled."""

    def __init__(
        self,
        table_name: str,
        queue_urls: Callable[[Queue], str],
        ttl_s: int = 86400,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.table_name = table_name
        self.ttl_s = ttl_s
        self._queue_urls = queue_urls
        self._now = now

    def __repr__(self) -> str:
        return f"DynamoOutbox(table_name={self.table_name!r})"

    def actions(self, messages: Sequence[Outgoing]) -> list[dict[str, Any]]:
        """One ``Put`` action of ``TransactWriteItems`` per message. Raises ``ValueError`` for a
        body that is not UTF-8, before anything is written."""
        expires = math.ceil(self._now()) + self.ttl_s
        bound = current_correlation_id()
        actions: list[dict[str, Any]] = []
        for message in messages:
            if not isinstance(message.body, bytes):
                raise TypeError("message bodies are bytes")
            try:
                text = message.body.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(f"the body of a message for {message.queue.name} is not UTF-8") from error
            row = {
                "id": {"S": uuid.uuid4().hex},
                "queueUrl": {"S": self._queue_urls(message.queue)},
                "body": {"S": text},
                "delaySeconds": {"N": str(max(0, min(MAX_DELAY_S, message.delay_s)))},
                "ttl": {"N": str(expires)},
            }
            correlation_id = message.correlation_id or bound
            if correlation_id:
                row["correlationId"] = {"S": correlation_id}
            actions.append({"Put": {"TableName": self.table_name, "Item": row}})
        return actions


class DynamoTable:
    """One DynamoDB table behind the ``Table`` port.

    ``client`` is a boto3 DynamoDB client (``boto3.client("dynamodb")``; boto3 is untyped, so it
    is ``Any`` here), ``definition`` the logical table (keys, indexes, declared string
    attributes) and ``table_name`` its physical name. ``outbox`` is where ``then_send`` messages
    go; without one, a write with messages raises ``TypeError`` before anything is written."""

    def __init__(
        self,
        client: Any,  # a boto3 DynamoDB client; boto3 is untyped
        definition: TableDef,
        *,
        table_name: str,
        outbox: DynamoOutbox | None = None,
        consistent_reads: bool = True,
    ) -> None:
        self.definition = definition
        self.name = definition.name
        self.table_name = table_name
        self.outbox = outbox
        self._client = client
        self._consistent = consistent_reads
        self._table_keys = [definition.hash_key] + ([definition.sort_key] if definition.sort_key else [])

    def __repr__(self) -> str:
        return f"DynamoTable(name={self.name!r}, table_name={self.table_name!r})"

    # calls -----------------------------------------------------------------------------------

    async def _call(self, operation: str, call: Callable[[], T]) -> T:
        """Run one boto3 call in a thread and translate its errors."""
        try:
            return await asyncio.to_thread(call)
        except ClientError as error:
            raise self._translated(operation, error) from None
        except ParamValidationError as error:
            raise ValueError(f"DynamoDB {operation} on table {self.table_name}: {error}") from None
        except (BotoConnectionError, HTTPClientError) as error:
            raise Retry(
                f"DynamoDB {operation} on table {self.table_name} failed: {_error_code(error)}"
            ) from None

    def _translated(self, operation: str, error: ClientError) -> Exception:
        code = _error_code(error)
        where = f"DynamoDB {operation} on table {self.table_name}"
        if code == _CONDITION_FAILED:
            return ConditionFailed(f"{self.name}: the condition does not hold")
        if code in _VALIDATION_CODES:
            return ValueError(f"{where}: {_error_message(error)}")
        if code == _TRANSACTION_CANCELED:
            reasons = _cancellation_reasons(error)
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return ConditionFailed(f"{self.name}: the condition does not hold")
            if "ValidationError" in reasons:
                return ValueError(f"{where}: {_error_message(error)}")
            return Retry(f"{where} was cancelled: {', '.join(reasons) or 'no reason given'}")
        return Retry(f"{where} failed: {code}")

    async def _transact(self, actions: list[dict[str, Any]]) -> None:
        if len(actions) > MAX_TRANSACTION_ITEMS:
            raise ValueError(
                f"{self.name}: a write can carry at most {MAX_TRANSACTION_ITEMS - 1} messages "
                f"(one TransactWriteItems), got {len(actions) - 1}"
            )
        # The same token on boto3's own retries of this call makes them idempotent.
        token = uuid.uuid4().hex
        await self._call(
            "TransactWriteItems",
            lambda: self._client.transact_write_items(TransactItems=actions, ClientRequestToken=token),
        )

    # keys and items --------------------------------------------------------------------------

    def _key(self, source: Mapping[str, Any]) -> Image:
        """The table key of ``source`` (a key or a whole item) as DynamoDB's ``Key``."""
        return {name: to_value(_key_value(source, name, self.name)) for name in self._table_keys}

    def _item(self, image: Mapping[str, Any]) -> Item:
        return from_dynamo(image, self.definition.strings)

    def _schema(self, index: str | None) -> tuple[str, str | None, list[str]]:
        """The hash and sort key of the table or of ``index``, and the attributes of a position in
        it (the table keys, plus the index keys)."""
        if index is None:
            return self.definition.hash_key, self.definition.sort_key, list(self._table_keys)
        spec = self.definition.indexes.get(index)
        if spec is None:
            raise ValueError(f"{self.name} has no index {index!r}")
        position = list(self._table_keys)
        position += [name for name in (spec.hash_key, spec.sort_key) if name and name not in position]
        return spec.hash_key, spec.sort_key, position

    def _outbox_actions(self, then_send: Sequence[Outgoing]) -> list[dict[str, Any]]:
        if self.outbox is None:
            raise TypeError(
                f"{self.name}: a write with then_send needs a DynamoOutbox: it cannot share the commit"
            )
        return self.outbox.actions(then_send)

    # writes ----------------------------------------------------------------------------------

    async def put(
        self, item: Item, *, condition: Condition | None = None, then_send: Sequence[Outgoing] = ()
    ) -> None:
        self._key(item)  # a bad key fails here, before anything is sent
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": to_dynamo(item, self.definition.strings),
        }
        if condition is not None:
            expression = _Expression()
            request["ConditionExpression"] = expression.condition(condition, self.definition.hash_key)
            request.update(expression.arguments())
        if not then_send:
            await self._call("PutItem", lambda: self._client.put_item(**request))
            return
        await self._transact([{"Put": request}, *self._outbox_actions(then_send)])

    async def delete(
        self, key: Key, *, condition: Condition | None = None, then_send: Sequence[Outgoing] = ()
    ) -> Item | None:
        """Delete the item and return its old image.

        With ``then_send`` a transaction cannot return the old image: the item is read first
        (strongly consistent), then deleted in a ``TransactWriteItems`` with the messages, on the
        condition that the caller's condition holds and that the item still exists (or still
        does not). If it appeared or went in between, the read and the transaction are done
        again (``Retry`` after three rounds). The old image returned is the one read: a change of
        its other attributes between the read and the delete is not seen."""
        dynamo_key = self._key(key)
        if not then_send:
            request: dict[str, Any] = {
                "TableName": self.table_name,
                "Key": dynamo_key,
                "ReturnValues": "ALL_OLD",
            }
            if condition is not None:
                expression = _Expression()
                request["ConditionExpression"] = expression.condition(condition, self.definition.hash_key)
                request.update(expression.arguments())
            response = await self._call("DeleteItem", lambda: self._client.delete_item(**request))
            old = response.get("Attributes")
            return self._item(old) if old else None

        messages = self._outbox_actions(then_send)
        hash_key = self.definition.hash_key
        for _ in range(DELETE_ATTEMPTS):
            old_item = await self._get(dynamo_key, consistent=True)
            expression = _Expression()
            existence = Exists() if old_item is not None else Absent()
            guard: Condition = existence if condition is None else AllOf((condition, existence))
            action = {
                "TableName": self.table_name,
                "Key": dynamo_key,
                "ConditionExpression": expression.condition(guard, hash_key),
                **expression.arguments(),
            }
            try:
                await self._transact([{"Delete": action}, *messages])
            except ConditionFailed:
                if not holds(condition, await self._get(dynamo_key, consistent=True)):
                    raise
                continue  # only the existence changed: read again
            return old_item
        raise Retry(f"{self.name}: the item kept changing while it was deleted")

    async def batch_write(self, puts: Sequence[Item] = (), deletes: Sequence[Key] = ()) -> None:
        """``BatchWriteItem`` in chunks of 25; requests DynamoDB leaves unprocessed are sent again
        with a short back-off, then ``Retry``. Every key and item is checked before anything is
        written. A key both put and deleted in one call is deleted (DynamoDB refuses two requests
        for one key in a batch); a key put twice gets the last item."""
        requests: dict[str, dict[str, Any]] = {}
        for item in puts:
            key = self._key(item)
            image = to_dynamo(item, self.definition.strings)
            requests[json.dumps(key, sort_keys=True)] = {"PutRequest": {"Item": image}}
        for key_source in deletes:
            key = self._key(key_source)
            requests[json.dumps(key, sort_keys=True)] = {"DeleteRequest": {"Key": key}}
        pending = list(requests.values())
        for start in range(0, len(pending), MAX_BATCH_WRITE):
            await self._write_chunk(pending[start : start + MAX_BATCH_WRITE])

    async def _write_chunk(self, chunk: list[dict[str, Any]]) -> None:
        request_items: dict[str, Any] = {self.table_name: chunk}
        for attempt in range(BATCH_ATTEMPTS):
            if attempt:
                await asyncio.sleep(_backoff(attempt - 1))
            response = await self._call(
                "BatchWriteItem",
                functools.partial(self._client.batch_write_item, RequestItems=request_items),
            )
            unprocessed = (response.get("UnprocessedItems") or {}).get(self.table_name) or []
            if not unprocessed:
                return
            request_items = {self.table_name: unprocessed}
        raise Retry(
            f"DynamoDB BatchWriteItem on table {self.table_name}: {len(unprocessed)} requests left "
            f"unprocessed after {BATCH_ATTEMPTS} attempts"
        )

    # reads -----------------------------------------------------------------------------------

    async def _get(self, key: Image, *, consistent: bool) -> Item | None:
        response = await self._call(
            "GetItem",
            lambda: self._client.get_item(TableName=self.table_name, Key=key, ConsistentRead=consistent),
        )
        image = response.get("Item")
        return self._item(image) if image else None

    async def get(self, key: Key) -> Item | None:
        return await self._get(self._key(key), consistent=self._consistent)

    async def batch_get(self, keys: Sequence[Key]) -> list[Item]:
        """``BatchGetItem`` in chunks of 100 distinct keys; keys DynamoDB leaves unprocessed are
        asked again with a short back-off, then ``Retry``."""
        distinct: dict[str, Image] = {}
        for key in keys:
            dynamo_key = self._key(key)
            distinct.setdefault(json.dumps(dynamo_key, sort_keys=True), dynamo_key)
        pending = list(distinct.values())
        found: list[Item] = []
        for start in range(0, len(pending), MAX_BATCH_GET):
            found += await self._get_chunk(pending[start : start + MAX_BATCH_GET])
        return found

    async def _get_chunk(self, chunk: list[Image]) -> list[Item]:
        found: list[Item] = []
        request_items: dict[str, Any] = {self.table_name: {"Keys": chunk, "ConsistentRead": self._consistent}}
        for attempt in range(BATCH_ATTEMPTS):
            if attempt:
                await asyncio.sleep(_backoff(attempt - 1))
            response = await self._call(
                "BatchGetItem", functools.partial(self._client.batch_get_item, RequestItems=request_items)
            )
            found += [self._item(image) for image in response.get("Responses", {}).get(self.table_name, [])]
            unprocessed = (response.get("UnprocessedKeys") or {}).get(self.table_name)
            if not unprocessed or not unprocessed.get("Keys"):
                return found
            request_items = {self.table_name: unprocessed}
        left = len(request_items[self.table_name]["Keys"])
        raise Retry(
            f"DynamoDB BatchGetItem on table {self.table_name}: {left} keys left "
            f"unprocessed after {BATCH_ATTEMPTS} attempts"
        )

    async def query(
        self,
        hash_value: Scalar,
        *,
        sort: KeyRange | None = None,
        index: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        forward: bool = True,
    ) -> Page:
        if limit <= 0:
            raise ValueError("limit must be positive")
        hash_name, sort_name, position = self._schema(index)
        if sort is not None and sort_name is None:
            raise ValueError(f"{self.name}: a sort condition needs a sort key")
        expression = _Expression()
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": expression.key_condition(hash_name, hash_value, sort_name, sort),
            "ScanIndexForward": forward,
            **expression.arguments(),
        }
        if index is None:
            request["ConsistentRead"] = self._consistent
        else:
            request["IndexName"] = index
        return await self._page("Query", self._client.query, request, limit, cursor, position)

    async def scan(
        self, *, segment: int = 0, total_segments: int = 1, limit: int = 1000, cursor: str | None = None
    ) -> Page:
        if not 0 <= segment < total_segments:
            raise ValueError("segment must be in [0, total_segments)")
        if limit <= 0:
            raise ValueError("limit must be positive")
        request: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": self._consistent}
        if total_segments > 1:
            request.update(Segment=segment, TotalSegments=total_segments)
        return await self._page("Scan", self._client.scan, request, limit, cursor, list(self._table_keys))

    async def _page(
        self,
        operation: str,
        method: Callable[..., Any],
        request: dict[str, Any],
        limit: int,
        cursor: str | None,
        position: list[str],
    ) -> Page:
        """Up to ``limit`` items, asking for one more to know whether more follow."""
        start = self._decode(cursor, position) if cursor is not None else None
        images: list[dict[str, Any]] = []
        while True:
            call = {**request, "Limit": limit + 1 - len(images)}
            if start is not None:
                call["ExclusiveStartKey"] = start
            response = await self._call(operation, functools.partial(method, **call))
            images += response.get("Items", [])
            start = response.get("LastEvaluatedKey")
            if len(images) > limit or start is None:
                break
        more = len(images) > limit
        images = images[:limit]
        next_cursor = self._encode(images[-1], position) if more else None
        return Page([self._item(image) for image in images], next_cursor)

    def _encode(self, image: Mapping[str, Any], position: list[str]) -> str:
        return cursors.encode([{name: image[name] for name in position}])

    def _decode(self, cursor: str, position: list[str]) -> Image:
        (start,) = cursors.decode(cursor, 1)
        if (
            not isinstance(start, dict)
            or set(start) != set(position)
            or not all(isinstance(v, dict) and len(v) == 1 and set(v) <= {"S", "N"} for v in start.values())
        ):
            raise cursors.BadCursor("not a cursor of this listing")
        return start

    def read_snapshot(
        self,
        *,
        index: str | None = None,
        hash_value: Scalar | None = None,
        omit: Sequence[str] = (),
        page_size: int = 1000,
    ) -> AsyncGenerator[list[bytes], None]:
        """Every item (a ``Scan``), every item of a table partition (``hash_value``) or of an index
        partition (``index`` and ``hash_value``) in key order (a ``Query``), as compact JSON
        (UTF-8) of the unmarshalled item without the ``omit`` paths, in pages of ``page_size``
        (the last may be shorter; none is empty). The next DynamoDB page is fetched while the
        caller handles the current one.

        On DynamoDB this is **not a point-in-time snapshot**: a paginated Scan or Query reads the
        table as it is when each page is read. Each item is complete and appears at most once,
        but items written, changed or deleted during the read may or may not appear, in their old
        or new state. (The SQLite adapter's read is one consistent snapshot.)"""
        if page_size <= 0:
            raise ValueError("page_size must be positive")
        for path in omit:
            _check_path(path)
        request: dict[str, Any] = {"TableName": self.table_name, "Limit": page_size}
        if index is not None:
            hash_name, _, _ = self._schema(index)
            if hash_value is None:
                raise ValueError("reading an index partition needs its hash value")
            request["IndexName"] = index
        else:
            hash_name = self.definition.hash_key
            request["ConsistentRead"] = self._consistent
        if hash_value is not None:
            expression = _Expression()
            request["KeyConditionExpression"] = expression.key_condition(hash_name, hash_value, None, None)
            request.update(expression.arguments())
            return self._snapshot("Query", self._client.query, request, list(omit), page_size)
        return self._snapshot("Scan", self._client.scan, request, list(omit), page_size)

    async def _snapshot(
        self,
        operation: str,
        method: Callable[..., Any],
        request: dict[str, Any],
        omit: list[str],
        page_size: int,
    ) -> AsyncGenerator[list[bytes], None]:
        def fetch(start: Image | None) -> tuple[list[bytes], Image | None]:
            # On the worker thread: unmarshalling and encoding a page costs more than its request.
            response = method(**request, **({"ExclusiveStartKey": start} if start else {}))
            lines = []
            for image in response.get("Items", []):
                item = self._item(image)
                lines.append(_compact(without(item, omit) if omit else item))
            return lines, response.get("LastEvaluatedKey")

        pending: asyncio.Future[tuple[list[bytes], Image | None]] | None = None
        buffer: list[bytes] = []
        try:
            pending = asyncio.ensure_future(self._call(operation, functools.partial(fetch, None)))
            while pending is not None:
                lines, start = await pending
                pending = (
                    asyncio.ensure_future(self._call(operation, functools.partial(fetch, start)))
                    if start
                    else None
                )
                buffer += lines
                while len(buffer) >= page_size:
                    yield buffer[:page_size]
                    buffer = buffer[page_size:]
            if buffer:
                yield buffer
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
            if pending is not None:
                # An answer nobody waits for any more: its error must not be reported as unretrieved.
                pending.add_done_callback(lambda f: f.cancelled() or f.exception())


def _cancellation_reasons(error: ClientError) -> list[str]:
    """The codes of a ``TransactionCanceledException``, in the order of the actions: from
    ``CancellationReasons``, or from the message (``... reasons [ConditionalCheckFailed, None]``)."""
    reasons = error.response.get("CancellationReasons")
    if isinstance(reasons, list):
        return [str(reason.get("Code", "None")) for reason in reasons]
    message = _error_message(error)
    if "[" in message and message.endswith("]"):
        return [code.strip() for code in message[message.rindex("[") + 1 : -1].split(",")]
    return []
