"""DynamoLeases against moto's DynamoDB: the Leases port's behaviour on the AWS API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from supporterflow.adapters.aws.leases import TTL_GRACE_S, DynamoLeases, leases_table_name
from supporterflow.adapters.clock import FrozenClock
from supporterflow.ports import Leases, Retry
from tests.aws.conftest import REGION

TABLE = leases_table_name("app", "test")


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def leases(dynamodb: Any, clock: FrozenClock) -> DynamoLeases:
    return DynamoLeases(dynamodb, TABLE, clock)


def row(dynamodb: Any, name: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = dynamodb.get_item(
        TableName=TABLE, Key={"name": {"S": name}}, ConsistentRead=True
    ).get("Item")
    return item


def test_is_a_leases_port(leases: DynamoLeases) -> None:
    port: Leases = leases
    assert port is leases
    assert TABLE == "app-test-leases"


async def test_one_owner_at_a_time(leases: DynamoLeases, dynamodb: Any, clock: FrozenClock) -> None:
    assert await leases.acquire("stream:x", "a", 30)
    assert not await leases.acquire("stream:x", "b", 30)
    # Another lease name is independent.
    assert await leases.acquire("stream:y", "b", 30)

    item = row(dynamodb, "stream:x")
    assert item is not None
    expires = clock.now().timestamp() + 30
    assert item["owner"] == {"S": "a"}
    assert float(item["expiresAt"]["N"]) == pytest.approx(expires)
    assert item["ttl"] == {"N": str(int(expires) + TTL_GRACE_S)}


async def test_a_lapsed_lease_goes_to_another_owner(leases: DynamoLeases, clock: FrozenClock) -> None:
    assert await leases.acquire("job", "a", 30)
    clock.advance(29.5)
    assert not await leases.acquire("job", "b", 30)
    clock.advance(1)  # 30.5 s after "a" took it
    assert await leases.acquire("job", "b", 30)
    assert not await leases.acquire("job", "a", 30)


async def test_the_owner_renews(leases: DynamoLeases, clock: FrozenClock) -> None:
    assert await leases.acquire("job", "a", 30)
    clock.advance(20)
    assert await leases.acquire("job", "a", 30)  # now held until 50 s
    clock.advance(20)  # 40 s: past the first expiry, within the renewed one
    assert not await leases.acquire("job", "b", 30)
    clock.advance(11)
    assert await leases.acquire("job", "b", 30)


async def test_only_the_owner_releases(leases: DynamoLeases, dynamodb: Any) -> None:
    assert await leases.acquire("job", "a", 30)
    await leases.release("job", "b")  # not b's: ignored
    assert row(dynamodb, "job") is not None
    assert not await leases.acquire("job", "b", 30)

    await leases.release("job", "a")
    assert row(dynamodb, "job") is None
    assert await leases.acquire("job", "b", 30)
    await leases.release("job", "a")  # a lease taken over is not released by its old owner
    assert row(dynamodb, "job") is not None


async def test_releasing_a_lease_nobody_holds(leases: DynamoLeases) -> None:
    await leases.release("never-taken", "a")
    assert await leases.acquire("never-taken", "b", 30)


class Failing:
    """A DynamoDB client whose every call fails with ``code``."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __getattr__(self, operation: str) -> Any:
        def call(**kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, operation)

        return call


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "InternalServerError"])
async def test_store_failures_raise_retry(clock: FrozenClock, code: str) -> None:
    leases = DynamoLeases(Failing(code), TABLE, clock)
    with pytest.raises(Retry, match=f"PutItem on {TABLE} failed: {code}"):
        await leases.acquire("job", "a", 30)
    with pytest.raises(Retry, match=f"DeleteItem on {TABLE} failed: {code}"):
        await leases.release("job", "a")


async def test_a_missing_table_raises_retry(aws: None, clock: FrozenClock) -> None:
    leases = DynamoLeases(boto3.client("dynamodb", region_name=REGION), "no-such-table", clock)
    with pytest.raises(Retry, match="ResourceNotFoundException"):
        await leases.acquire("job", "a", 30)


async def test_schedule_state_is_kept_beside_the_leases(leases: DynamoLeases) -> None:
    due = datetime(2026, 12, 6, 0, 3, tzinfo=UTC)
    assert await leases.next_due("export_subscriptions") is None
    await leases.set_next_due("export_subscriptions", due)
    assert await leases.next_due("export_subscriptions") == due
    assert await leases.acquire("export_subscriptions", "me", 60)  # a lease of that name is another row
    assert await leases.next_due("export_subscriptions") == due


async def test_a_schedules_due_time_does_not_take_the_name_of_its_lease(leases: DynamoLeases) -> None:
    """The scheduler takes the lease ``schedule:<name>`` and stores the due time of ``<name>``: the
    two must be different rows, or the stored due time refuses every lease (it has no owner)."""
    await leases.set_next_due("soi_dlq", datetime(2026, 12, 6, tzinfo=UTC))
    assert await leases.acquire("schedule:soi_dlq", "runner", 60)
