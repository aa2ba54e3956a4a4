"""Google Play subscriptions updated per second by one process, with Google answering slowly.

Why: each message of ``google-subscriptions-to-fetch`` (a reference ``{"packageName",
"purchaseToken", "subscriptionId"}``) costs two Play Developer API calls, one after the other
(``purchases.subscriptionsv2.get`` for the extra and the status, then
``purchases.subscriptions.get``, whose v1 body is the row), each with the service account's
access token (fetched once, then cached), and one conditional write of the Subscription row with
its historical snapshot. The calls wait on Google, so the rate comes from how many fetches one
process keeps in flight, not from the CPU.

The Play emulator runs as a process of its own on loopback
(``python -m supporterflow.emulators.google.cli serve``) with 50 ms added per request (the
OAuth token endpoint included), its purchases in a SQLite state file written before it starts
(N ``purchase`` calls), its service account and push key in a key directory. The service is
configured against it as against Google (``SF_EMULATORS=off``,
``SF_GOOGLE_SERVICE_ACCOUNT_FILE``, ``SF_GOOGLE_PLAY_API_URL``, ``SF_GOOGLE_OAUTH_TOKEN_URL``).
N references are queued, then one runtime process with only the Google tables, queues and the
live consumer (``benchmarks.topologies:GOOGLE_DRAIN``: ``google_update`` with the service's
concurrency) updates them until the queue is empty; every row must then be stored, active, with
nothing dead-lettered.

The same is measured with that consumer handling one message at a time
(``GOOGLE_DRAIN_ONE_AT_A_TIME``: ``concurrency=1, batch_size=1``), on fewer messages, in the same
run: the ratio is what the concurrency buys. Each drain has its own database and emulator, and
a time cap; if the cap is hit the line says so and the rate is the rate with that backlog left.

    python -m benchmarks.google_drain [--quick] [--json PATH]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks import drain_runner
from benchmarks.drain_runner import DrainBenchmark, DrainSetup, emulator_command
from benchmarks.topologies import GOOGLE_DRAIN, GOOGLE_DRAIN_ONE_AT_A_TIME
from supporterflow.config import Settings
from supporterflow.emulators.google.app import TOKEN_PATH
from supporterflow.emulators.google.oauth import SERVICE_ACCOUNT_FILE
from supporterflow.emulators.google.store import GooglePlayState

TARGET_PER_S = 400.0
TARGET_RATIO = 20.0
LATENCY_MS = 50
PACKAGE = "com.guardian"
PRODUCT = "guardian.subscription.month.meteredoffer"  # in the emulator's default catalogue
TO_FETCH = "google-subscriptions-to-fetch"


def _purchase(state_file: Path, count: int) -> list[str]:
    """``count`` active subscriptions in the emulator's state file (written directly: much faster
    than its control API); their purchase tokens."""
    state = GooglePlayState(state_file)
    try:
        with state.store.transaction():
            steps = [state.purchase(PACKAGE, PRODUCT) for _ in range(count)]
    finally:
        state.close()
    return [str(step.purchase_token) for step in steps]


def _settings(directory: Path, key_dir: Path, api_url: str) -> Settings:
    """The service configured against the emulator exactly as against Google (the service-account
    file is the one ``serve`` writes into its key directory)."""
    return Settings(
        database=directory / "bench.sqlite3",
        object_store_dir=directory / "objects",
        emulators="off",
        google_service_account_file=key_dir / SERVICE_ACCOUNT_FILE,
        google_play_api_url=api_url,
        google_oauth_token_url=api_url + TOKEN_PATH,
        identity_hash_key="bench-identity-key",
        admin_api_keys="bench-admin",
        log_level="warning",
    )


def prepare(directory: Path, count: int) -> DrainSetup:
    """``count`` purchases in the emulator's state file in ``directory``, a reference to each."""
    key_dir, state_file = directory / "google-play", directory / "google-play.sqlite3"
    tokens = _purchase(state_file, count)
    bodies = [
        json.dumps(
            {"packageName": PACKAGE, "purchaseToken": token, "subscriptionId": PRODUCT}, separators=(",", ":")
        ).encode()
        for token in tokens
    ]
    return DrainSetup(
        emulator=lambda port: emulator_command(
            "supporterflow.emulators.google.cli", port, state_file, key_dir, LATENCY_MS
        ),
        settings=lambda api_url: _settings(directory, key_dir, api_url),
        bodies=bodies,
        subscription_ids=tokens,
    )


BENCHMARK = DrainBenchmark(
    name="google_drain",
    store="Play",
    calls="per Play Developer API call (2 calls per message)",
    topology=GOOGLE_DRAIN,
    one_at_a_time=GOOGLE_DRAIN_ONE_AT_A_TIME,
    queue_name=TO_FETCH,
    prepare=prepare,
    latency_ms=LATENCY_MS,
    target_per_s=TARGET_PER_S,
    target_ratio=TARGET_RATIO,
)


def main(argv: list[str] | None = None) -> int:
    return drain_runner.main(BENCHMARK, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
