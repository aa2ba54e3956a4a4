"""SqsQueue against moto's SQS: the Queue port's behaviour on the AWS API."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from supporterflow.adapters.aws.sqs import SqsQueue
from supporterflow.logs import correlation
from supporterflow.ports import Queue, Received, Retry
from tests.aws.conftest import REGION


class Spy:
    """A boto3 client that records every call's keyword arguments, and can refuse batch entries."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse_ids: list[set[str]] = []  # one set of entry ids per coming send_message_batch
        # Entry id -> error code, for the coming delete_message_batch calls.
        self.refuse_deletes: dict[str, str] = {}
        # Received messages get this DeadLetterQueueSourceArn, which AWS sets on redrive (moto not).
        self.source_arn: str | None = None

    def __getattr__(self, operation: str) -> Any:
        method = getattr(self.client, operation)

        def call(**kwargs: Any) -> Any:
            self.calls.append((operation, kwargs))
            if operation == "send_message_batch" and self.refuse_ids:
                refused = self.refuse_ids.pop(0)
                kept = [e for e in kwargs["Entries"] if e["Id"] not in refused]
                response = method(**{**kwargs, "Entries": kept}) if kept else {"Successful": []}
                response["Failed"] = [
                    {"Id": e["Id"], "SenderFault": False, "Code": "InternalError"}
                    for e in kwargs["Entries"]
                    if e["Id"] in refused
                ]
                return response
            if operation == "delete_message_batch" and self.refuse_deletes:
                not_deleted = [e for e in kwargs["Entries"] if e["Id"] in self.refuse_deletes]
                kept = [e for e in kwargs["Entries"] if e["Id"] not in self.refuse_deletes]
                response = method(**{**kwargs, "Entries": kept}) if kept else {"Successful": []}
                response.setdefault("Failed", []).extend(
                    {"Id": e["Id"], "SenderFault": False, "Code": self.refuse_deletes[e["Id"]]}
                    for e in not_deleted
                )
                return response
            response = method(**kwargs)
            if operation == "receive_message" and self.source_arn:
                for message in response.get("Messages", []):
                    message.setdefault("Attributes", {})["DeadLetterQueueSourceArn"] = self.source_arn
            return response

        return call

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == operation]


@pytest.fixture
def sqs(aws: None) -> Any:
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def spy(sqs: Any) -> Spy:
    return Spy(sqs)


@pytest.fixture
def dlq(spy: Spy) -> SqsQueue:
    url = spy.client.create_queue(QueueName="consents-dlq")["QueueUrl"]
    return SqsQueue(spy, url, name="consents-dlq")


@pytest.fixture
def queue(spy: Spy, dlq: SqsQueue) -> SqsQueue:
    url = spy.client.create_queue(QueueName="consents")["QueueUrl"]
    return SqsQueue(spy, url, name="consents", dlq=dlq)


async def test_is_a_queue(queue: SqsQueue) -> None:
    assert isinstance(queue, Queue)


async def test_send_receive_delete(queue: SqsQueue, spy: Spy) -> None:
    body = json.dumps({"identity_id": "42", "consent": "é"}).encode()
    message_id = await queue.send(body)

    [received] = await queue.receive(10, 30)
    assert received.message_id == message_id
    assert received.body == body
    assert received.receive_count == 1
    assert received.sent_at.tzinfo is not None
    assert spy.of("send_message")[0]["MessageBody"] == body.decode()
    receive_call = spy.of("receive_message")[0]
    assert receive_call["MaxNumberOfMessages"] == 10
    assert receive_call["VisibilityTimeout"] == 30
    assert receive_call["AttributeNames"] == ["ApproximateReceiveCount", "SentTimestamp"]

    await queue.delete(received)
    await queue.change_visibility(received, 0)  # stale receipt: ignored
    await queue.delete(received)  # twice: ignored
    assert await queue.receive(10, 1) == []
    assert (await queue.depth()).total == 0


async def receive_all(queue: SqsQueue) -> list[Received]:
    received: list[Received] = []
    while batch := await queue.receive(10, 60):
        received.extend(batch)
    return received


