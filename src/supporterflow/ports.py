"""The small interfaces that functions are written against.

Every port is shaped so that both the embedded SQLite adapters and the AWS adapters (DynamoDB, SQS,
S3) can implement it without a function noticing:

- no cross-table transactions: a write touches one row; the only thing that travels with it is the
  set of queue messages it must not exist without (``then_send``);
- idempotency through conditional writes (``Condition``), never through read-then-write;
- every listing is paginated with an opaque ``cursor``.

Items are plain JSON-compatible dicts (``str``, ``int``, ``float``, ``bool``, ``None``, lists and
dicts); adapters convert to their store's types (``Decimal`` for DynamoDB, JSON text for SQLite).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from supporterflow.domain.subscriptions.apple_v2 import AppStoreSubscription, SignedNotification

Item = dict[str, Any]
Key = dict[str, Any]
Scalar = str | int | float


# --------------------------------------------------------------------------------------------------
# Conditions: a tiny expression language that DynamoDB condition expressions can express directly.


@dataclass(frozen=True)
class Exists:
    """The item exists (``attribute_exists(<hash key>)``)."""


@dataclass(frozen=True)
class Absent:
    """The item does not exist yet: the idempotent 'insert once' condition."""


@dataclass(frozen=True)
class AttrEquals:
    name: str
    value: Any


@dataclass(frozen=True)
class AttrLessThan:
    """``name < value``; a missing attribute fails the comparison, as in DynamoDB."""

    name: str
    value: Scalar


@dataclass(frozen=True)
class AttrMissing:
    name: str


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AllOf:
    conditions: tuple[Condition, ...]


Condition = Exists | Absent | AttrEquals | AttrLessThan | AttrMissing | AnyOf | AllOf


class ConditionFailed(Exception):
    """A conditional write found the item in another state; nothing was written or sent."""


# --------------------------------------------------------------------------------------------------
# Tables


@dataclass(frozen=True)
class KeyRange:
    """A sort-key condition of a query, as DynamoDB's ``KeyConditionExpression`` allows."""

    op: Literal["=", "<", "<=", ">", ">=", "between", "begins_with"]
    value: Scalar
    upper: Scalar | None = None  # only for "between" (inclusive)


@dataclass(frozen=True)
class Page:
    items: list[Item]
    cursor: str | None = None  # pass back to get the next page; None when there is no more


@dataclass(frozen=True)
class Outgoing:
    """A message that is committed together with a row write (the transactional outbox)."""

    queue: Queue
    body: bytes
    delay_s: int = 0
    # None: the adapter stamps the correlation id bound when the write is made (logs.py).
    correlation_id: str | None = None


@runtime_checkable
class Table(Protocol):
    """One logical table: a hash key, an optional sort key, secondary indexes and a TTL attribute."""

    name: str

    async def get(self, key: Key) -> Item | None: ...

    async def put(
        self, item: Item, *, condition: Condition | None = None, then_send: Sequence[Outgoing] = ()
    ) -> None:
        """Write the whole item. With ``condition``, raise ``ConditionFailed`` and write nothing when
        it does not hold. The ``then_send`` messages exist if and only if the write happened."""
        ...

    async def delete(
        self, key: Key, *, condition: Condition | None = None, then_send: Sequence[Outgoing] = ()
    ) -> Item | None:
        """Delete the item and return its old image (None if there was none)."""
        ...

    async def query(
        self,
        hash_value: Scalar,
        *,
        sort: KeyRange | None = None,
        index: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        forward: bool = True,
    ) -> Page: ...

    async def batch_get(self, keys: Sequence[Key]) -> list[Item]:
        """Items for any number of keys; missing keys are left out; order is not guaranteed."""
        ...

    async def batch_write(self, puts: Sequence[Item] = (), deletes: Sequence[Key] = ()) -> None:
        """Any number of unconditional writes. Not atomic as a whole: each row is."""
        ...

    async def scan(
        self, *, segment: int = 0, total_segments: int = 1, limit: int = 1000, cursor: str | None = None
    ) -> Page:
        """One page of a parallel scan: segments partition the table and can be read concurrently."""
        ...

    def read_snapshot(
        self,
        *,
        index: str | None = None,
        hash_value: Scalar | None = None,
        omit: Sequence[str] = (),
        page_size: int = 1000,
    ) -> AsyncGenerator[list[bytes], None]:
        """Every item, or with ``index`` and ``hash_value`` every item of that index partition in
        index order, as compact JSON (UTF-8), page by page, all from one consistent snapshot while
        writes go on. ``omit`` names document paths (``applePayload.unified_receipt.latest_receipt``)
        left out of each item.

        For exports: the items stay bytes because an export copies most of each one through, and
        decoding a million documents into Python objects would cost more than the whole export."""
        ...


