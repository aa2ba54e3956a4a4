"""The ``Queue`` port on Amazon SQS (standard queues).

One ``SqsQueue`` wraps one queue URL and a boto3 SQS client. boto3 is synchronous, so every call
runs in a worker thread (``asyncio.to_thread``) and the event loop never waits on the network.

How the port maps to SQS:

- Bodies are bytes on the port and text on SQS: ``MessageBody`` is the body decoded as UTF-8 (the
  service sends JSON). Bytes that are not UTF-8 raise ``ValueError`` before anything is sent.
- ``delay_s`` is clamped to SQS's range, 0..900 seconds (15 minutes): a longer delay is sent
  with the longest SQS allows, a negative one with none.
- Redrive after ``maxReceiveCount`` receives is SQS's own ``RedrivePolicy``, set on the queue when
  it is provisioned; the adapter does not configure queues.
- ``dead_letter`` sends the body to the DLQ with the message attributes ``reason``,
  ``source_queue`` (the name) and ``source_queue_url``, then deletes the original. ``replay`` on
  the DLQ uses ``source_queue_url`` (or, for a message SQS redrove itself, the system attribute
  ``DeadLetterQueueSourceArn``) to find where to send it back.
- Every message carries the correlation id bound when it was sent (``logs.current_correlation_id``)
  as the String message attribute ``correlation_id``, read back into ``Received.correlation_id``;
  ``dead_letter`` and ``replay`` keep it. Queues read by other systems (soft opt-in consent
  setter, Braze) get the attribute too: consumers ignore attributes they do not ask for.
- A receipt that is no longer current is ignored by ``delete``, ``delete_batch`` and
  ``change_visibility``, as the port asks: SQS accepts a stale receipt or answers
  ``ReceiptHandleIsInvalid`` / ``MessageNotInflight`` (for ``DeleteMessageBatch``, in the entries
  it lists as ``Failed``), and those answers are swallowed.
- Every other error from boto3 (``ClientError``, connection and timeout errors) raises ``Retry``
  naming the operation, the queue and the error code; message bodies never appear in errors.
- SQS cannot list messages or delete one without receiving it. On a queue that does not redrive
  (a DLQ), ``list``, ``remove`` and ``replay`` sweep it: each message is received once, acted on,
  and made visible again when kept. On a queue that redrives, each receive would count towards
  its ``maxReceiveCount``: there they raise ``NotImplementedError`` saying what to use instead.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from botocore.exceptions import (  # type: ignore[import-untyped]
    ClientError,
    HTTPClientError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from supporterflow.logs import CORRELATION_ATTRIBUTE, current_correlation_id, valid_correlation_id
from supporterflow.ports import MessagePage, QueueDepth, Received, Retry, StoredMessage

T = TypeVar("T")

MAX_DELAY_S = 900  # SQS DelaySeconds: 0..900
MAX_VISIBILITY_S = 43_200  # SQS VisibilityTimeout: 0..12 hours
MAX_BATCH = 10  # SendMessageBatch and DeleteMessageBatch entries, ReceiveMessage MaxNumberOfMessages
MAX_WAIT_S = 20  # ReceiveMessage WaitTimeSeconds
MAX_REASON_CHARS = 2000
#: How long a sweep (list, remove, replay of a DLQ) hides what it received before it puts it back.
_SWEEP_HOLD_S = 60

# Answers to a receipt that is no longer current: the message was received again (or deleted) by
# then, and its newer holder acknowledges it.
_STALE_RECEIPT_CODES = frozenset(
    {
        "ReceiptHandleIsInvalid",
        "InvalidReceiptHandle",
        "MessageNotInflight",
        "AWS.SimpleQueueService.MessageNotInflight",
    }
)
# Transport failures: the request may not have reached SQS, try again later.
_TRANSIENT = (ClientError, BotoConnectionError, HTTPClientError)

# Threads that only wait (SQS long polls): cheap, and as many as consumers could poll at once.
_LONG_POLLS = ThreadPoolExecutor(max_workers=128, thread_name_prefix="sqs-long-poll")

_SOURCE_URL = "source_queue_url"
_SOURCE_NAME = "source_queue"
_REASON = "reason"


def _error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "Unknown"))
    return type(error).__name__


def _text(body: bytes) -> str:
    if not isinstance(body, bytes):
        raise TypeError("message bodies are bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError("SQS message bodies must be UTF-8 text") from error


def _clamp_delay(delay_s: int) -> int:
    return max(0, min(MAX_DELAY_S, delay_s))


def _stored(message: dict[str, Any]) -> StoredMessage:
    """A received dead letter as an operator sees it."""
    attributes = message.get("MessageAttributes", {})
    source = attributes.get(_SOURCE_NAME, {}).get("StringValue")
    arn = message.get("Attributes", {}).get("DeadLetterQueueSourceArn")
    reason = attributes.get(_REASON, {}).get("StringValue")
    sent_at = datetime.fromtimestamp(int(message["Attributes"]["SentTimestamp"]) / 1000, UTC)
    return StoredMessage(
        message_id=message["MessageId"],
        body=message["Body"].encode("utf-8"),
        receive_count=int(message["Attributes"]["ApproximateReceiveCount"]),
        sent_at=sent_at,
        visible_at=datetime.now(UTC),  # a listing puts it back at once
        source_queue=source or (str(arn).rsplit(":", 1)[-1] if arn else None),
        reason=reason or ("redriven by SQS after maxReceiveCount" if arn else None),
        correlation_id=_correlation_id(message),
    )


def _string_attribute(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def correlation_attributes(correlation_id: str | None) -> dict[str, dict[str, str]]:
    """The ``MessageAttributes`` that carry a correlation id (none without one)."""
    return {CORRELATION_ATTRIBUTE: _string_attribute(correlation_id)} if correlation_id else {}


def _correlation_id(message: dict[str, Any]) -> str | None:
    attribute = message.get("MessageAttributes", {}).get(CORRELATION_ATTRIBUTE) or {}
    value = attribute.get("StringValue")
    return valid_correlation_id(value) if isinstance(value, str) else None


class SqsQueue:
    """One SQS queue behind the ``Queue`` port.

    ``client`` is a boto3 SQS client (``boto3.client("sqs")``). boto3 ships no type information, so
    it is ``Any`` here. ``dlq`` is the dead-letter queue that ``dead_letter`` sends to; it is None
    for a queue without one (and for the DLQ itself). ``wait_s`` is the long-polling wait of
    ``receive`` (SQS ``WaitTimeSeconds``, 0..20): 0 answers at once but, SQS sampling only some of
    its servers, may answer empty while messages wait."""

    def __init__(
        self,
        client: Any,  # a boto3 SQS client; boto3 is untyped
        queue_url: str,
        *,
        name: str,
        dlq: SqsQueue | None = None,
        wait_s: int = 0,
    ) -> None:
        if not 0 <= wait_s <= MAX_WAIT_S:
            raise ValueError(f"wait_s must be in [0, {MAX_WAIT_S}]")
        self.name = name
        self.queue_url = queue_url
        self.dlq = dlq
        self._client = client
        self._wait_s = wait_s

    def __repr__(self) -> str:
        return f"SqsQueue(name={self.name!r}, queue_url={self.queue_url!r})"

    async def _call(self, operation: str, call: Callable[[], T], *, stale_ok: bool = False) -> T | None:
        """Run one boto3 call in a thread; boto3 errors become ``Retry`` (or None for a stale
        receipt when ``stale_ok``). A receive that long-polls waits on a thread of its own pool:
        a dozen consumers waiting 20 s each must not take every thread of the default one, which
        the rest of the process (every other store call) shares."""
        pool = _LONG_POLLS if operation == "ReceiveMessage" and self._wait_s else None
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, call)
        except _TRANSIENT as error:
            code = _error_code(error)
            if stale_ok and code in _STALE_RECEIPT_CODES:
                return None
            raise Retry(f"SQS {operation} on queue {self.name} failed: {code}") from None

    async def _run(self, operation: str, call: Callable[[], T]) -> T:
        result = await self._call(operation, call)
        assert result is not None  # only stale_ok calls answer None
        return result

    # sending ---------------------------------------------------------------------------------

    async def send(self, body: bytes, *, delay_s: int = 0) -> str:
        text = _text(body)
        attributes = correlation_attributes(current_correlation_id())
        response = await self._run(
            "SendMessage",
            lambda: self._client.send_message(
                QueueUrl=self.queue_url,
                MessageBody=text,
                DelaySeconds=_clamp_delay(delay_s),
                MessageAttributes=attributes,
            ),
        )
        return str(response["MessageId"])

    async def send_batch(self, bodies: Sequence[bytes], *, delay_s: int = 0) -> list[str]:
        """Chunks of 10 (SQS's limit). Entries SQS refuses are sent again once; if some still
        fail, ``Retry`` names how many, after every other chunk was sent. The caller's retry sends
        the whole batch again: duplicates are possible, as everywhere with at-least-once delivery."""
        texts = [_text(body) for body in bodies]
        delay = _clamp_delay(delay_s)
        attributes = correlation_attributes(current_correlation_id())
        ids: list[str] = []
        failed = 0
        codes: set[str] = set()
        for start in range(0, len(texts), MAX_BATCH):
            chunk = texts[start : start + MAX_BATCH]
            sent: dict[str, str] = {}
            pending = {str(i): text for i, text in enumerate(chunk)}
            for attempt in (1, 2):
                refused = await self._send_entries(pending, delay, attributes, sent)
                if not pending:
                    break
                if attempt == 2:
                    codes.update(refused)
            failed += len(pending)
            ids.extend(sent[str(i)] for i in range(len(chunk)) if str(i) in sent)
        if failed:
            raise Retry(
                f"SQS SendMessageBatch on queue {self.name}: {failed} of {len(texts)} messages not sent "
                f"({', '.join(sorted(codes)) or 'no code'})"
            )
        return ids

    async def _send_entries(
        self,
        pending: dict[str, str],
        delay_s: int,
        attributes: dict[str, dict[str, str]],
        sent: dict[str, str],
    ) -> list[str]:
        """One SendMessageBatch of ``pending`` (entry id -> text). Moves the entries SQS accepted
        from ``pending`` to ``sent`` (entry id -> message id); returns the codes of the refused."""
        entries = [
            {"Id": i, "MessageBody": text, "DelaySeconds": delay_s, "MessageAttributes": attributes}
            for i, text in pending.items()
        ]
        response = await self._run(
            "SendMessageBatch",
            lambda: self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries),
        )
        for entry in response.get("Successful", []):
            sent[entry["Id"]] = entry["MessageId"]
            pending.pop(entry["Id"], None)
        return [str(entry.get("Code", "Unknown")) for entry in response.get("Failed", [])]

    # receiving -------------------------------------------------------------------------------

    async def _receive(
        self, max_messages: int, visibility_s: int, wait_s: int, *, dead_letter_attributes: bool = False
    ) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": max_messages,
            "VisibilityTimeout": visibility_s,
            "WaitTimeSeconds": wait_s,
            "AttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
            "MessageAttributeNames": [CORRELATION_ATTRIBUTE],
        }
        if dead_letter_attributes:
            kwargs["AttributeNames"] = [*kwargs["AttributeNames"], "DeadLetterQueueSourceArn"]
            kwargs["MessageAttributeNames"] = [CORRELATION_ATTRIBUTE, _SOURCE_URL, _SOURCE_NAME, _REASON]
        response = await self._run("ReceiveMessage", lambda: self._client.receive_message(**kwargs))
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    async def receive(self, max_messages: int, visibility_s: int) -> list[Received]:
        """Up to ``min(max_messages, 10)`` messages (SQS returns at most 10 per call)."""
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        if not 0 < visibility_s <= MAX_VISIBILITY_S:
            raise ValueError(f"visibility_s must be in (0, {MAX_VISIBILITY_S}]")
        messages = await self._receive(min(max_messages, MAX_BATCH), visibility_s, self._wait_s)
        return [
            Received(
                message_id=m["MessageId"],
                body=m["Body"].encode("utf-8"),
                receipt=m["ReceiptHandle"],
                receive_count=int(m["Attributes"]["ApproximateReceiveCount"]),
                sent_at=datetime.fromtimestamp(int(m["Attributes"]["SentTimestamp"]) / 1000, UTC),
                correlation_id=_correlation_id(m),
            )
            for m in messages
        ]

    async def delete(self, received: Received) -> None:
        await self._call(
            "DeleteMessage",
            lambda: self._client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=received.receipt),
            stale_ok=True,
        )

    async def delete_batch(self, received: Sequence[Received]) -> None:
        """``DeleteMessageBatch`` in chunks of 10, entry ids "1".."10" in each. Entries SQS refuses
        as stale receipts are ignored, as by ``delete``; if others are refused, ``Retry`` names how
        many, after every other chunk was deleted (deleting again what was deleted is harmless)."""
        # SQS refuses a batch that names one receipt twice (BatchEntryIdsNotDistinct): once is
        # enough.
        receipts = list(dict.fromkeys(r.receipt for r in received))
        failed = 0
        codes: set[str] = set()
        for start in range(0, len(receipts), MAX_BATCH):
            refused = await self._delete_entries(receipts[start : start + MAX_BATCH])
            kept = [code for code in refused if code not in _STALE_RECEIPT_CODES]
            failed += len(kept)
            codes.update(kept)
        if failed:
            raise Retry(
                f"SQS DeleteMessageBatch on queue {self.name}: {failed} of {len(receipts)} messages not "
                f"deleted ({', '.join(sorted(codes))})"
            )

    async def _delete_entries(self, receipts: Sequence[str]) -> list[str]:
        """One DeleteMessageBatch; returns the codes of the entries SQS refused."""
        entries = [{"Id": str(i), "ReceiptHandle": receipt} for i, receipt in enumerate(receipts, 1)]
        response = await self._run(
            "DeleteMessageBatch",
            lambda: self._client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries),
        )
        return [str(entry.get("Code", "Unknown")) for entry in response.get("Failed", [])]

    async def change_visibility(self, received: Received, visibility_s: int) -> None:
        if not 0 <= visibility_s <= MAX_VISIBILITY_S:
            raise ValueError(f"visibility_s must be in [0, {MAX_VISIBILITY_S}]")
        await self._call(
            "ChangeMessageVisibility",
            lambda: self._client.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=received.receipt, VisibilityTimeout=visibility_s
            ),
            stale_ok=True,
        )

    async def dead_letter(self, received: Received, reason: str) -> None:
        """Send a copy to the DLQ (with ``reason`` and the source queue as message attributes),
        then delete the original. If the delete fails, ``Retry`` is raised and the message may
        reach the DLQ twice."""
        dlq = self.dlq
        if dlq is None:
            raise RuntimeError(f"queue {self.name} has no dead-letter queue")
        text = _text(received.body)
        attributes = {
            _REASON: _string_attribute(reason[:MAX_REASON_CHARS] or "-"),
            _SOURCE_NAME: _string_attribute(self.name),
            _SOURCE_URL: _string_attribute(self.queue_url),
            **correlation_attributes(received.correlation_id),
        }
        await dlq._run(
            "SendMessage",
            lambda: dlq._client.send_message(
                QueueUrl=dlq.queue_url, MessageBody=text, MessageAttributes=attributes
            ),
        )
        await self.delete(received)

    # operators -------------------------------------------------------------------------------

    async def depth(self) -> QueueDepth:
        """SQS's approximate counts (they settle within about a minute on AWS)."""
        response = await self._run(
            "GetQueueAttributes",
            lambda: self._client.get_queue_attributes(
                QueueUrl=self.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            ),
        )
        attributes = response.get("Attributes", {})
        return QueueDepth(
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        )

    async def list(self, *, limit: int = 100, cursor: str | None = None) -> MessagePage:
        """Up to ``limit`` messages of a queue without a redrive policy (a DLQ), in no set order:
        they are received (hidden for ``_SWEEP_HOLD_S``), then made visible again at once. SQS
        has no cursor: ``cursor`` is ignored and the page has none. On a queue that redrives
        (``dlq`` set), a receive counts towards its ``maxReceiveCount``, so it is refused."""
        self._sweepable("list")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        found: list[StoredMessage] = []

        async def keep(message: dict[str, Any]) -> bool:
            found.append(_stored(message))
            return False

        await self._sweep(keep, limit=limit)
        return MessagePage(found)

    async def replay(self, *, message_ids: Sequence[str] | None = None) -> int:
        """On a DLQ: send every message (or the ones named) back to its source queue as a new
        message (so its receive count starts again at 0), then delete it here. The queue is swept
        once, bounded by its depth at the start; messages whose source is unknown, and the ones not
        named, are made visible again."""
        self._sweepable("replay")
        wanted = None if message_ids is None else set(message_ids)
        urls: dict[str, str] = {}

        async def move(message: dict[str, Any]) -> bool:
            if wanted is not None and message["MessageId"] not in wanted:
                return False
            source = await self._source_url(message, urls)
            if source is None:
                return False
            body = message["Body"]
            kept = correlation_attributes(_correlation_id(message))
            await self._run(
                "SendMessage",
                lambda: self._client.send_message(QueueUrl=source, MessageBody=body, MessageAttributes=kept),
            )
            return True

        return await self._sweep(move)

    async def remove(self, message_ids: Sequence[str]) -> int:
        """Delete the messages named, for good, sweeping the queue once (see ``list``)."""
        self._sweepable("remove")
        wanted = set(message_ids)

        async def named(message: dict[str, Any]) -> bool:
            return message["MessageId"] in wanted

        return await self._sweep(named) if wanted else 0

    def _sweepable(self, operation: str) -> None:
        if self.dlq is not None:
            raise NotImplementedError(
                f"{operation} receives the messages of queue {self.name}, and every receive counts "
                "towards its redrive to the DLQ: it is offered on DLQs only (use depth() here)"
            )

    async def _sweep(
        self, act: Callable[[dict[str, Any]], Awaitable[bool]], *, limit: int | None = None
    ) -> int:
        """Receive the queue's messages once each (each hidden while the sweep runs) and call
        ``act`` on each: True deletes it, False makes it visible again at the end. Bounded by the
        depth at the start (rounds of 10, plus one) and by ``limit`` messages. Returns how many
        ``act`` took."""
        start = await self.depth()
        if start.visible == 0:
            # Nothing to sweep, without a second of long polling per empty DLQ (a GDPR erasure
            # sweeps them all). SQS's counts settle within about a minute: a message that
            # arrived just now waits for the next sweep.
            return 0
        rounds = math.ceil(start.visible / MAX_BATCH) + 1
        seen: set[str] = set()
        held: list[str] = []
        taken = 0
        try:
            for _ in range(rounds):
                if limit is not None and len(seen) >= limit:
                    break
                batch = MAX_BATCH if limit is None else min(MAX_BATCH, limit - len(seen))
                # Long polling (1 s) asks every SQS server, so an empty answer means empty.
                messages = await self._receive(batch, _SWEEP_HOLD_S, 1, dead_letter_attributes=True)
                if not messages:
                    break
                for message in messages:
                    if message["MessageId"] in seen:
                        continue
                    seen.add(message["MessageId"])
                    if await act(message):
                        await self._call(
                            "DeleteMessage",
                            lambda receipt=message["ReceiptHandle"]: self._client.delete_message(  # type: ignore[misc]
                                QueueUrl=self.queue_url, ReceiptHandle=receipt
                            ),
                            stale_ok=True,
                        )
                        taken += 1
                    else:
                        held.append(message["ReceiptHandle"])
        finally:
            for receipt in held:
                await self._call(
                    "ChangeMessageVisibility",
                    lambda receipt=receipt: self._client.change_message_visibility(  # type: ignore[misc]
                        QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
                    ),
                    stale_ok=True,
                )
        return taken

    async def _source_url(self, message: dict[str, Any], urls: dict[str, str]) -> str | None:
        attribute = message.get("MessageAttributes", {}).get(_SOURCE_URL)
        if attribute is not None:
            return str(attribute["StringValue"])
        arn = message.get("Attributes", {}).get("DeadLetterQueueSourceArn")
        if arn is None:
            return None
        if arn not in urls:
            # arn:aws:sqs:<region>:<account>:<name>
            *_, account, queue_name = str(arn).split(":")
            response = await self._run(
                "GetQueueUrl",
                lambda: self._client.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account),
            )
            urls[arn] = str(response["QueueUrl"])
        return urls[arn]

    async def purge(self) -> int:
        """Returns the approximate depth just before the purge (SQS does not say how many it
        deleted). SQS allows one purge per queue every 60 seconds; another raises ``Retry``."""
        before = await self.depth()
        await self._run("PurgeQueue", lambda: self._client.purge_queue(QueueUrl=self.queue_url))
        return before.total
