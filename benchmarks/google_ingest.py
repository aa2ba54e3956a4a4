"""Accepted Google Play notifications (authenticated Pub/Sub pushes) per second over HTTP, as a
ratio to the bare-route baseline.

Why: ``POST /google/pubsub`` with a Pub/Sub push envelope checks the OIDC token of
``Authorization: Bearer`` (an RS256 signature against Google's push certificates, the audience,
the issuer and the push service account), decodes the Real-time developer notification inside,
and commits the event row and its fetch reference before it answers (no Google API call: the
fetch that follows does that); this shows what that costs next to the cheapest possible route on
the same server (``benchmarks.http_baseline``), measured in the same run. The real
``supporterflow serve`` runs on a fresh database with the in-process emulators
(``SF_EMULATORS=on``): it trusts the push key of the Play emulator kept beside the database, in
``google-emulator/``, which this benchmark creates first and signs with, for the local profile's
audience. It has the service's tables and queues but no consumers
(``benchmarks.topologies:INGEST_ONLY``), so only acceptance is measured.

Every request is distinct and valid: N SUBSCRIPTION_PURCHASED notifications of N distinct
purchases (each its own ``purchaseToken`` and Pub/Sub ``messageId``), made before the run and each
sent once (``benchmarks.loadgen`` with a bodies file): a repeated body would only measure the
duplicate path. All carry the same OIDC token, as a push subscription's do for the token's hour.
Before the load a push with a forged token must get 401 (the signature really is checked) and a
valid one 200, twice (the retry is not stored again); after it, the stored events and queued
fetches must number the 200s.

An in-process figure follows (no HTTP, no database): ``PushTokenVerifier.verify``, ``parse_push``
and ``to_google_event`` per second on distinct pushes, with a cProfile breakdown of where their
time goes.

    python -m benchmarks.google_ingest [--quick] [--json PATH]
"""

from __future__ import annotations

import asyncio
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

from cryptography.hazmat.primitives.asymmetric import rsa

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
from supporterflow.adapters.google import PushTokenVerifier
from supporterflow.adapters.outbound import AsgiTransport
from supporterflow.bootstrap import LOCAL_PUSH_AUDIENCE
from supporterflow.domain.subscriptions.google import fetch_reference, parse_push, to_google_event
from supporterflow.emulators.google.app import CERTS_PATH, create_play_app
from supporterflow.emulators.google.oauth import ServiceAccount
from supporterflow.emulators.google.push import DEFAULT_PUSH_EMAIL, PushSigner
from supporterflow.emulators.google.sender import notification_body
from supporterflow.emulators.google.store import GooglePlayState

TARGET = 0.4
PACKAGE = "com.guardian"
PRODUCT = "guardian.subscription.month.meteredoffer"
ROUTE = "/google/pubsub"
TO_FETCH = "google-subscriptions-to-fetch"
# Default notifications of a full and a --quick run: each is sent once, and a process accepts a
# few thousand a second, so enough for the 11 s (--quick 4 s) of load.
COUNTS = (30000, 8000)
# What bootstrap.google_emulator_directory answers for a database in the same directory.
EMULATOR_DIRECTORY = "google-emulator"
EXPECTED_CHECKS = {"forged token": 401, "valid": 200, "valid again": 200}


def push_bodies(count: int) -> Iterator[bytes]:
    """``count`` push bodies, each the SUBSCRIPTION_PURCHASED notification of a new purchase:
    distinct purchase tokens and message ids."""
    state = GooglePlayState()  # in memory: only the notifications are needed (ingest calls no API)
    try:
        for _ in range(count):
            step = state.purchase(PACKAGE, PRODUCT)
            yield json.dumps(notification_body(step, state), separators=(",", ":")).encode()
    finally:
        state.close()


def push_headers(token: str) -> dict[str, str]:
    return {**JSON_HEADERS, "authorization": f"Bearer {token}"}


def forged_token(signer: PushSigner) -> str:
    """A token with every claim right and the published key id, signed with another key: the
    service must refuse it with 401."""
    return signer.token(LOCAL_PUSH_AUDIENCE, signing_key=rsa.generate_private_key(65537, 2048))


@dataclass(frozen=True)
class AcceptFigures:
    pushes: int
    body_bytes: int
    per_second: dict[str, float]  # verify, parse_push, to_google_event, and all of them
    shares: dict[str, float]  # part of their time, from cProfile


_Entry = tuple[str, int, str]  # cProfile's (file, line, function)

# Where the time of accepting a push goes (without HTTP and the database): a label and the
# cProfile entries it sums.
_BREAKDOWN: tuple[tuple[str, Callable[[_Entry], bool]], ...] = (
    (
        "RSA-2048 signature check",
        lambda e: e[2].startswith("<method 'verify' of") and "RSAPublicKey" in e[2],
    ),
    (
        "push certificate parsed (PEM, each push)",
        lambda e: e[0].endswith("google/auth/crypt/_cryptography_rsa.py") and e[2] == "from_string",
    ),
    (
        "token segments decoded (base64, JSON)",
        lambda e: e[0].endswith("google/auth/jwt.py") and e[2] == "_unverified_decode",
    ),
    ("PushTokenVerifier.verify (all)", lambda e: e[0].endswith("adapters/google.py") and e[2] == "verify"),
    ("json.loads of the body", lambda e: e[0].endswith("benchmarks/google_ingest.py") and e[2] == "_load"),
    (
        "parse_push",
        lambda e: e[0].endswith("domain/subscriptions/google.py") and e[2] == "parse_push",
    ),
    (
        "to_google_event + fetch_reference",
        lambda e: (
            e[0].endswith("domain/subscriptions/google.py") and e[2] in ("to_google_event", "fetch_reference")
        ),
    ),
)