# --------------------------------------------------------------------------------------------------
# Queues


@dataclass(frozen=True)
class Received:
    """A message held by one consumer until its visibility timeout runs out."""

    message_id: str
    body: bytes
    receipt: str
    receive_count: int
    sent_at: datetime
    # The work that sent it (request, message, stream record, scheduled run): see logs.py.
    correlation_id: str | None = None


@dataclass(frozen=True)
class StoredMessage:
    """A message as an operator sees it in a listing (queue or dead-letter queue)."""

    message_id: str
    body: bytes
    receive_count: int
    sent_at: datetime
    visible_at: datetime
    source_queue: str | None = None  # for dead letters: where it came from
    reason: str | None = None  # for dead letters: the last failure
    correlation_id: str | None = None  # the work that sent it


@dataclass(frozen=True)
class QueueDepth:
    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


@dataclass(frozen=True)
class MessagePage:
    messages: list[StoredMessage]
    cursor: str | None = None


@runtime_checkable
class Queue(Protocol):
    """An SQS-shaped queue: at-least-once delivery, visibility timeout, redrive to a DLQ."""

    name: str

    async def send(self, body: bytes, *, delay_s: int = 0) -> str:
        """Adapters stamp the message with the correlation id bound at the call
        (``logs.current_correlation_id``); a receiver finds it in ``Received.correlation_id``."""
        ...

    async def send_batch(self, bodies: Sequence[bytes], *, delay_s: int = 0) -> list[str]:
        """Any number of messages; adapters chunk to their store's limits. Stamped as ``send``."""
        ...

    async def receive(self, max_messages: int, visibility_s: int) -> list[Received]:
        """Up to ``max_messages`` visible messages, hidden from every other receiver for
        ``visibility_s``. Messages already received ``maxReceiveCount`` times move to the DLQ
        instead of being delivered again."""
        ...

    async def delete(self, received: Received) -> None:
        """Acknowledge. A receipt that is no longer current (the message was received again after
        its visibility ran out) is ignored: the newer holder will acknowledge it."""
        ...

    async def delete_batch(self, received: Sequence[Received]) -> None:
        """Acknowledge any number at once (adapters chunk: SQS takes 10 per ``DeleteMessageBatch``);
        stale receipts are ignored as in ``delete``."""
        ...

    async def change_visibility(self, received: Received, visibility_s: int) -> None: ...

    async def dead_letter(self, received: Received, reason: str) -> None:
        """Move a held message to this queue's DLQ now, with the reason it failed."""
        ...

    async def depth(self) -> QueueDepth: ...

    async def list(self, *, limit: int = 100, cursor: str | None = None) -> MessagePage:
        """Messages without receiving them (for operators)."""
        ...

    async def replay(self, *, message_ids: Sequence[str] | None = None) -> int:
        """For a DLQ: move messages (all, or the ones named) back to their source queue, with their
        receive count reset. Returns how many moved."""
        ...

    async def purge(self) -> int: ...

    async def remove(self, message_ids: Sequence[str]) -> int:
        """Delete the messages named (ids from ``list``) of this queue, whoever holds them, for
        good; ids no longer in the queue are ignored. Returns how many were deleted."""
        ...


# --------------------------------------------------------------------------------------------------
# Change stream

ChangeEvent = Literal["INSERT", "MODIFY", "REMOVE"]
TTL_PRINCIPAL = "ttl"


@dataclass(frozen=True)
class ChangeRecord:
    """One committed row change, as a DynamoDB stream record with ``NEW_AND_OLD_IMAGES``.

    ``principal`` is ``"ttl"`` when the row was deleted because its TTL expired, and None for every
    write made by the service itself: consumers tell the two apart as they would on DynamoDB."""

    sequence: int
    table: str
    event_name: ChangeEvent
    keys: Key
    old_image: Item | None
    new_image: Item | None
    principal: str | None
    committed_at: datetime


class ChangeStream(Protocol):
    """Ordered change records with a checkpoint per subscriber (the local runtime's DynamoDB Streams)."""

    async def read(self, subscriber: str, *, tables: Sequence[str], limit: int) -> list[ChangeRecord]:
        """Records of ``tables`` after the subscriber's checkpoint, in commit order."""
        ...

    async def checkpoint(self, subscriber: str, sequence: int) -> None:
        """Everything up to ``sequence`` is done for this subscriber."""
        ...

    async def lag(self, subscriber: str, *, tables: Sequence[str]) -> int:
        """How many records of ``tables`` the subscriber has not checkpointed yet."""
        ...


