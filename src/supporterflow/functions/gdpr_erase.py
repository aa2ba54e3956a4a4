"""GDPR erasure of one mobile user (``supporterflow gdpr erase USER_ID``, ``DELETE /user/{userId}``).

1. Every link of the user (user-subscriptions, queried by its hash key ``userId``) is deleted
   together with the user's ``Cancellation`` on ``soft-opt-in-consent-setter-queue``, exactly as a
   subscription's TTL expiry unlinks its users (``delete_links.unlink``: the message exists if and
   only if the delete happened). The Cancellation carries the user id on purpose: the consent
   setter (membership account) needs it to unset the soft opt-in consents, and it is what must
   follow the erasure. Every ``Cancellation`` of the user is therefore kept on every queue.
2. Every other queued message that holds the user id is removed (``Queue.remove``): the soft
   opt-in DLQ's ``{"identityId": ...}``, pending ``Acquisition`` events for the consent setter,
   ``braze-emails`` triggers (``IdentityUserId``; their ``To.Address`` is the user's email, which
   goes with them), and change records carrying the user's link (``keys`` / ``old_image`` /
   ``new_image`` with that ``userId``) on the stream retry queues and their DLQs. Matching is on
   those JSON fields, never on a substring of the body, so a short id cannot match someone else's
   message; a body that is not JSON is left alone.
3. An audit entry in ``gdpr-erasures``: an erasure id, the time, the counts, and ``userHash`` (an
   HMAC-SHA256 of the user id under the identity-hash key, never the id itself: a later request
   about the same user can be matched to it, while a plain hash of a short numeric id could be
   reversed by trying every number).

Idempotent: a second run finds no link and no message to remove, sends nothing, and records a
second audit entry with zero counts (every request is on record, including the repeats).

Left alone, on purpose:

- subscriptions and subscription-events: keyed by the store's purchase ids and holding the
  stores' payloads, not the user id (the link table is the only place users meet purchases);
- supporter-events: supporters' identities sent by producers (hashed by ``identity_key``), a
  different population from the mobile users' identity ids; their erasure belongs to the
  producers' systems;
- the change log of the local stream: the erasure's own link deletions are change records with
  the link as old image, as on DynamoDB Streams; they are pruned 24 hours after every subscriber
  has read them (``SqliteChangeStream.prune``).

A link record still undelivered on the stream when the erasure runs (a link written seconds
before) may make its Acquisition afterwards: run the erasure again (it is harmless) once the
stream has caught up (``supporterflow queues``, stream lag in ``/metrics``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import structlog

from supporterflow.domain.subscriptions.dates import to_iso
from supporterflow.domain.supporters.identity_hash import user_hash
from supporterflow.functions.delete_links import unlink
from supporterflow.ports import Clock, Item, Queue, Table

__all__ = ["ErasureSummary", "gdpr_erase", "holds_user", "user_hash"]

log = structlog.get_logger(__name__)

_PAGE: Final = 100
_LIST_PAGE: Final = 1000
_IMAGES: Final = ("keys", "old_image", "new_image")


@dataclass(frozen=True)
class ErasureSummary:
    """What one erasure did; nothing in it identifies the user but the hash."""

    erasure_id: str
    erased_at: str
    user_hash: str
    links: int  # links deleted, each with its Cancellation sent
    removed: dict[str, int] = field(default_factory=dict)  # queue -> messages removed (non-zero only)
    # Queues whose store cannot be swept (an SQS queue that redrives: each receive would count).
    not_swept: tuple[str, ...] = ()

    @property
    def messages(self) -> int:
        return sum(self.removed.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "erasureId": self.erasure_id,
            "erasedAt": self.erased_at,
            "userHash": self.user_hash,
            "linksDeleted": self.links,
            "cancellationsSent": self.links,
            "messagesRemoved": self.messages,
            "messagesRemovedByQueue": dict(self.removed),
            **({"queuesNotSwept": list(self.not_swept)} if self.not_swept else {}),
        }


def holds_user(body: bytes, user_id: str) -> bool:
    """Whether a queued message holds ``user_id`` and must go: a soft opt-in event or DLQ entry
    (``identityId``, except a ``Cancellation``), a Braze email (``IdentityUserId``), or a change
    record of a link (``userId`` in its keys or images)."""
    try:
        message = json.loads(body)
    except ValueError:
        return False
    if not isinstance(message, dict):
        return False
    if message.get("identityId") == user_id:
        return message.get("eventType") != "Cancellation"
    if message.get("IdentityUserId") == user_id:
        return True
    return any(isinstance(image, dict) and image.get("userId") == user_id for image in _images(message))


def _images(message: dict[str, Any]) -> list[object]:
    return [message.get(name) for name in _IMAGES] if "table" in message else []


async def _links(user_subscriptions: Table, user_id: str) -> list[Item]:
    links: list[Item] = []
    cursor: str | None = None
    while True:
        page = await user_subscriptions.query(user_id, limit=_PAGE, cursor=cursor)
        links += page.items
        if page.cursor is None:
            return links
        cursor = page.cursor


async def _platforms(subscriptions: Table, subscription_ids: Sequence[str]) -> dict[str, str]:
    rows = await subscriptions.batch_get([{"subscriptionId": s} for s in subscription_ids])
    return {
        str(row["subscriptionId"]): row["platform"] for row in rows if isinstance(row.get("platform"), str)
    }


async def _sweep(queue: Queue, user_id: str) -> int:
    removed = 0
    cursor: str | None = None
    while True:
        page = await queue.list(limit=_LIST_PAGE, cursor=cursor)
        matching = [m.message_id for m in page.messages if holds_user(m.body, user_id)]
        if matching:
            removed += await queue.remove(matching)
        if page.cursor is None:
            return removed
        cursor = page.cursor


async def gdpr_erase(
    user_id: str,
    *,
    user_subscriptions: Table,
    subscriptions: Table,
    gdpr_erasures: Table,
    soft_opt_in_consent_setter_queue: Queue,
    queues: Sequence[Queue],
    identity_key: bytes,
    clock: Clock,
) -> ErasureSummary:
    """Erase ``user_id``: links (with their Cancellations), the ``queues``' messages holding the
    id, then the audit entry. ``queues`` are the queues to sweep: every queue of the service."""
    if not user_id:
        raise ValueError("a user id is required")
    links = await _links(user_subscriptions, user_id)
    platforms = await _platforms(subscriptions, [str(link["subscriptionId"]) for link in links])
    deleted = 0
    for link in links:
        subscription_id = str(link["subscriptionId"])
        if await unlink(
            user_id,
            subscription_id,
            platforms.get(subscription_id),
            user_subscriptions=user_subscriptions,
            soft_opt_in_consent_setter_queue=soft_opt_in_consent_setter_queue,
        ):
            deleted += 1
    removed: dict[str, int] = {}
    not_swept: list[str] = []
    for queue in queues:
        try:
            count = await _sweep(queue, user_id)
        except NotImplementedError as error:
            log.warning("queue not swept for the erasure", queue=queue.name, reason=str(error))
            not_swept.append(queue.name)
            continue
        if count:
            removed[queue.name] = count
    summary = ErasureSummary(
        erasure_id=str(uuid.uuid4()),
        erased_at=to_iso(clock.now()),
        user_hash=user_hash(user_id, identity_key),
        links=deleted,
        removed=removed,
        not_swept=tuple(not_swept),
    )
    await gdpr_erasures.put({"id": summary.erasure_id, **_without_id(summary.as_json())})
    log.info(
        "gdpr erasure done",
        erasure_id=summary.erasure_id,
        links=deleted,
        messages=summary.messages,
    )
    return summary


def _without_id(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if name != "erasureId"}
