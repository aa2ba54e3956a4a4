"""Links, soft opt-ins and TTL cancellations end to end (issue 7): the real server (``supporterflow
serve`` with SF_EMULATORS=off, topology ``tests.e2e.people_topology``), the OIDC issuer
(``supporterflow emulate oidc``) and the identity API (``supporterflow emulate identity-api``) as
three processes on loopback ports, configured as an operator would configure them
(``SF_OIDC_JWKS_URL``/``_ISSUER``/``_AUDIENCE``, ``SF_IDENTITY_API_URL``/``_KEY``).

Users link purchases with ``POST /apple/linkToSubscriptions`` and ``/google/linkToSubscriptions``,
each with an access token minted by the OIDC emulator process (``POST /__emulator/tokens``). The
outbound queues (``soft-opt-in-consent-setter-queue``, ``braze-emails``) have no consumer here: the
test reads their messages from the server's SQLite queue table, as an operator would with
``supporterflow queues``, and the retry queue's dead letters through the admin API.

How subscriptions are stored. The link tests need Subscription rows that already exist, with a
chosen platform, start and end (a Feast one, one bought three days ago); the store emulators'
pipelines cannot give those (a Feast fetch links its own user through Braze, and a purchase made
in the App Store emulator starts now). So each row is written into the server's SQLite file with
the service's own table adapter (``SqliteTable.put``, another process writing the same file, as
``supporterflow`` CLI commands do): the row, its ``ttl`` column and its change record are exactly
what a fetch would write.

How a subscription expires. The server process runs on the system clock: no setting gives it a
test clock (``SF_*`` has none, and the runtime builds ``SystemClock``). So the TTL test rewrites the
stored row with a ``ttl`` one second in the past, through the same adapter, and the server runs
with ``SF_TTL_SWEEP_SECONDS=1``: its own sweeper deletes the row as principal ``ttl`` within a
second, exactly as it would 30 months after the end, and the delete-links subscription sees the
REMOVE record. Nothing but the ``ttl`` attribute is faked.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from supporterflow.adapters.clock import SystemClock
from supporterflow.adapters.sqlite.database import Database
from supporterflow.adapters.sqlite.tables import SqliteTable
from supporterflow.emulators.oidc import DEFAULT_AUDIENCE, JWKS_PATH
from supporterflow.topology import SUBSCRIPTIONS
from tests.e2e.conftest import ADMIN_KEY, Emulator, Server, ServerFactory, wait_until
from tests.e2e.people_topology import TOPOLOGY

pytestmark = pytest.mark.slow

ISSUER = "http://oidc.e2e.test"
IDENTITY_API_KEY = "e2e-identity-api-key"
CONSENT = "soft-opt-in-consent-setter-queue"
BRAZE = "braze-emails"
[SOFT_OPT_IN] = [s for s in TOPOLOGY.streams if s.name == "user-subscriptions-soft-opt-in"]
RETRY = SOFT_OPT_IN.retry_queue
RETRY_DLQ = f"{RETRY.name}-dlq"
TIMEOUT_S = 15.0


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def subscription_row(
    subscription_id: str, platform: str, product_id: str, *, started: timedelta, ends_in: timedelta
) -> dict[str, Any]:
    """A Subscription row as a fetch stores it: started ``started`` ago, ending ``ends_in`` from
    now, its TTL 30 months (here: 900 days) after the end."""
    now = datetime.now(UTC)
    end = now + ends_in
    return {
        "subscriptionId": subscription_id,
        "startTimestamp": iso(now - started),
        "endTimestamp": iso(end),
        "autoRenewing": True,
        "productId": product_id,
        "platform": platform,
        "freeTrial": False,
        "billingPeriod": "P1M",
        "googlePayload": None,
        "applePayload": None,
        "ttl": int((end + timedelta(days=900)).timestamp()),
    }


@dataclass
class Service:
    """The server and the two emulator processes, and what this test reads of them."""

    server: Server
    oidc: Emulator
    identity: Emulator

    # set-up ------------------------------------------------------------------------------------

    def store(self, row: dict[str, Any]) -> None:
        """Write ``row`` into the server's subscriptions table with the service's own adapter."""

        async def put() -> None:
            database = Database(self.server.database)
            table = SqliteTable(database, SUBSCRIPTIONS, SystemClock())
            database.open()
            try:
                await table.put(row)
            finally:
                database.close()

        asyncio.run(put())

    def register(self, user_id: str, email: str) -> None:
        response = httpx.post(
            f"{self.identity.url}/__emulator/users",
            json={"id": user_id, "primaryEmailAddress": email},
            timeout=5,
        )
        assert response.status_code == 201, response.text

    def token(self, user_id: str) -> str:
        response = httpx.post(
            f"{self.oidc.url}/__emulator/tokens", json={"legacy_identity_id": user_id}, timeout=5
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    # the API -----------------------------------------------------------------------------------

    def link(self, store: str, user_id: str, platform: str, entries: list[dict[str, str]]) -> None:
        response = httpx.post(
            f"{self.server.url}/{store}/linkToSubscriptions",
            headers={"Authorization": f"Bearer {self.token(user_id)}"},
            json={"platform": platform, "subscriptions": entries},
            timeout=10,
        )
        assert response.status_code == 200, response.text

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(
            method,
            f"{self.server.url}/admin/api/queues{path}",
            headers={"x-api-key": ADMIN_KEY},
            json=body,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()

    # reading the server's SQLite file ----------------------------------------------------------

    def _query(self, sql: str, *args: str) -> list[tuple[Any, ...]]:
        uri = f"file:{self.server.database}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=30) as conn:
            return list(conn.execute(sql, args))

    def messages(self, queue: str) -> list[dict[str, Any]]:
        """The bodies on ``queue``, oldest first."""
        rows = self._query("SELECT body FROM queue_messages WHERE queue = ? ORDER BY id", queue)
        return [json.loads(bytes(body)) for (body,) in rows]

    def depth(self, queue: str) -> int:
        return len(self._query("SELECT id FROM queue_messages WHERE queue = ?", queue))

    def row(self, subscription_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT item FROM t_subscriptions WHERE pk = ?", subscription_id)
        return json.loads(rows[0][0]) if rows else None

    def links(self, subscription_id: str) -> list[str]:
        rows = self._query("SELECT pk FROM t_user_subscriptions WHERE sk = ? ORDER BY pk", subscription_id)
        return [str(user_id) for (user_id,) in rows]

    def identity_lookups(self) -> list[dict[str, Any]]:
        requests = httpx.get(f"{self.identity.url}/__emulator/requests", timeout=5).json()["requests"]
        return [r for r in requests if r["path"].startswith("/user/")]

    def wait(self, condition: Any, what: str) -> None:
        """``wait_until`` with the server's log tail in the failure."""
        try:
            wait_until(condition, TIMEOUT_S, what)
        except AssertionError:
            raise AssertionError(f"timed out waiting for {what}\n{self.server.log()[-3000:]}") from None


