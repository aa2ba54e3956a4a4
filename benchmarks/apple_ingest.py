"""Accepted App Store V2 notifications per second over HTTP, as a ratio to the bare-route baseline.

Why: ``POST /apple/pubsub`` with ``{"signedPayload"}`` verifies three JWS (the notification and the
signed transaction and renewal info inside it) against the configured Apple root before it
commits the event row and its fetch reference and answers; this shows what that costs next to
the cheapest possible route on the same server (``benchmarks.http_baseline``), measured in the
same run. The real ``supporterflow serve`` runs on a fresh database with the in-process emulators
(``SF_EMULATORS=on``): it trusts the App Store emulator's test root kept beside the database, in
``apple-emulator/``, which this benchmark creates first and signs with. It has the service's
tables and queues but no consumers (``benchmarks.topologies:INGEST_ONLY``), so only acceptance is
measured.

Every request is distinct and valid: N SUBSCRIBED notifications of N distinct subscriptions (each
its own ``originalTransactionId`` and ``notificationUUID``), signed before the run and each sent
once (``benchmarks.loadgen`` with a bodies file): a repeated body would only measure the
duplicate path. Before the load a tampered notification must get 401 (the signatures really are
checked); after it, the stored events and queued fetches must number the 200s.

An in-process figure follows (no HTTP): ``AppleSignedData.verify_notification`` per second on
distinct notifications, with a cProfile breakdown of where its time goes.

    python -m benchmarks.apple_ingest [--quick] [--json PATH]
"""

from __future__ import annotations

import base64
import cProfile
import json
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.ingest_runner import (
    JSON_HEADERS,
    figures,
    measure_bare_route,
    measure_ingest,
    parse_options,
    print_header,
    print_http,
    print_verdict,
    write_json,
)
from benchmarks.loadgen import write_bodies
from supporterflow.adapters.apple import AppleSignedData
from supporterflow.emulators.apple.certificates import CertificateChain
from supporterflow.emulators.apple.payloads import signed_notification
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import SANDBOX, AppleStoreState

TARGET = 0.3
BUNDLE = "uk.co.guardian.iphone2"
PRODUCT = "uk.co.guardian.gla.1month"
ROUTE = "/apple/pubsub"
TO_FETCH = "apple-subscriptions-to-fetch"
# What bootstrap.apple_emulator_directory answers for a database in the same directory.
EMULATOR_DIRECTORY = "apple-emulator"


