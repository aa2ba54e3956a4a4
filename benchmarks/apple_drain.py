"""App Store subscriptions updated per second by one process, with the App Store answering slowly.

Why: each message of ``apple-subscriptions-to-fetch`` (a V2 reference ``{"originalTransactionId",
"bundleId"}``) costs one App Store Server API call (Get All Subscription Statuses), the
verification of the signed transaction and renewal info it answers, and one conditional write of
the Subscription row with its historical snapshot. The call waits on Apple, so the rate comes
from how many fetches one process keeps in flight, not from the CPU.

The App Store emulator runs as a process of its own on loopback
(``python -m supporterflow.emulators.apple.cli serve``) with 50 ms added per request, its
subscriptions in a SQLite state file written before it starts (N ``subscribe`` calls), its test
root and API key in a certificate directory. The service is configured against it as against
Apple (``SF_EMULATORS=off``, ``SF_APPLE_ROOT_CERTS``, ``SF_APPLE_API_URL``, key id, issuer and
``.p8`` file). N references are queued, then one runtime process with only the Apple tables,
queues and the live consumer (``benchmarks.topologies:APPLE_DRAIN``: ``apple_update`` with the
service's concurrency) updates them until the queue is empty; every row must then be stored,
active, with nothing dead-lettered.

The same is measured with that consumer handling one message at a time
(``APPLE_DRAIN_ONE_AT_A_TIME``: ``concurrency=1, batch_size=1``), on fewer messages, in the same
run: the ratio is what the concurrency buys. Each drain has its own database and emulator, and
a time cap; if the cap is hit the line says so and the rate is the rate with that backlog left.

    python -m benchmarks.apple_drain [--quick] [--json PATH]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks import drain_runner
from benchmarks.drain_runner import DrainBenchmark, DrainSetup, emulator_command
from benchmarks.topologies import APPLE_DRAIN, APPLE_DRAIN_ONE_AT_A_TIME
from supporterflow.config import Settings
from supporterflow.emulators.apple.auth import API_KEY_FILE, DEFAULT_ISSUER_ID, DEFAULT_KEY_ID, ApiKey
from supporterflow.emulators.apple.certificates import ROOT_PEM_FILE, CertificateChain
from supporterflow.emulators.apple.store import SANDBOX, AppleStoreState

TARGET_PER_S = 400.0
TARGET_RATIO = 20.0
LATENCY_MS = 50
BUNDLE = "uk.co.guardian.iphone2"
PRODUCT = "uk.co.guardian.gla.1month"
TO_FETCH = "apple-subscriptions-to-fetch"


def _subscribe(state_file: Path, count: int) -> list[str]:
    """``count`` active subscriptions in the emulator's state file (written directly: much faster
    than its control API); their original transaction ids."""
    state = AppleStoreState(state_file)
    try:
        with state.store.transaction():
            steps = [
                state.subscribe(bundle_id=BUNDLE, product_id=PRODUCT, environment=SANDBOX)
                for _ in range(count)
            ]
    finally:
        state.close()
    return [step.original_transaction_id for step in steps]


def _settings(directory: Path, cert_dir: Path, api_url: str) -> Settings:
    """The service configured against the emulator exactly as against Apple."""
    return Settings(
        database=directory / "bench.sqlite3",
        object_store_dir=directory / "objects",
        emulators="off",
        apple_root_certs=[str(cert_dir / ROOT_PEM_FILE)],
        apple_bundle_ids=[BUNDLE],
        apple_environment=SANDBOX,
        apple_api_url=api_url,
        apple_key_id=DEFAULT_KEY_ID,
        apple_issuer_id=DEFAULT_ISSUER_ID,
        apple_private_key_file=cert_dir / API_KEY_FILE,
        apple_verify_receipt_url=f"{api_url}/verifyReceipt",
        apple_sandbox_verify_receipt_url=f"{api_url}/sandbox/verifyReceipt",
        identity_hash_key="bench-identity-key",
        admin_api_keys="bench-admin",
        log_level="warning",
    )


def prepare(directory: Path, count: int) -> DrainSetup:
    """The emulator's keys and ``count`` subscriptions in ``directory``, a V2 reference to each."""
    cert_dir, state_file = directory / "app-store", directory / "app-store.sqlite3"
    CertificateChain.load_or_create(cert_dir)
    ApiKey.load_or_create(cert_dir, DEFAULT_KEY_ID, DEFAULT_ISSUER_ID)
    otids = _subscribe(state_file, count)
    bodies = [
        json.dumps({"originalTransactionId": otid, "bundleId": BUNDLE}, separators=(",", ":")).encode()
        for otid in otids
    ]
    return DrainSetup(
        emulator=lambda port: emulator_command(
            "supporterflow.emulators.apple.cli", port, state_file, cert_dir, LATENCY_MS
        ),
        settings=lambda api_url: _settings(directory, cert_dir, api_url),
        bodies=bodies,
        subscription_ids=otids,
    )


BENCHMARK = DrainBenchmark(
    name="apple_drain",
    store="App Store",
    calls="per App Store call",
    topology=APPLE_DRAIN,
    one_at_a_time=APPLE_DRAIN_ONE_AT_A_TIME,
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