@pytest.fixture
def service(tmp_path: Path, server_factory: ServerFactory) -> Iterator[Service]:
    oidc = Emulator("oidc", ["--cert-dir", str(tmp_path / "oidc-keys"), "--issuer", ISSUER], tmp_path)
    identity = Emulator("identity-api", ["--api-key", IDENTITY_API_KEY], tmp_path)
    oidc.start()
    try:
        identity.start()
        try:
            server = server_factory(
                "tests.e2e.people_topology:TOPOLOGY",
                SF_EMULATORS="off",
                SF_OIDC_JWKS_URL=f"{oidc.url}{JWKS_PATH}",
                SF_OIDC_ISSUER=ISSUER,
                SF_OIDC_AUDIENCE=DEFAULT_AUDIENCE,
                SF_IDENTITY_API_URL=identity.url,
                SF_IDENTITY_API_KEY=IDENTITY_API_KEY,
                SF_TTL_SWEEP_SECONDS="1",
            )
            server.start()
            yield Service(server, oidc, identity)
        finally:
            identity.stop()
    finally:
        oidc.stop()


def acquisition(
    user_id: str, product: str, subscription_id: str, event: str = "Acquisition"
) -> dict[str, str]:
    return {
        "identityId": user_id,
        "eventType": event,
        "productName": product,
        "subscriptionId": subscription_id,
    }


def email(address: str, user_id: str, template: str) -> dict[str, Any]:
    return {
        "To": {"Address": address, "ContactAttributes": {"SubscriberAttributes": {}}},
        "DataExtensionName": template,
        "IdentityUserId": user_id,
    }


