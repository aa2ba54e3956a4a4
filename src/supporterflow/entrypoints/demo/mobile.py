"""The mobile half of the story: an App Store life cycle, a Google Play upgrade, a linked user's
soft opt-in.

Store notifications are made the way ``apple send-test-notification`` and ``google
send-test-notification`` make them: a life-cycle step applied to the emulators' state files
that the service's in-process emulators read, then the notification those steps produce (signed
by the App Store emulator's test CA; a Pub/Sub push with the Play emulator's OIDC token) posted
to the service over HTTP. Each wait reads the service's own record (the subscriptions table,
the consent-setter queue) until it shows the expected state.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from supporterflow.bootstrap import LOCAL_PUSH_AUDIENCE, apple_emulator_directory, google_emulator_directory
from supporterflow.bootstrap.downstream import oidc_emulator_directory
from supporterflow.emulators.apple.certificates import CertificateChain
from supporterflow.emulators.apple.sender import notification_body as apple_notification
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import AppleStoreState
from supporterflow.emulators.apple.store import Step as AppleStep
from supporterflow.emulators.google.push import PushSigner
from supporterflow.emulators.google.sender import USER_AGENT
from supporterflow.emulators.google.sender import notification_body as google_notification
from supporterflow.emulators.google.store import GooglePlayState
from supporterflow.emulators.google.store import Step as GoogleStep
from supporterflow.emulators.oidc import DEFAULT_AUDIENCE, DEFAULT_ISSUER, OidcIssuer
from supporterflow.entrypoints.demo.report import Reporter, StepFailed, hidden
from supporterflow.entrypoints.demo.service import DemoService

APPLE_BUNDLE, APPLE_PRODUCT = "uk.co.guardian.iphone2", "uk.co.guardian.gla.1month"
GOOGLE_PACKAGE = "com.guardian"
GOOGLE_MONTHLY, GOOGLE_ANNUAL = (
    "guardian.subscription.month.meteredoffer",
    "guardian.subscription.annual.meteroffer",
)
CONSENT_QUEUE = "soft-opt-in-consent-setter-queue"

Row = dict[str, Any]


class Stores:
    """The demo's handles on the App Store and Play emulators' state (the same files the
    service's in-process emulators answer from) and on their signing keys."""

    def __init__(self, service: DemoService) -> None:
        settings = service.settings
        apple_dir, google_dir = apple_emulator_directory(settings), google_emulator_directory(settings)
        self.service = service
        self.apple = AppleStoreState(apple_dir / "subscriptions.sqlite3")
        self.apple_signer = AppStoreSigner(CertificateChain.load_or_create(apple_dir))
        self.google = GooglePlayState(google_dir / "purchases.sqlite3")
        self.push_signer = PushSigner.load_or_create(google_dir)
        self.push_audience = settings.google_push_audience or LOCAL_PUSH_AUDIENCE

    def close(self) -> None:
        self.apple.close()
        self.google.close()

    async def notify_apple(self, step: AppleStep, report: Reporter) -> None:
        body = apple_notification(
            step,
            self.apple,
            self.apple_signer,
            app_apple_id=self.service.settings.apple_app_apple_id,
        )
        kind = " ".join(filter(None, [step.notification_type, step.subtype]))
        report.sent(f"POST /apple/pubsub  V2 {kind}, signedPayload {hidden(body['signedPayload'])}")
        response = await self.service.api.post("/apple/pubsub", json=body)
        report.answered(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise StepFailed(f"/apple/pubsub answered {response.status_code}: {response.text[:200]}")

    async def notify_google(self, step: GoogleStep, report: Reporter) -> None:
        body = google_notification(step, self.google)
        token = self.push_signer.token(self.push_audience)
        report.sent(
            f"POST /google/pubsub  {step.name} for purchase token {hidden(step.purchase_token)}, "
            f"Pub/Sub OIDC token {hidden(token)}"
        )
        response = await self.service.api.post(
            "/google/pubsub",
            json=body,
            headers={"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT},
        )
        report.answered(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise StepFailed(f"/google/pubsub answered {response.status_code}: {response.text[:200]}")

    async def row_when(
        self, subscription_id: str, holds: Callable[[Row], bool], what: str, report: Reporter
    ) -> Row:
        """The subscriptions row once ``holds`` is true of it."""
        table = self.service.container.tables["subscriptions"]

        async def probe() -> Row | None:
            row = await table.get({"subscriptionId": subscription_id})
            return row if row is not None and holds(row) else None

        return await report.wait_for(what, probe)


def _stored(row: Row) -> str:
    return f"status={row.get('status')}, endTimestamp={row.get('endTimestamp')}"


async def app_store_life_cycle(stores: Stores, report: Reporter) -> None:
    """Purchase, renewal, billing retry, expiry: each a V2 notification, each waited for in the
    subscriptions row (the fetch that follows asks the emulated App Store Server API)."""
    step = stores.apple.subscribe(
        bundle_id=APPLE_BUNDLE,
        product_id=APPLE_PRODUCT,
        environment=stores.service.settings.apple_environment,
    )
    otid = step.original_transaction_id
    report.note(f"App Store emulator: new subscription {otid} ({APPLE_PRODUCT})")
    await stores.notify_apple(step, report)
    row = await stores.row_when(otid, lambda r: r.get("status") == "active", "the row is active", report)
    first_end = row["endTimestamp"]
    report.checked(f"purchase: row {otid} active, ends {first_end}")

    await stores.notify_apple(stores.apple.renew(otid), report)
    row = await stores.row_when(
        otid,
        lambda r: r.get("status") == "active" and r["endTimestamp"] > first_end,
        "the row shows the renewal (a later endTimestamp)",
        report,
    )
    report.checked(f"renewal: active, endTimestamp {first_end} -> {row['endTimestamp']}")

    await stores.notify_apple(stores.apple.fail_to_renew(otid, grace=False), report)
    row = await stores.row_when(otid, lambda r: r.get("status") == "billing_retry", "billing_retry", report)
    report.checked(f"billing retry: {_stored(row)}")

    await stores.notify_apple(stores.apple.expire(otid), report)
    row = await stores.row_when(otid, lambda r: r.get("status") == "expired", "expired", report)
    report.checked(f"expiry: {_stored(row)}")


async def google_upgrade(stores: Stores, report: Reporter) -> None:
    """A monthly purchase, then an upgrade to annual: Google issues a new purchase token linked
    to the old one; the new row is active and the old one is marked ``supersededBy`` it."""
    bought = stores.google.purchase(GOOGLE_PACKAGE, GOOGLE_MONTHLY)
    old = bought.purchase_token
    assert old is not None
    report.note(f"Play emulator: new purchase of {GOOGLE_MONTHLY}, token {hidden(old)}")
    await stores.notify_google(bought, report)
    await stores.row_when(old, lambda r: r.get("status") == "active", "the monthly row is active", report)
    report.checked(f"purchase: row {hidden(old)} active ({GOOGLE_MONTHLY})")

    upgraded = stores.google.apply("upgrade", old, product_id=GOOGLE_ANNUAL)
    new = upgraded.purchase_token
    assert new is not None
    report.note(f"Play emulator: upgrade to {GOOGLE_ANNUAL}, new token {hidden(new)} linked to the old one")
    await stores.notify_google(upgraded, report)
    row = await stores.row_when(
        new, lambda r: r.get("status") == "active", "the annual row is active", report
    )
    report.checked(f"new row {hidden(new)} active ({row.get('productId')})")
    await stores.row_when(
        old, lambda r: r.get("supersededBy") == new, "the monthly row is superseded by the annual one", report
    )
    report.checked(f"old row {hidden(old)} supersededBy {hidden(new)}")


def user_token(stores: Stores, user_id: str) -> str:
    """An access token the local profile accepts: minted with the keys of its in-process OIDC
    emulator (``oidc-emulator/`` beside the database), as ``supporterflow emulate oidc-token``
    does."""
    settings = stores.service.settings
    issuer = OidcIssuer.load_or_create(
        oidc_emulator_directory(settings),
        settings.oidc_issuer or DEFAULT_ISSUER,
        audience=settings.oidc_audience or DEFAULT_AUDIENCE,
    )
    return issuer.token(legacy_identity_id=user_id)  # the user id claim, USER_ID_CLAIM


async def linked_user_soft_opt_in(stores: Stores, report: Reporter) -> None:
    """A user links a new App Store subscription; the link's INSERT on the change stream makes
    the soft opt-in flow send an Acquisition to the consent setter's queue (an external queue,
    locally a SQLite queue nothing consumes)."""
    user_id = str(900_000_000 + secrets.randbelow(99_999_999))
    step = stores.apple.subscribe(
        bundle_id=APPLE_BUNDLE,
        product_id=APPLE_PRODUCT,
        environment=stores.service.settings.apple_environment,
    )
    otid = step.original_transaction_id
    await stores.notify_apple(step, report)
    await stores.row_when(otid, lambda r: r.get("status") == "active", "the subscription is stored", report)
    report.checked(f"subscription {otid} stored, active")

    token = user_token(stores, user_id)
    receipt = stores.apple.receipt(otid)
    report.sent(
        f"POST /apple/linkToSubscriptions  user {user_id} (Bearer {hidden(token)}), "
        f"originalTransactionId {otid}, receipt {hidden(receipt)}"
    )
    response = await stores.service.api.post(
        "/apple/linkToSubscriptions",
        headers={"Authorization": f"Bearer {token}"},
        json={"platform": "ios", "subscriptions": [{"originalTransactionId": otid, "receipt": receipt}]},
    )
    report.answered(f"HTTP {response.status_code}")
    if response.status_code != 200:
        raise StepFailed(f"/apple/linkToSubscriptions answered {response.status_code}: {response.text[:200]}")

    queue = stores.service.container.queues[CONSENT_QUEUE]

    async def acquisition() -> dict[str, Any] | None:
        for message in (await queue.list(limit=1000)).messages:
            body = json.loads(message.body)
            if body.get("identityId") == user_id and body.get("subscriptionId") == otid:
                return dict(body)
        return None

    sent = await report.wait_for(f"{CONSENT_QUEUE} holds the Acquisition", acquisition)
    if sent.get("eventType") != "Acquisition":
        raise StepFailed(f"expected an Acquisition, the consent setter got {sent.get('eventType')}")
    product = sent.get("productName")
    report.checked(f"{CONSENT_QUEUE}: {sent['eventType']} for user {user_id}, {product}, subscription {otid}")
