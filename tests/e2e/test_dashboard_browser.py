"""The dashboard in a real browser: headless Chromium (Debian's ``chromium``, installed here when
it is missing and the machine allows it) driven by Playwright against the real server process.

An operator signs in, sees a supporter event that ERPNext refused, fixes ERPNext, replays the
dead letter from the DLQ page and sees the event delivered; then looks up a subscription's
timeline. No page may log a console error. Screenshots of every page are kept under
``var/test-artefacts/dashboard/`` (git-ignored) for a person to look at."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ADMIN_KEY, ROOT, Emulator, Server, ServerFactory, wait_until
from tests.e2e.test_supporter_events_e2e import GIFTAID_SUBMIT, SIGNUP, post, start_service, state_of

pytestmark = pytest.mark.slow

ARTEFACTS = ROOT / "var" / "test-artefacts" / "dashboard"
CHROMIUM = "/usr/bin/chromium"
# As the machine's notes advise: without the background-networking flags Chromium keeps trying
# to reach Google's hosts, which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DLQ = "supporter-events-to-deliver-dlq"
SUBSCRIPTION = "2000000987654321"


def chromium() -> str:
    """Debian's Chromium, installed with apt when missing and allowed (root, apt-get present)."""
    if not Path(CHROMIUM).exists() and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium"],
            check=False,
            capture_output=True,
            timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    if not Path(CHROMIUM).exists():
        pytest.skip(
            "headless Chromium is not installed and cannot be installed here "
            "(install Debian's chromium package: apt-get install chromium)"
        )
    return CHROMIUM


@pytest.fixture
def browser_page() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
    executable = chromium()
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.console_errors = []
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        page.on("pageerror", lambda e: page.console_errors.append(str(e)))
        page.on("dialog", lambda dialog: dialog.accept())  # the confirmations: the operator says yes
        yield page
        browser.close()


def shot(page: Any, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)
    assert page.console_errors == [], f"{name}: {page.console_errors}"


def store_subscription(server: Server) -> None:
    """A subscription with notifications, written beside the running server (SQLite, WAL)."""
    from supporterflow.bootstrap import bootstrap
    from supporterflow.config import Settings

    async def write() -> None:
        settings = Settings(
            database=server.database,
            object_store_dir=server.tmp_path / "objects",
            admin_api_keys=ADMIN_KEY,
            emulators="off",
        )
        container = bootstrap(settings).open()
        try:
            await container.tables["subscriptions"].put(
                {
                    "subscriptionId": SUBSCRIPTION,
                    "platform": "ios",
                    "status": "active",
                    "productId": "uk.co.guardian.gla.1month",
                    "fetchedAt": "2026-12-01T10:00:01.000Z",
                }
            )
            for at, kind in (
                ("2026-12-01T10:00:00.000Z", "SUBSCRIBED"),
                ("2026-12-02T10:00:00.000Z", "DID_RENEW"),
            ):
                await container.tables["subscription-events"].put(
                    {
                        "subscriptionId": SUBSCRIPTION,
                        "timestampAndType": f"{at}|{kind}",
                        "date": at[:10],
                        "timestamp": at,
                        "eventType": kind,
                        "platform": "ios",
                    }
                )
        finally:
            await container.aclose()

    # Playwright's sync API runs an event loop on this thread: the writes get a thread of their own.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, write()).result()


def test_an_operator_replays_a_failed_supporter_event_and_looks_up_a_subscription(
    server_factory: ServerFactory, emulators: tuple[Emulator, Emulator], browser_page: Any
) -> None:
    users, erpnext = emulators
    server = start_service(server_factory, users, erpnext)
    # ERPNext refuses gift aid declarations without a claim reference: the event fails.
    httpx.put(
        erpnext.url + "/__emulator/mandatory", json={"Gift Aid Declaration": ["claim_reference"]}, timeout=5
    )
    event_id = post(server, {"user-service": SIGNUP, "erp-service": {"actions": [GIFTAID_SUBMIT]}})
    wait_until(lambda: state_of(server, event_id)["status"] == "failed", 30, "the event to fail")
    store_subscription(server)
    page = browser_page

    page.goto(server.url + "/admin")
    assert page.url.endswith("/admin/login")
    shot(page, "01-sign-in")
    page.fill("input[name=key]", ADMIN_KEY)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/admin")
    shot(page, "02-overview")
    assert page.locator(f"a[href='/admin/queues/{DLQ}/dead-letters']").inner_text() == "1"

    page.click(f"#supporter-events tr.status-failed a[href='/admin/supporter-events/{event_id}']")
    page.wait_for_url(f"**/admin/supporter-events/{event_id}")
    assert "417" in page.locator("#event").inner_text()
    shot(page, "03-failed-event")

    httpx.put(erpnext.url + "/__emulator/mandatory", json={}, timeout=5)  # the fix
    page.goto(server.url + "/admin")
    page.click(f"a[href='/admin/queues/{DLQ}/dead-letters']")
    page.wait_for_url(f"**/admin/queues/{DLQ}/dead-letters")
    assert "claim_reference" in page.locator("td.reason").inner_text()
    shot(page, "04-dead-letters")
    page.check("input[data-select-all]")
    page.click("button:has-text('Replay selected')")
    page.wait_for_selector("text=went back to their queue")
    shot(page, "05-replayed")

    def delivered() -> bool:
        page.goto(f"{server.url}/admin/supporter-events/{event_id}")
        return bool(page.locator("#event td.status-delivered").count() == 1)

    wait_until(delivered, 30, "the replayed event to be delivered")
    assert "doctype=Gift Aid Declaration" in page.locator("#path").inner_text()
    shot(page, "06-delivered")

    page.fill("header input[name=q]", SUBSCRIPTION)
    page.click("header button:has-text('Find')")
    page.wait_for_url("**/admin/subscriptions/**")
    timeline = page.locator("#timeline").inner_text()
    assert timeline.index("SUBSCRIBED") < timeline.index("fetched: active") < timeline.index("DID_RENEW")
    shot(page, "07-timeline")