async def test_delete_batch_of_25_in_three_chunks(queue: SqsQueue, spy: Spy) -> None:
    await queue.send_batch([b"m%d" % i for i in range(27)])
    received = await receive_all(queue)
    assert len(received) == 27
    received = received[:25]

    await queue.delete_batch(received)

    batches = spy.of("delete_message_batch")
    assert [len(b["Entries"]) for b in batches] == [10, 10, 5]
    assert [e["Id"] for e in batches[0]["Entries"]] == [str(i) for i in range(1, 11)]
    assert [e["Id"] for e in batches[2]["Entries"]] == [str(i) for i in range(1, 6)]
    assert [e["ReceiptHandle"] for b in batches for e in b["Entries"]] == [r.receipt for r in received]
    depth = await queue.depth()
    assert (depth.visible, depth.in_flight, depth.delayed) == (0, 2, 0)  # the 2 not deleted
    await queue.delete_batch([])
    assert len(spy.of("delete_message_batch")) == 3


async def test_delete_batch_ignores_stale_receipts(queue: SqsQueue, spy: Spy) -> None:
    await queue.send_batch([b"a", b"b", b"c"])
    received = await receive_all(queue)
    assert len(received) == 3
    invalid = replace(received[0], receipt="not-a-receipt")  # moto answers ReceiptHandleIsInvalid
    spy.refuse_deletes = {"3": "AWS.SimpleQueueService.MessageNotInflight"}

    await queue.delete_batch([*received[:2], invalid, received[2], received[2]])

    [batch] = spy.of("delete_message_batch")
    assert [e["ReceiptHandle"] for e in batch["Entries"]] == [
        received[0].receipt,
        received[1].receipt,
        "not-a-receipt",
        received[2].receipt,  # once: SQS refuses a batch naming a receipt twice
    ]
    depth = await queue.depth()
    assert (depth.visible, depth.in_flight) == (0, 0)
    await queue.delete_batch(received)  # all deleted already: ignored


async def test_delete_batch_raises_retry_for_other_refusals_after_deleting_the_rest(
    queue: SqsQueue, spy: Spy
) -> None:
    await queue.send_batch([b"m%d" % i for i in range(12)])
    received = await receive_all(queue)
    spy.refuse_deletes = {"2": "InternalError", "4": "ReceiptHandleIsInvalid"}

    with pytest.raises(Retry, match=r"DeleteMessageBatch on queue consents: 2 of 12 messages not deleted"):
        await queue.delete_batch(received)

    # Entry 2 was refused in both chunks (of 10 and 2); the stale entry 4 is not counted.
    assert len(spy.of("delete_message_batch")) == 2
    assert (await queue.depth()).in_flight == 3
    spy.refuse_deletes = {}
    spy.client.delete_queue(QueueUrl=queue.queue_url)
    with pytest.raises(Retry, match=r"DeleteMessageBatch on queue consents failed: .*NonExistentQueue"):
        await queue.delete_batch(received)


async def test_receive_asks_sqs_for_at_most_ten(queue: SqsQueue, spy: Spy) -> None:
    await queue.send_batch([b"%d" % i for i in range(12)])
    received = await queue.receive(50, 30)
    assert 1 <= len(received) <= 10
    assert spy.of("receive_message")[0]["MaxNumberOfMessages"] == 10
    with pytest.raises(ValueError, match="max_messages"):
        await queue.receive(0, 30)
    with pytest.raises(ValueError, match="visibility_s"):
        await queue.receive(1, 0)


async def test_send_batch_of_25_in_three_chunks(queue: SqsQueue, spy: Spy) -> None:
    bodies = [b"message %d" % i for i in range(25)]
    ids = await queue.send_batch(bodies)

    assert len(ids) == 25
    assert len(set(ids)) == 25
    batches = spy.of("send_message_batch")
    assert [len(b["Entries"]) for b in batches] == [10, 10, 5]
    assert [e["Id"] for e in batches[0]["Entries"]] == [str(i) for i in range(10)]
    assert [e["Id"] for e in batches[2]["Entries"]] == [str(i) for i in range(5)]
    received = []
    while batch := await queue.receive(10, 60):
        received.extend(batch)
    assert sorted(r.body for r in received) == sorted(bodies)
    # Ids come back in the order of the bodies.
    assert {r.message_id: r.body for r in received} == dict(zip(ids, bodies, strict=True))
    assert await queue.send_batch([]) == []