def _load(body: bytes) -> Any:
    return json.loads(body)


async def _accept(verifier: PushTokenVerifier, authorization: str, body: bytes) -> None:
    """What the route does with a push, but the HTTP and the database."""
    await verifier.verify(authorization)
    message = parse_push(_load(body))
    to_google_event(message, free_trial=None)
    fetch_reference(message)


def _profile_shares(profile: cProfile.Profile) -> dict[str, float]:
    stats: dict[_Entry, tuple[int, int, float, float, Any]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]

    def spent(wanted: Callable[[_Entry], bool]) -> float:
        return sum(cumulative for entry, (_, _, _, cumulative, _) in stats.items() if wanted(entry))

    total = spent(lambda e: e[0].endswith("benchmarks/google_ingest.py") and e[2] == "_accept")
    return {label: spent(wanted) / total if total else 0.0 for label, wanted in _BREAKDOWN}


async def _measure_accept(signer: PushSigner, count: int) -> AcceptFigures:
    state = GooglePlayState()
    app = create_play_app(state, service_account=ServiceAccount.generate(), push_signer=signer)
    transport = AsgiTransport(app, "play")
    verifier = PushTokenVerifier(
        transport, CERTS_PATH, audience=LOCAL_PUSH_AUDIENCE, service_account=DEFAULT_PUSH_EMAIL
    )
    authorization = f"Bearer {signer.token(LOCAL_PUSH_AUDIENCE)}"
    bodies = list(push_bodies(2 * count))
    timed, profiled = bodies[:count], bodies[count:]
    await verifier.verify(authorization)  # the certificates, fetched once as in the server
    documents = [json.loads(body) for body in timed]
    messages = [parse_push(document) for document in documents]

    def rate(seconds: float) -> float:
        return count / seconds if seconds else 0.0

    per_second: dict[str, float] = {}
    started = time.perf_counter()
    for _ in timed:
        await verifier.verify(authorization)
    per_second["PushTokenVerifier.verify"] = rate(time.perf_counter() - started)
    started = time.perf_counter()
    for body in timed:
        parse_push(json.loads(body))
    per_second["json.loads + parse_push"] = rate(time.perf_counter() - started)
    started = time.perf_counter()
    for message in messages:
        to_google_event(message, free_trial=None)
        fetch_reference(message)
    per_second["to_google_event + fetch_reference"] = rate(time.perf_counter() - started)
    started = time.perf_counter()
    for body in timed:
        await _accept(verifier, authorization, body)
    per_second["all of them"] = rate(time.perf_counter() - started)

    profile = cProfile.Profile()
    profile.enable()
    for body in profiled:
        await _accept(verifier, authorization, body)
    profile.disable()
    await transport.aclose()
    state.close()
    return AcceptFigures(count, len(bodies[0]), per_second, _profile_shares(profile))


def measure_accept(signer: PushSigner, count: int) -> AcceptFigures:
    """The route's work without HTTP and the database, in this process: timed on ``count``
    distinct pushes, then profiled on ``count`` others."""
    return asyncio.run(_measure_accept(signer, count))


def main(argv: list[str] | None = None) -> int:
    options = parse_options("python -m benchmarks.google_ingest", __doc__, argv, counts=COUNTS)
    count = options.count
    accept_count = 500 if options.quick else 2000
    print_header(count)

    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        # The directory of the server's in-process Play emulator: the push key it publishes is
        # the one this benchmark signs with, so the server accepts these tokens.
        signer = PushSigner.load_or_create(directory / EMULATOR_DIRECTORY)
        headers = push_headers(signer.token(LOCAL_PUSH_AUDIENCE))
        started = time.perf_counter()
        bodies_file = directory / "bodies.jsonl"
        # One generator for all: each purchase it makes has a new token and message id.
        bodies = push_bodies(count + 1)
        valid = next(bodies)
        written = write_bodies(bodies_file, bodies)
        print(
            f"made {written:,} distinct pushes in {time.perf_counter() - started:.1f} s "
            f"({bodies_file.stat().st_size / written:,.0f} bytes per request body, "
            f"{len(headers['authorization']):,}-byte Authorization header)"
        )
        checks = {
            "forged token": (valid, push_headers(forged_token(signer))),
            "valid": (valid, headers),
            "valid again": (valid, headers),
        }

        baseline = measure_bare_route(options)
        run = measure_ingest(directory, ROUTE, TO_FETCH, bodies_file, headers, checks, options)
    accept = measure_accept(signer, accept_count)

    accepted = print_http(
        "google_ingest", "POST /google/pubsub", baseline, run, options, EXPECTED_CHECKS, "purchases"
    )
    all_of_them = accept.per_second["all of them"]
    print(
        f"in process (no HTTP)    : {all_of_them:,.0f} pushes/s verified, parsed and made events "
        f"({1e6 / all_of_them:,.0f} us each, {accept.pushes} distinct pushes of "
        f"{accept.body_bytes:,} bytes, one core; no database)"
    )
    for label, rate in accept.per_second.items():
        if label != "all of them":
            print(f"  {label:<40} {rate:9,.0f}/s ({1e6 / rate:,.1f} us each)")
    for label, share in accept.shares.items():
        print(f"  {label:<40} {share:6.1%} of the whole (cProfile)")

    ratio, problems = print_verdict("google_ingest", TARGET, baseline, run, EXPECTED_CHECKS, accepted)
    write_json(
        options.json, figures(options, baseline, run, ratio, accepted, problems, accept=asdict(accept))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
