"""The topology vocabulary: names, and what a topology refuses to declare."""

from __future__ import annotations

import pytest

from supporterflow.declare import (
    Consumer,
    Cron,
    Every,
    Index,
    OnChange,
    QueueDef,
    TableDef,
    Topology,
    python_name,
)


def handle_order(body: bytes) -> None: ...


def send_welcome(record: object) -> None: ...


def nightly_export() -> None: ...


@pytest.mark.parametrize(
    "name",
    ["", "Orders", "1orders", "-orders", "orders-", "orders_v2", "or ders", "orders.dlq", "ordérs"],
)
def test_invalid_table_and_queue_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="lower-case"):
        TableDef(name, hash_key="id")
    with pytest.raises(ValueError, match="lower-case"):
        QueueDef(name)


@pytest.mark.parametrize("name", ["orders", "apple-subscriptions-to-fetch", "q2", "v2-orders"])
def test_valid_names_are_accepted(name: str) -> None:
    assert TableDef(name, hash_key="id").name == name
    assert QueueDef(name).name == name


@pytest.mark.parametrize(("visibility_s", "max_receives"), [(0, 5), (30, 0), (-1, 5), (30, -2)])
def test_a_queue_needs_a_positive_visibility_and_max_receives(visibility_s: int, max_receives: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        QueueDef("orders", visibility_s=visibility_s, max_receives=max_receives)


def test_a_queue_has_a_dlq_named_after_it_unless_it_opts_out() -> None:
    assert QueueDef("orders").dlq_name == "orders-dlq"
    assert QueueDef("orders", dlq=False).dlq_name is None


def test_python_name_turns_dashes_into_underscores() -> None:
    assert python_name("apple-subscriptions-to-fetch") == "apple_subscriptions_to_fetch"


def test_a_consumer_on_an_unknown_queue_is_refused() -> None:
    with pytest.raises(ValueError, match="no queue named payments"):
        Topology(queues=(QueueDef("orders"),), consumers=(Consumer("payments", handle_order),))


def test_a_stream_on_a_table_without_stream_is_refused() -> None:
    with pytest.raises(ValueError, match="has no stream"):
        Topology(
            tables=(TableDef("orders", hash_key="id"),),
            streams=(OnChange("orders", frozenset({"INSERT"}), send_welcome),),
        )


def test_a_stream_on_an_unknown_table_is_refused() -> None:
    with pytest.raises(ValueError, match="has no stream"):
        Topology(streams=(OnChange("orders", frozenset({"INSERT"}), send_welcome),))


def test_duplicate_table_names_are_refused() -> None:
    with pytest.raises(ValueError, match="two tables are named orders"):
        Topology(tables=(TableDef("orders", hash_key="id"), TableDef("orders", hash_key="other")))


def test_duplicate_queue_names_are_refused() -> None:
    with pytest.raises(ValueError, match="two queues are named orders"):
        Topology(queues=(QueueDef("orders"), QueueDef("orders", visibility_s=60)))


def test_a_queue_named_like_another_queues_dlq_is_refused() -> None:
    with pytest.raises(ValueError, match="two queues are named orders-dlq"):
        Topology(queues=(QueueDef("orders"), QueueDef("orders-dlq", dlq=False)))


def test_duplicate_schedule_names_are_refused() -> None:
    with pytest.raises(ValueError, match="two schedules are named nightly_export"):
        Topology(schedules=(Every(60, nightly_export), Cron("0 3 * * *", nightly_export)))


def test_duplicate_stream_subscriptions_are_refused() -> None:
    table = TableDef("orders", hash_key="id", stream=True)
    with pytest.raises(ValueError, match=r"two stream subscriptions are named orders-send-welcome"):
        Topology(
            tables=(table,),
            streams=(
                OnChange("orders", frozenset({"INSERT"}), send_welcome),
                OnChange("orders", frozenset({"MODIFY"}), send_welcome),
            ),
        )


def test_an_invalid_cron_expression_is_refused() -> None:
    with pytest.raises(ValueError, match="not a cron expression"):
        Cron("every day at three", nightly_export)


def test_all_queues_includes_every_dlq_and_each_subscriptions_retry_queue() -> None:
    topology = Topology(
        tables=(TableDef("orders", hash_key="id", stream=True),),
        queues=(QueueDef("payments", visibility_s=90), QueueDef("fire-and-forget", dlq=False)),
        consumers=(Consumer("payments", handle_order),),
        streams=(OnChange("orders", frozenset({"INSERT"}), send_welcome),),
    )

    queues = topology.all_queues()

    assert [q.name for q in queues] == [
        "payments",
        "payments-dlq",
        "fire-and-forget",
        "orders-send-welcome-retry",
        "orders-send-welcome-retry-dlq",
    ]
    payments_dlq = topology.queue("payments-dlq")
    assert (payments_dlq.dlq, payments_dlq.visibility_s) == (False, 90)
    assert topology.queue("orders-send-welcome-retry").dlq_name == "orders-send-welcome-retry-dlq"
    assert topology.queue("orders-send-welcome-retry-dlq").dlq is False


def test_looking_up_an_unknown_queue_raises_key_error() -> None:
    with pytest.raises(KeyError, match="no queue named nothing"):
        Topology(queues=(QueueDef("orders"),)).queue("nothing")


def test_names_of_consumers_streams_and_schedules() -> None:
    on_change = OnChange("orders", frozenset({"INSERT"}), send_welcome)

    assert Consumer("payments", handle_order).name == "payments:handle_order"
    assert on_change.name == "orders-send-welcome"
    assert on_change.retry_queue.name == "orders-send-welcome-retry"
    assert Every(60, nightly_export).name == "nightly_export"


def test_a_table_keeps_its_declared_indexes() -> None:
    table = TableDef("orders", hash_key="id", indexes={"by-user": Index("user", "at")})

    assert table.indexes["by-user"] == Index(hash_key="user", sort_key="at")