async def test_send_batch_retries_refused_entries_once(queue: SqsQueue, spy: Spy) -> None:
    spy.refuse_ids = [{"3", "7"}]
    ids = await queue.send_batch([b"%d" % i for i in range(10)])

    assert len(ids) == 10
    batches = spy.of("send_message_batch")
    assert [[e["Id"] for e in b["Entries"]] for b in batches] == [[str(i) for i in range(10)], ["3", "7"]]
    assert (await queue.depth()).visible == 10


async def test_send_batch_raises_retry_after_sending_the_rest(queue: SqsQueue, spy: Spy) -> None:
    spy.refuse_ids = [{"1"}, {"1"}]  # the first chunk's entry 1, twice
    with pytest.raises(Retry, match=r"1 of 12 messages not sent \(InternalError\)") as raised:
        await queue.send_batch([b"secret %d" % i for i in range(12)])

    assert "secret" not in str(raised.value)
    assert len(spy.of("send_message_batch")) == 3  # chunk 1, its retry, chunk 2
    assert (await queue.depth()).visible == 11


async def test_delay_is_clamped_to_sqs_range(queue: SqsQueue, spy: Spy) -> None:
    await queue.send(b"later", delay_s=60)
    await queue.send(b"much later", delay_s=3600)
    await queue.send(b"now", delay_s=-5)
    await queue.send_batch([b"batched"], delay_s=1000)

    assert [c["DelaySeconds"] for c in spy.of("send_message")] == [60, 900, 0]
    assert spy.of("send_message_batch")[0]["Entries"][0]["DelaySeconds"] == 900
    [now] = await queue.receive(10, 30)
    assert now.body == b"now"
    depth = await queue.depth()
    assert (depth.visible, depth.in_flight, depth.delayed) == (0, 1, 3)


async def test_visibility_and_change_visibility(queue: SqsQueue) -> None:
    await queue.send(b"one")
    [first] = await queue.receive(1, 30)
    assert await queue.receive(1, 30) == []  # hidden from every other receiver

    await queue.change_visibility(first, 0)
    [second] = await queue.receive(1, 30)
    assert second.message_id == first.message_id
    assert second.receive_count == 2  # grows on redelivery
    assert second.receipt != first.receipt

    await queue.change_visibility(second, 0)
    [third] = await queue.receive(1, 30)
    assert third.receive_count == 3
    with pytest.raises(ValueError, match="visibility_s"):
        await queue.change_visibility(third, 50_000)


async def test_dead_letter_moves_with_reason(queue: SqsQueue, dlq: SqsQueue, spy: Spy) -> None:
    await queue.send(b'{"n": 1}')
    [received] = await queue.receive(1, 30)
    await queue.dead_letter(received, "ERPNext refused: 417")

    assert (await queue.depth()).total == 0
    messages = spy.client.receive_message(
        QueueUrl=dlq.queue_url, MessageAttributeNames=["All"], AttributeNames=["All"]
    )["Messages"]
    assert len(messages) == 1
    assert messages[0]["Body"] == '{"n": 1}'
    attributes = {k: v["StringValue"] for k, v in messages[0]["MessageAttributes"].items()}
    assert attributes == {
        "reason": "ERPNext refused: 417",
        "source_queue": "consents",
        "source_queue_url": queue.queue_url,
    }


async def test_dead_letter_without_dlq(queue: SqsQueue, dlq: SqsQueue) -> None:
    await dlq.send(b"x")
    [received] = await dlq.receive(1, 30)
    with pytest.raises(RuntimeError, match="no dead-letter queue"):
        await dlq.dead_letter(received, "why")