# --------------------------------------------------------------------------------------------------
# Object store


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified_at: datetime


@dataclass(frozen=True)
class ObjectPage:
    objects: list[ObjectInfo]
    cursor: str | None = None


class ObjectWriter(Protocol):
    async def write(self, chunk: bytes) -> None: ...


class ObjectStore(Protocol):
    """A bucket. Writes are atomic: a reader sees the old object or the whole new one."""

    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def list(self, prefix: str = "", *, limit: int = 1000, cursor: str | None = None) -> ObjectPage: ...

    def open_write(self, key: str) -> AbstractAsyncContextManager[ObjectWriter]:
        """Stream an object in chunks; it appears under ``key`` only when the block exits cleanly."""
        ...

    def iter_chunks(self, key: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]: ...


class Leases(Protocol):
    """Named leases, so that one runner at a time does a job that must not run twice at once (a
    historical drain). A lease that is not renewed within ``ttl_s`` lapses: a crashed holder does
    not block the job for ever."""

    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the lease ``name`` for ``ttl_s`` seconds; False while another owner holds it."""
        ...

    async def release(self, name: str, owner: str) -> None: ...


class Coordination(Leases, Protocol):
    """Leases, and when each schedule is next due, so that several processes agree on who runs the
    schedules and a restart knows which runs it missed."""

    async def next_due(self, schedule: str) -> datetime | None: ...

    async def set_next_due(self, schedule: str, due: datetime) -> None: ...


class ExportTargets(Protocol):
    """Where the datalake exports go: one object store per dataset (a folder, or a bucket as the
    original has one bucket per export)."""

    def store(self, dataset: str) -> ObjectStore: ...


# --------------------------------------------------------------------------------------------------
# Clock


class Clock(Protocol):
    """Time is a port so that tests freeze it and domain rules receive it as a value."""

    def now(self) -> datetime:
        """An aware UTC datetime."""
        ...


# --------------------------------------------------------------------------------------------------
# Supporter authorities (spec/supporter-events.md §5, §6)


class UserService(Protocol):
    """serverless-user-service: ``POST /signup`` and ``POST /match``.

    Both return the response body (``SignupResponse`` / ``MatchResponse``); ``match`` returns None
    when no user matches. Transient failures raise ``Retry``, refusals ``GiveUp``."""

    async def signup(self, request: Mapping[str, Any]) -> dict[str, Any]: ...

    async def match(self, request: Mapping[str, Any]) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class ErpDocument:
    """One ERPNext document to create or update, identified by its DocType and name."""

    doctype: str
    name: str
    fields: dict[str, Any]
    # Child tables are added to the stored rows (matched by their ``id``) instead of replacing
    # them: a supporter's identities accumulate.
    merge_rows: bool = False


@dataclass(frozen=True)
class ErpWrite:
    doctype: str
    name: str
    result: Literal["created", "updated"]


class Erp(Protocol):
    """ERPNext documents. ``upsert`` is idempotent: the same document twice is one document.
    Transient failures raise ``Retry``; a document ERPNext refuses raises ``GiveUp`` with its
    message."""

    async def upsert(self, document: ErpDocument) -> ErpWrite: ...


# --------------------------------------------------------------------------------------------------
# Mobile purchase authorities (spec/mobile-purchases.md §3, §10.2)


class SignedDataRejected(Exception):
    """Apple signed data that must not be trusted. ``malformed`` (-> 400): not a JWS of the
    expected shape; otherwise (-> 401) the signature, chain, root, bundle id or environment is
    wrong."""

    def __init__(self, reason: str, *, malformed: bool = False) -> None:
        super().__init__(reason)
        self.malformed = malformed


class AppStore(Protocol):
    """Apple's signed data and App Store Server API, checked against the configured roots.

    ``verify_notification`` raises ``SignedDataRejected``. ``subscription`` returns None when Apple
    does not know the id for that bundle (404); transient failures raise ``Retry``, refusals
    ``GiveUp``."""

    bundle_ids: Sequence[str]

    def verify_notification(self, signed_payload: str) -> SignedNotification: ...

    async def subscription(
        self, original_transaction_id: str, bundle_id: str
    ) -> AppStoreSubscription | None: ...


class Receipts(Protocol):
    """Legacy ``verifyReceipt`` (spec §3.4 steps 1-3): the parsed response, after the 21007 retry
    against the sandbox host when ``sandbox_retry``. A non-2xx answer or no answer raises ``Retry``;
    classifying the ``status`` is the caller's job."""

    async def verify(self, receipt: str, *, feast: bool, sandbox_retry: bool) -> dict[str, Any]: ...