def signed_bodies(chain: CertificateChain, count: int) -> Iterator[bytes]:
    """``count`` request bodies ``{"signedPayload"}``, each the SUBSCRIBED notification of a new
    subscription: distinct original transaction ids and notification UUIDs, all valid."""
    state = AppleStoreState()  # in memory: only the documents to sign are needed
    signer = AppStoreSigner(chain)
    try:
        for _ in range(count):
            step = state.subscribe(bundle_id=BUNDLE, product_id=PRODUCT, environment=SANDBOX)
            subscription = state.get(step.original_transaction_id)
            signed = signed_notification(step, subscription, signer, state.now_ms())
            yield json.dumps({"signedPayload": signed}, separators=(",", ":")).encode()
    finally:
        state.close()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def tampered(body: bytes) -> bytes:
    """``body`` with its notification's payload changed and the signature kept: a well-formed JWS
    whose signature no longer matches, which the service must refuse with 401."""
    header, payload, signature = json.loads(body)["signedPayload"].split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["data"]["status"] = 2  # claim the subscription expired
    forged = ".".join([header, _b64url(json.dumps(decoded).encode()), signature])
    return json.dumps({"signedPayload": forged}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class VerifyFigures:
    notifications: int
    per_second: float
    body_bytes: int
    jws_parses_per_notification: float
    shares: dict[str, float]  # part of verify_notification's time, from cProfile


_Entry = tuple[str, int, str]  # cProfile's (file, line, function)

# Where verify_notification's time goes: a label and the cProfile entries it sums.
_BREAKDOWN: tuple[tuple[str, Callable[[_Entry], bool]], ...] = (
    (
        "PyJWT base64url checks of JWS segments",
        lambda e: e[0].endswith("jwt/api_jws.py") and e[2] == "_decode_base64url_segment",
    ),
    (
        "ECDSA P-256 signature checks",
        lambda e: e[2].startswith("<method 'verify' of") and "ECPublicKey" in e[2],
    ),
    (
        "certificate chain (cached)",
        lambda e: e[0].endswith("supporterflow/adapters/apple.py") and e[2] == "verify_chain",
    ),
    ("library models (cattrs)", lambda e: e[0].endswith("cattrs/converters.py") and e[2] == "structure"),
)


def _profile_shares(profile: cProfile.Profile, count: int) -> tuple[dict[str, float], float]:
    """The share of ``verify_notification``'s time spent in each part of ``_BREAKDOWN``, and how
    many times PyJWT parsed a JWS per notification."""
    stats: dict[_Entry, tuple[int, int, float, float, Any]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]

    def spent(wanted: Callable[[_Entry], bool]) -> float:
        return sum(cumulative for entry, (_, _, _, cumulative, _) in stats.items() if wanted(entry))

    total = spent(
        lambda e: e[0].endswith("supporterflow/adapters/apple.py") and e[2] == "verify_notification"
    )
    shares = {label: spent(wanted) / total if total else 0.0 for label, wanted in _BREAKDOWN}
    parses = sum(
        calls
        for entry, (_, calls, *_) in stats.items()
        if entry[0].endswith("jwt/api_jws.py") and entry[2] == "_load"
    )
    return shares, parses / count


def measure_verify(chain: CertificateChain, count: int) -> VerifyFigures:
    """``verify_notification`` in this process: timed on ``count`` distinct notifications, then
    profiled on ``count`` others."""
    verifier = AppleSignedData([chain.root_der], [BUNDLE], SANDBOX)
    bodies = list(signed_bodies(chain, 2 * count + 1))
    payloads = [json.loads(body)["signedPayload"] for body in bodies]
    verifier.verify_notification(payloads.pop())  # the chain cache, filled once as in the server
    timed, profiled = payloads[:count], payloads[count:]
    started = time.perf_counter()
    for payload in timed:
        verifier.verify_notification(payload)
    seconds = time.perf_counter() - started
    profile = cProfile.Profile()
    profile.enable()
    for payload in profiled:
        verifier.verify_notification(payload)
    profile.disable()
    shares, parses = _profile_shares(profile, count)
    return VerifyFigures(count, count / seconds, len(bodies[0]), parses, shares)


EXPECTED_CHECKS = {"tampered": 401, "valid": 200, "valid again": 200}


def main(argv: list[str] | None = None) -> int:
    options = parse_options("python -m benchmarks.apple_ingest", __doc__, argv)
    count = options.count
    verify_count = 200 if options.quick else 500
    print_header(count)

    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        # The directory the server's in-process App Store emulator uses: its root is the one the
        # server trusts, so what this chain signs verifies there.
        chain = CertificateChain.load_or_create(directory / EMULATOR_DIRECTORY)
        started = time.perf_counter()
        bodies_file = directory / "bodies.jsonl"
        # One generator for all: each subscription it makes has a new original transaction id.
        bodies = signed_bodies(chain, count + 2)
        extra = [next(bodies), next(bodies)]
        written = write_bodies(bodies_file, bodies)
        print(
            f"signed {written:,} distinct notifications in {time.perf_counter() - started:.1f} s "
            f"({bodies_file.stat().st_size / written:,.0f} bytes per request body)"
        )
        checks = {
            "tampered": (tampered(extra[0]), JSON_HEADERS),
            "valid": (extra[1], JSON_HEADERS),
            "valid again": (extra[1], JSON_HEADERS),
        }

        baseline = measure_bare_route(options)
        run = measure_ingest(directory, ROUTE, TO_FETCH, bodies_file, JSON_HEADERS, checks, options)
    verify = measure_verify(chain, verify_count)

    accepted = print_http("apple_ingest", "POST /apple/pubsub (V2)", baseline, run, options, EXPECTED_CHECKS)
    print(
        f"in process (no HTTP)    : AppleSignedData.verify_notification {verify.per_second:,.0f}/s "
        f"({1e6 / verify.per_second:,.0f} us each, {verify.notifications} distinct notifications of "
        f"{verify.body_bytes:,} bytes, one core); {verify.jws_parses_per_notification:.0f} JWS parses "
        "per notification (3 JWS)"
    )
    for label, share in verify.shares.items():
        print(f"  {label:<40} {share:6.1%} of verify_notification (cProfile)")

    ratio, problems = print_verdict("apple_ingest", TARGET, baseline, run, EXPECTED_CHECKS, accepted)
    data = figures(options, baseline, run, ratio, accepted, problems, verify=asdict(verify))
    write_json(options.json, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