async def test_replay_moves_everything_back_with_count_reset(queue: SqsQueue, dlq: SqsQueue) -> None:
    bodies = [b"m%d" % i for i in range(13)]
    await queue.send_batch(bodies)
    held = []
    while batch := await queue.receive(10, 30):
        held.extend(batch)
    for received in held:
        await queue.change_visibility(received, 0)
    held = []
    while batch := await queue.receive(10, 30):
        held.extend(batch)
    assert {r.receive_count for r in held} == {2}
    for received in held:
        await queue.dead_letter(received, "failed")
    assert (await dlq.depth()).visible == 13

    assert await dlq.replay() == 13

    assert (await dlq.depth()).total == 0
    back = []
    while batch := await queue.receive(10, 30):
        back.extend(batch)
    assert sorted(r.body for r in back) == sorted(bodies)
    assert {r.receive_count for r in back} == {1}
    assert await dlq.replay() == 0


async def test_redrive_by_sqs_and_replay_by_source_arn(spy: Spy, dlq: SqsQueue) -> None:
    dlq_arn = spy.client.get_queue_attributes(QueueUrl=dlq.queue_url, AttributeNames=["QueueArn"])
    policy = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 1}
    url = spy.client.create_queue(QueueName="emails", Attributes={"RedrivePolicy": json.dumps(policy)})
    queue = SqsQueue(spy, url["QueueUrl"], name="emails", dlq=dlq)
    await queue.send(b"welcome")
    [received] = await queue.receive(1, 30)
    await queue.change_visibility(received, 0)
    assert await queue.receive(1, 30) == []  # received maxReceiveCount times: redriven by SQS
    assert (await dlq.depth()).visible == 1

    spy.source_arn = "arn:aws:sqs:eu-west-1:123456789012:emails"
    assert await dlq.replay() == 1
    assert spy.of("get_queue_url") == [{"QueueName": "emails", "QueueOwnerAWSAccountId": "123456789012"}]
    spy.source_arn = None
    [back] = await queue.receive(1, 30)
    assert (back.body, back.receive_count) == (b"welcome", 1)
    assert (await dlq.depth()).total == 0


async def test_replay_leaves_messages_of_unknown_source(dlq: SqsQueue) -> None:
    await dlq.send(b"orphan")  # no source_queue_url attribute, no DeadLetterQueueSourceArn
    assert await dlq.replay() == 0
    depth = await dlq.depth()
    assert (depth.visible, depth.in_flight) == (1, 0)  # made visible again at once


async def test_depth_counts(queue: SqsQueue) -> None:
    await queue.send_batch([b"a", b"b", b"c"])
    await queue.send(b"d", delay_s=120)
    await queue.receive(1, 30)
    depth = await queue.depth()
    assert (depth.visible, depth.in_flight, depth.delayed) == (2, 1, 1)
    assert depth.total == 4


async def test_purge(queue: SqsQueue) -> None:
    await queue.send_batch([b"a", b"b", b"c"])
    await queue.receive(1, 30)
    assert await queue.purge() == 3
    assert (await queue.depth()).total == 0
    assert await queue.receive(10, 1) == []


async def test_a_queue_that_redrives_is_not_swept(queue: SqsQueue) -> None:
    """Each receive would count towards its maxReceiveCount."""
    for sweep in (queue.list(), queue.replay(), queue.remove(["1"])):
        with pytest.raises(NotImplementedError, match="offered on DLQs only"):
            await sweep


async def dead_letters(queue: SqsQueue, count: int) -> list[str]:
    await queue.send_batch([b'{"n": %d}' % i for i in range(count)])
    held = []
    while batch := await queue.receive(10, 30):
        held.extend(batch)
    for received in held:
        await queue.dead_letter(received, f"failed {received.body.decode()}")
    return [r.message_id for r in held]


async def test_a_dlq_is_listed_with_reasons_and_left_as_it_was(queue: SqsQueue, dlq: SqsQueue) -> None:
    await dead_letters(queue, 12)
    page = await dlq.list(limit=100)
    assert len(page.messages) == 12
    assert page.cursor is None
    assert {m.source_queue for m in page.messages} == {queue.name}
    assert sorted(m.reason or "" for m in page.messages) == sorted(f'failed {{"n": {i}}}' for i in range(12))
    depth = await dlq.depth()
    assert (depth.visible, depth.in_flight) == (12, 0)  # visible again at once
    assert len((await dlq.list(limit=5)).messages) == 5