def test_a_link_to_a_stored_active_subscription_sends_one_acquisition(service: Service) -> None:
    apple, google, old = "410000000000001", "google-token-e2e-1", "410000000000002"
    service.store(
        subscription_row(
            apple, "ios", "uk.co.guardian.gla.1month", started=timedelta(hours=1), ends_in=timedelta(days=30)
        )
    )
    service.store(
        subscription_row(
            google,
            "android",
            "com.guardian.subscription.monthly.10",
            started=timedelta(hours=1),
            ends_in=timedelta(days=30),
        )
    )
    # Bought three days ago, linked now: a sign-in after the purchase, so also the email.
    service.store(
        subscription_row(
            old, "ios", "uk.co.guardian.gla.1month", started=timedelta(days=3), ends_in=timedelta(days=27)
        )
    )
    service.register("200000003", "late.linker@example.com")

    service.link("apple", "200000001", "ios", [{"originalTransactionId": apple, "receipt": "cmVjZWlwdA=="}])
    service.link(
        "google",
        "200000002",
        "android",
        [{"purchaseToken": google, "subscriptionId": "com.guardian.subscription.monthly.10"}],
    )
    service.wait(lambda: len(service.messages(CONSENT)) == 2, "the two Acquisitions")
    assert service.messages(CONSENT) == [
        acquisition("200000001", "InAppPurchase", apple),
        acquisition("200000002", "InAppPurchase", google),
    ]
    assert service.links(apple) == ["200000001"]
    assert service.links(google) == ["200000002"]

    # The app calls again: the link exists, no second INSERT, no second Acquisition. The stream
    # is handled in commit order, so once the next link's messages are out, the repeat's are too.
    service.link("apple", "200000001", "ios", [{"originalTransactionId": apple, "receipt": "cmVjZWlwdA=="}])
    service.link("apple", "200000003", "ios", [{"originalTransactionId": old, "receipt": "b2xk"}])
    service.wait(lambda: service.depth(BRAZE) == 1, "the late linker's email")
    assert service.messages(CONSENT) == [
        acquisition("200000001", "InAppPurchase", apple),
        acquisition("200000002", "InAppPurchase", google),
        acquisition("200000003", "InAppPurchase", old),
    ]
    assert service.messages(BRAZE) == [email("late.linker@example.com", "200000003", "SV_PA_SOINotification")]
    # Stored purchases are not fetched again, and nothing waits for a subscription.
    for queue in (
        "apple-subscriptions-to-fetch",
        "google-subscriptions-to-fetch",
        "soft-opt-in-acquisitions-dlq",
    ):
        assert service.depth(queue) == 0, queue
    assert [r["path"] for r in service.identity_lookups()] == ["/user/200000003"]


def test_a_feast_link_sends_the_acquisition_and_the_braze_email(service: Service) -> None:
    feast = "420000000000001"
    service.store(
        subscription_row(
            feast,
            "ios-feast",
            "uk.co.guardian.Feast.monthly",
            started=timedelta(minutes=5),
            ends_in=timedelta(days=30),
        )
    )
    service.register("300000001", "cook@example.com")

    # A Feast promo-code link carries no receipt: nothing is fetched with it.
    service.link("apple", "300000001", "ios-feast", [{"originalTransactionId": feast}])
    service.wait(lambda: service.depth(CONSENT) == 1 and service.depth(BRAZE) == 1, "the Feast acquisition")

    assert service.messages(CONSENT) == [acquisition("300000001", "FeastInAppPurchase", feast)]
    assert service.messages(BRAZE) == [email("cook@example.com", "300000001", "SV_FA_SOINotification")]
    [lookup] = service.identity_lookups()
    assert (lookup["path"], lookup["status"], lookup["fault"]) == ("/user/300000001", 200, False)
    assert service.depth("apple-subscriptions-to-fetch") == 0


