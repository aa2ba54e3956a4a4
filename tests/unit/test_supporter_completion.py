"""Completing supporter_uuid in ERP actions (spec §5.2 consumer step 3)."""

from __future__ import annotations

from typing import Any

from supporterflow.domain.supporters.completion import complete_supporter_uuids, hashes_to_match

SIGNUP = "11111111-1111-4111-8111-111111111111"
MATCHED = "22222222-2222-4222-8222-222222222222"
EXPLICIT = "33333333-3333-4333-8333-333333333333"


def ticket(supporter_uuid: Any = None, identity_hash: str | None = "h1") -> dict[str, Any]:
    data: dict[str, Any] = {"uuid": "t", "supporter_uuid": supporter_uuid}
    if identity_hash:
        data["identity_hash"] = identity_hash
    return {"type": "prize:ticket:put", "data": data}


def test_the_signup_uuid_fills_every_empty_supporter_uuid() -> None:
    actions = [ticket(None), ticket(""), {"type": "giftaid:submit", "data": {}}]
    completed = complete_supporter_uuids(actions, SIGNUP, {})
    assert [a["data"]["supporter_uuid"] for a in completed] == [SIGNUP, SIGNUP, SIGNUP]


def test_an_explicit_supporter_uuid_is_never_overwritten() -> None:
    (completed,) = complete_supporter_uuids([ticket(EXPLICIT)], SIGNUP, {"h1": MATCHED})
    assert completed["data"]["supporter_uuid"] == EXPLICIT


def test_the_identity_hash_is_used_when_there_is_no_signup_and_is_kept() -> None:
    (completed,) = complete_supporter_uuids([ticket(None, "h1")], None, {"h1": MATCHED})
    assert completed["data"] == {"uuid": "t", "supporter_uuid": MATCHED, "identity_hash": "h1"}


def test_the_signup_takes_precedence_over_the_identity_hash() -> None:
    assert hashes_to_match([ticket(None, "h1")], SIGNUP) == []
    (completed,) = complete_supporter_uuids([ticket(None, "h1")], SIGNUP, {})
    assert completed["data"]["supporter_uuid"] == SIGNUP


def test_each_hash_is_looked_up_once_in_order_of_use() -> None:
    actions = [ticket(None, "h2"), ticket(None, "h1"), ticket(None, "h2"), ticket(EXPLICIT, "h3")]
    assert hashes_to_match(actions, None) == ["h2", "h1"]


def test_flat_actions_and_actions_without_a_supporter_link_are_left_alone() -> None:
    flat = {"type": "user:create", "cognito_user_id": "c", "email": []}
    prize = {"type": "prize:prize:put", "data": {"id": "p"}}
    assert complete_supporter_uuids([flat, prize], SIGNUP, {}) == [flat, prize]


def test_the_stored_actions_are_not_changed() -> None:
    actions = [ticket(None)]
    complete_supporter_uuids(actions, SIGNUP, {})
    assert actions[0]["data"]["supporter_uuid"] is None