async def test_named_dead_letters_are_replayed_or_removed(queue: SqsQueue, dlq: SqsQueue) -> None:
    await dead_letters(queue, 3)
    ids = [m.message_id for m in (await dlq.list()).messages]
    assert await dlq.replay(message_ids=[ids[0]]) == 1
    assert await dlq.remove([ids[1], "no-such-id"]) == 1
    [left] = (await dlq.list()).messages
    assert left.message_id == ids[2]
    assert len(await queue.receive(10, 30)) == 1  # the replayed one, back on its queue


async def test_bodies_must_be_utf8_bytes(queue: SqsQueue, spy: Spy) -> None:
    with pytest.raises(ValueError, match="UTF-8"):
        await queue.send(b"\xff\xfe")
    with pytest.raises(TypeError):
        await queue.send_batch(["text"])  # type: ignore[list-item]
    assert spy.of("send_message") == spy.of("send_message_batch") == []


async def test_client_error_is_retry_without_body(queue: SqsQueue, spy: Spy) -> None:
    await queue.send(b"kept")
    [received] = await queue.receive(1, 30)
    spy.client.delete_queue(QueueUrl=queue.queue_url)

    with pytest.raises(Retry, match=r"SendMessage on queue consents failed: .*NonExistentQueue") as raised:
        await queue.send(b"secret body")
    assert "secret" not in str(raised.value)
    assert raised.value.__cause__ is None
    for call in (queue.receive(1, 30), queue.depth(), queue.send_batch([b"secret"]), queue.delete(received)):
        with pytest.raises(Retry, match="NonExistentQueue"):
            await call


async def test_connection_error_is_retry(sqs: Any) -> None:
    unreachable = boto3.client(
        "sqs",
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:9",
        config=boto3.session.Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    queue = SqsQueue(unreachable, "http://127.0.0.1:9/123456789012/gone", name="gone")
    with pytest.raises(Retry, match="SendMessage on queue gone failed: EndpointConnectionError"):
        await queue.send(b"x")


async def test_the_correlation_id_travels_as_a_message_attribute_and_comes_back(
    queue: SqsQueue, spy: Spy
) -> None:
    with correlation("req-42"):
        await queue.send(b'{"n": 1}')
        await queue.send_batch([b'{"n": 2}', b'{"n": 3}'])
    await queue.send(b'{"n": 4}')  # outside any work: no attribute

    received = sorted(await receive_all(queue), key=lambda m: json.loads(m.body)["n"])

    assert [m.correlation_id for m in received] == ["req-42", "req-42", "req-42", None]
    assert spy.of("send_message")[0]["MessageAttributes"] == {
        "correlation_id": {"DataType": "String", "StringValue": "req-42"}
    }
    assert spy.of("send_message")[1]["MessageAttributes"] == {}
    assert "correlation_id" in spy.of("receive_message")[0]["MessageAttributeNames"]


async def test_dead_letter_and_replay_keep_the_correlation_id(queue: SqsQueue, dlq: SqsQueue) -> None:
    with correlation("req-dead"):
        await queue.send(b"{}")
    [received] = await queue.receive(10, 30)

    await queue.dead_letter(received, "GiveUp: no")
    assert await dlq.replay() == 1

    [again] = await queue.receive(10, 30)
    assert (again.body, again.correlation_id) == (b"{}", "req-dead")


async def test_a_correlation_id_attribute_that_is_not_safe_is_dropped(queue: SqsQueue, spy: Spy) -> None:
    spy.client.send_message(
        QueueUrl=queue.queue_url,
        MessageBody="{}",
        MessageAttributes={"correlation_id": {"DataType": "String", "StringValue": "<script> and more"}},
    )
    [received] = await queue.receive(10, 30)
    assert received.correlation_id is None