def test_a_subscription_expiring_by_ttl_unlinks_and_cancels_every_linked_user(service: Service) -> None:
    expiring, kept = "430000000000001", "430000000000002"
    row = subscription_row(
        expiring,
        "ios-feast",
        "uk.co.guardian.Feast.monthly",
        started=timedelta(minutes=5),
        ends_in=timedelta(days=30),
    )
    service.store(row)
    service.store(
        subscription_row(
            kept, "ios", "uk.co.guardian.gla.1month", started=timedelta(minutes=5), ends_in=timedelta(days=30)
        )
    )
    for user_id in ("400000001", "400000002"):
        service.register(user_id, f"{user_id}@example.com")
        service.link("apple", user_id, "ios-feast", [{"originalTransactionId": expiring}])
    service.link("apple", "400000001", "ios", [{"originalTransactionId": kept, "receipt": "a2VwdA=="}])
    service.wait(lambda: service.depth(CONSENT) == 3, "the three Acquisitions")
    assert service.links(expiring) == ["400000001", "400000002"]

    # The TTL passes (see the module's docstring): the server's sweeper removes the row.
    service.store({**row, "ttl": int(datetime.now(UTC).timestamp()) - 1})
    service.wait(
        lambda: (
            service.row(expiring) is None and service.links(expiring) == [] and service.depth(CONSENT) == 5
        ),
        "the TTL removal, its unlinking and the Cancellations",
    )
    cancellations = [m for m in service.messages(CONSENT) if m["eventType"] == "Cancellation"]
    assert sorted(cancellations, key=lambda m: m["identityId"]) == [
        acquisition("400000001", "FeastInAppPurchase", expiring, "Cancellation"),
        acquisition("400000002", "FeastInAppPurchase", expiring, "Cancellation"),
    ]
    # The other subscription and its link are untouched; the delete-links record is done with.
    assert service.row(kept) is not None
    assert service.links(kept) == ["400000001"]
    assert service.depth("subscriptions-delete-links-retry") == 0
    assert service.depth("subscriptions-delete-links-retry-dlq") == 0


def test_identity_api_down_the_email_is_retried_dead_lettered_and_replayed_once(service: Service) -> None:
    feast, user_id = "440000000000001", "500000001"
    service.store(
        subscription_row(
            feast,
            "ios-feast",
            "uk.co.guardian.Feast.monthly",
            started=timedelta(minutes=5),
            ends_in=timedelta(days=30),
        )
    )
    service.register(user_id, "patient.cook@example.com")
    fault = httpx.post(
        f"{service.identity.url}/__emulator/faults",
        json={"status": 503, "count": -1, "path_prefix": "/user/"},
        timeout=5,
    )
    assert fault.status_code == 201, fault.text

    service.link("apple", user_id, "ios-feast", [{"originalTransactionId": feast}])
    service.wait(lambda: service.depth(RETRY_DLQ) == 1, "the soft opt-in record in the retry queue's DLQ")

    # Every try of the stream, then every receive of the retry queue, asked and was refused;
    # nothing was sent, as the lookup comes before the sends.
    lookups = service.identity_lookups()
    assert len(lookups) == SOFT_OPT_IN.max_attempts + RETRY.max_receives
    assert all(r["fault"] and r["status"] == 503 and r["path"] == f"/user/{user_id}" for r in lookups)
    assert service.depth(CONSENT) == 0
    assert service.depth(BRAZE) == 0
    assert service.depth(RETRY.name) == 0
    [dead] = service.admin("GET", f"/{RETRY_DLQ}/dead-letters")["messages"]
    assert dead["sourceQueue"] == RETRY.name
    assert "[8892291c]" in dead["reason"], dead["reason"]
    assert user_id not in dead["reason"]

    # The identity API recovers; the operator replays the dead letters: one Acquisition, one email.
    assert httpx.delete(f"{service.identity.url}/__emulator/faults", timeout=5).status_code == 200
    assert service.admin("POST", f"/{RETRY_DLQ}/dead-letters/replay", {}) == {"replayed": 1}
    service.wait(
        lambda: service.depth(BRAZE) == 1 and service.depth(RETRY.name) == 0,
        "the replayed soft opt-in's email",
    )
    assert service.messages(CONSENT) == [acquisition(user_id, "FeastInAppPurchase", feast)]
    assert service.messages(BRAZE) == [email("patient.cook@example.com", user_id, "SV_FA_SOINotification")]
    assert service.depth(RETRY_DLQ) == 0
    assert [r["fault"] for r in service.identity_lookups()][-1] is False
    assert service.links(feast) == [user_id]
