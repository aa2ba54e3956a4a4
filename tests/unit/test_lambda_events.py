"""Decoding the Lambda event shapes (as AWS documents them) into the ports' types."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from supporterflow.adapters.aws.lambda_events import (
    batch_response,
    change_record,
    change_records,
    sqs_messages,
    table_name_of,
)
from supporterflow.declare import TableDef
from supporterflow.ports import TTL_PRINCIPAL

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/ExampleTableWithStream/stream/2015-06-27T00:48:05.899"

# The DynamoDB Streams event of the Lambda documentation (``sam local generate-event dynamodb
# update``), with a TTL deletion as the DynamoDB TTL documentation shows it.
STREAM_EVENT: dict[str, Any] = {
    "Records": [
        {
            "eventID": "c4ca4238a0b923820dcc509a6f75849b",
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": {"Id": {"N": "101"}},
                "NewImage": {"Message": {"S": "New item!"}, "Id": {"N": "101"}, "Note": {"NULL": True}},
                "ApproximateCreationDateTime": 1428537600,
                "SequenceNumber": "4421584500000000017450439091",
                "SizeBytes": 26,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
            "eventSourceARN": ARN,
        },
        {
            "eventID": "c81e728d9d4c2f636f067f89cc14862c",
            "eventName": "MODIFY",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": {"Id": {"N": "101"}},
                "NewImage": {
                    "Message": {"S": "This item has changed"},
                    "Id": {"N": "101"},
                    "Note": {"S": "x"},
                    "Details": {"M": {"Score": {"N": "1.5"}, "Tags": {"L": [{"S": "a"}, {"NULL": True}]}}},
                    "Active": {"BOOL": True},
                },
                "OldImage": {"Message": {"S": "New item!"}, "Id": {"N": "101"}, "Note": {"NULL": True}},
                "ApproximateCreationDateTime": 1428537600,
                "SequenceNumber": "4421584500000000017450439092",
                "SizeBytes": 59,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
            "eventSourceARN": ARN,
        },
        {
            "eventID": "eccbc87e4b5ce2fe28308fd9f2a7baf3",
            "eventName": "REMOVE",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": {"Id": {"N": "101"}},
                "OldImage": {"Message": {"S": "This item has changed"}, "Id": {"N": "101"}},
                "ApproximateCreationDateTime": 1428537600,
                "SequenceNumber": "4421584500000000017450439093",
                "SizeBytes": 38,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
            "eventSourceARN": ARN,
        },
        {
            "eventID": "a87ff679a2f3e71d9181a67b7542122c",
            "eventName": "REMOVE",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
            "dynamodb": {
                "Keys": {"Id": {"N": "102"}},
                "OldImage": {"Id": {"N": "102"}, "ExpiresAt": {"N": "1428537000"}},
                "ApproximateCreationDateTime": 1428537650,
                "SequenceNumber": "4421584500000000017450439094",
                "SizeBytes": 30,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
            "eventSourceARN": ARN,
        },
    ]
}

# The SQS event of the Lambda documentation.
SQS_EVENT: dict[str, Any] = {
    "Records": [
        {
            "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
            "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
            "body": "test",
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1545082649183",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1545082649185",
            },
            "messageAttributes": {},
            "md5OfBody": "098f6bcd4621d373cade4e832627b4f6",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
            "awsRegion": "us-east-2",
        },
        {
            "messageId": "2e1424d4-f796-459a-8184-9c92662be6da",
            "receiptHandle": "AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq...",
            "body": '{"name": "Zo\u00eb"}',
            "attributes": {
                "ApproximateReceiveCount": "3",
                "SentTimestamp": "1545082650636",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1545082650649",
            },
            "messageAttributes": {},
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
            "awsRegion": "us-east-2",
        },
    ]
}

EXAMPLE = TableDef("example", hash_key="Id", stream=True, strings=frozenset({"Message", "Note"}))
TABLES = {"ExampleTableWithStream": EXAMPLE}


def test_stream_event_becomes_change_records_in_order() -> None:
    insert, modify, remove, expired = change_records(STREAM_EVENT, TABLES)
    at = datetime(2015, 4, 9, tzinfo=UTC)

    assert insert.sequence == 4421584500000000017450439091
    assert insert.table == "example"  # the logical name
    assert insert.event_name == "INSERT"
    assert insert.keys == {"Id": 101}
    assert insert.old_image is None
    # "Note" is a declared string: NULL reads back as ''.
    assert insert.new_image == {"Message": "New item!", "Id": 101, "Note": ""}
    assert insert.principal is None
    assert insert.committed_at == at

    assert modify.event_name == "MODIFY"
    assert modify.old_image == {"Message": "New item!", "Id": 101, "Note": ""}
    assert modify.new_image == {
        "Message": "This item has changed",
        "Id": 101,
        "Note": "x",
        # NULL inside a map or list is None whatever the top-level declaration.
        "Details": {"Score": 1.5, "Tags": ["a", None]},
        "Active": True,
    }
    assert modify.principal is None

    assert remove.event_name == "REMOVE"
    assert remove.new_image is None
    assert remove.old_image == {"Message": "This item has changed", "Id": 101}
    assert remove.principal is None  # deleted by a request, not by TTL

    assert expired.event_name == "REMOVE"
    assert expired.principal == TTL_PRINCIPAL
    assert expired.keys == {"Id": 102}
    assert expired.old_image == {"Id": 102, "ExpiresAt": 1428537000}
    assert expired.committed_at == datetime.fromtimestamp(1428537650, UTC)

    assert [r.sequence for r in (insert, modify, remove, expired)] == sorted(
        r.sequence for r in (insert, modify, remove, expired)
    )


def test_getrecords_shape_is_decoded_alike() -> None:
    """``GetRecords`` (boto3) gives a datetime, capitalised ``userIdentity`` keys and no ARN."""
    record = copy.deepcopy(STREAM_EVENT["Records"][3])
    del record["eventSourceARN"]
    record["userIdentity"] = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
    record["dynamodb"]["ApproximateCreationDateTime"] = datetime(2015, 4, 9, 0, 0, 50, tzinfo=UTC)

    decoded = change_record(record, EXAMPLE)

    assert decoded.principal == TTL_PRINCIPAL
    assert decoded.committed_at == datetime(2015, 4, 9, 0, 0, 50, tzinfo=UTC)
    assert decoded.table == "example"


def test_other_principals_are_not_ttl() -> None:
    event = copy.deepcopy(STREAM_EVENT)
    event["Records"][3]["userIdentity"] = {
        "type": "Service",
        "principalId": "replication.dynamodb.amazonaws.com",
    }
    assert change_records(event, TABLES)[3].principal is None


def test_unknown_table_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown table: ExampleTableWithStream"):
        change_records(STREAM_EVENT, {"other": EXAMPLE})


def test_malformed_records_are_refused() -> None:
    unknown_event = copy.deepcopy(STREAM_EVENT["Records"][0])
    unknown_event["eventName"] = "UPSERT"
    with pytest.raises(ValueError, match="eventName"):
        change_record(unknown_event, EXAMPLE)
    no_time = copy.deepcopy(STREAM_EVENT["Records"][0])
    del no_time["dynamodb"]["ApproximateCreationDateTime"]
    with pytest.raises(ValueError, match="ApproximateCreationDateTime"):
        change_record(no_time, EXAMPLE)
    with pytest.raises(ValueError, match="not a DynamoDB stream ARN"):
        change_records(
            {"Records": [{**STREAM_EVENT["Records"][0], "eventSourceARN": "arn:aws:sqs:x"}]}, TABLES
        )


def test_table_name_of_stream_arn() -> None:
    assert table_name_of(ARN) == "ExampleTableWithStream"
    assert table_name_of("arn:aws:dynamodb:eu-west-1:1:table/app-prod-links/stream/label") == "app-prod-links"
    with pytest.raises(ValueError, match="not a DynamoDB stream ARN"):
        table_name_of("arn:aws:dynamodb:eu-west-1:1:table/app-prod-links")


def test_empty_events_decode_to_nothing() -> None:
    assert change_records({"Records": []}, TABLES) == []
    assert sqs_messages({"Records": []}) == []


def test_sqs_event_becomes_received_messages() -> None:
    first, second = sqs_messages(SQS_EVENT)

    assert first.message_id == "059f36b4-87a3-44ab-83d2-661975830a7d"
    assert first.body == b"test"
    assert first.receipt == "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a..."
    assert first.receive_count == 1
    assert first.sent_at == datetime(2018, 12, 17, 21, 37, 29, 183000, tzinfo=UTC)

    assert second.body == '{"name": "Zo\u00eb"}'.encode()
    assert second.receive_count == 3
    assert second.sent_at == datetime.fromtimestamp(1545082650.636, UTC)


def test_the_correlation_id_message_attribute_becomes_the_messages_correlation_id() -> None:
    first, second = copy.deepcopy(SQS_EVENT["Records"])
    first["messageAttributes"] = {
        "correlation_id": {
            "stringValue": "abc-123",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    second["messageAttributes"] = {"correlation_id": {"stringValue": "not safe\n", "dataType": "String"}}

    with_id, unsafe = sqs_messages({"Records": [first, second]})
    (without,) = sqs_messages({"Records": SQS_EVENT["Records"][:1]})

    assert (with_id.correlation_id, unsafe.correlation_id, without.correlation_id) == ("abc-123", None, None)


def test_batch_response_names_each_failure_once() -> None:
    assert batch_response([]) == {"batchItemFailures": []}
    assert batch_response(["b", "a", "b"]) == {
        "batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "a"}]
    }
    sequences = (str(r["dynamodb"]["SequenceNumber"]) for r in STREAM_EVENT["Records"][2:])
    assert batch_response(sequences) == {
        "batchItemFailures": [
            {"itemIdentifier": "4421584500000000017450439093"},
            {"itemIdentifier": "4421584500000000017450439094"},
        ]
    }


def test_what_the_retry_queue_holds_is_a_record_or_a_clear_dead_letter() -> None:
    import json
    from datetime import UTC, datetime

    from supporterflow.entrypoints.aws_lambda import _retried_record
    from supporterflow.ports import ChangeRecord, GiveUp
    from supporterflow.runtime.dispatcher import encode_record

    record = ChangeRecord(
        sequence=7,
        table="user-subscriptions",
        event_name="INSERT",
        keys={"userId": "u", "subscriptionId": "s"},
        old_image=None,
        new_image={"userId": "u", "subscriptionId": "s"},
        principal=None,
        committed_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert _retried_record(encode_record(record)) == record
    # What an event source mapping's on-failure destination receives: the batch's position.
    position = {
        "requestContext": {"condition": "RetryAttemptsExhausted"},
        "DDBStreamBatchInfo": {
            "shardId": "shardId-00000001",
            "startSequenceNumber": "100",
            "endSequenceNumber": "200",
            "streamArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2026",
        },
    }
    with pytest.raises(GiveUp, match=r"shard shardId-00000001, sequence numbers 100\.\.200"):
        _retried_record(json.dumps(position).encode())
    with pytest.raises(GiveUp, match="not a change record"):
        _retried_record(b"[1, 2]")