class OfferSigner(Protocol):
    """Signs App Store promotional offers with the configured key (spec §3.9)."""

    key_id: str

    def sign(self, *, product_id: str, offer_id: str, username: str, nonce: Any, timestamp_ms: int) -> str:
        """The base64 DER ECDSA signature of the offer's fields (``nonce`` is a ``uuid.UUID``)."""
        ...


class Gone(Exception):
    """The store no longer answers for this purchase (Google's 410: expired too long ago)."""


class PushRejected(Exception):
    """A Pub/Sub push whose OIDC token is missing or not Google's for our push subscription."""


class GooglePlay(Protocol):
    """The Play Developer API (spec §4.3, §4.4). Each returns the response body, None for a 404;
    raises ``Gone`` for a 410, ``GiveUp`` for a refusal (400 "Invalid Value" ->
    ``GiveUp("Invalid token value")``), ``Retry`` when Google is unavailable (with
    ``after_s`` when it said when to come back)."""

    async def subscription_v1(
        self, package_name: str, subscription_id: str, purchase_token: str
    ) -> dict[str, Any] | None: ...

    async def subscription_v2(self, package_name: str, purchase_token: str) -> dict[str, Any] | None: ...

    async def monetization_subscription(
        self, package_name: str, product_id: str
    ) -> dict[str, Any] | None: ...


class AccessTokens(Protocol):
    """OAuth access tokens of a service account: ``refresh`` gets a new one now and says when it
    expires (``Retry`` when the token endpoint does not grant one)."""

    async def refresh(self) -> tuple[str, datetime | None]: ...


class PushAuthenticator(Protocol):
    """Checks a Pub/Sub push's ``Authorization`` header: the claims of a valid token, or
    ``PushRejected``; ``Retry`` when the certificates cannot be fetched."""

    async def verify(self, authorization: str | None) -> dict[str, Any]: ...


class IdentityLookup(Protocol):
    """Braze's user export (spec §10.2): the identity id kept against an external id (the Apple
    ``appAccountToken`` or Google ``obfuscatedExternalAccountId``), or None when there is none.
    Transient failures raise ``Retry``."""

    async def identity_id(self, external_id: str) -> str | None: ...


class AcquisitionApi(Protocol):
    """Support's Acquisition API (spec §10.4): records one acquisition event. No answer, a 429 or
    a 5xx raise ``Retry``; any other refusal raises ``GiveUp`` with the API's message."""

    async def send(self, payload: Mapping[str, Any]) -> None: ...


# --------------------------------------------------------------------------------------------------
# People (spec/mobile-purchases.md §2.6, §8.2)

TokenOutcome = Literal["incorrect-token", "incorrect-scope", "missing-identity-id"]


class TokenRejected(Exception):
    """A user access token that does not identify a user: ``incorrect-token`` (-> 401: bad
    signature, issuer, audience, expiry), ``incorrect-scope`` (-> 403), ``missing-identity-id``
    (-> 400: no user-id claim). ``reason`` never contains the token."""

    def __init__(self, outcome: TokenOutcome, reason: str) -> None:
        super().__init__(f"{outcome}: {reason}")
        self.outcome: TokenOutcome = outcome
        self.reason = reason


class UserTokens(Protocol):
    """OIDC access tokens of users (``Authorization: Bearer``): the user id they carry, or
    ``TokenRejected``; ``Retry`` when the issuer's keys cannot be fetched."""

    async def user_id(self, authorization: str | None) -> str: ...


class IdentityApi(Protocol):
    """The identity API's user lookup (spec §8.2 step 4b): the user's primary email address.
    A failure, or a user without one, raises ``Retry``."""

    async def primary_email(self, identity_id: str) -> str: ...


# --------------------------------------------------------------------------------------------------
# What a consumer tells the runtime


class Retry(Exception):
    """Transient: deliver again later, with back-off; not before ``after_s`` seconds when the
    other side said when to come back (HTTP ``Retry-After``)."""

    def __init__(self, message: str = "", *, after_s: float | None = None) -> None:
        super().__init__(message)
        self.after_s = after_s


class GiveUp(Exception):
    """Permanent: move the message to the dead-letter queue with this reason."""


class Ignore(Exception):
    """Expected and harmless: acknowledge the message and log a warning."""
