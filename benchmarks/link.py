"""Links per second through ``POST /apple/linkToSubscriptions``, as a ratio to the bare-route baseline.

Why: the app calls the route with the user's access token and the purchases it holds; the server
checks the token (``OidcUserTokens``: an RS256 signature, issuer, audience, expiry, scope, user id),
validates the body, writes each link once (a conditional put) and batch-gets the Subscription rows
to queue a fetch of the unknown ones. This shows what that costs next to the cheapest possible
route on the same server (``benchmarks.http_baseline``), measured in the same run.

The real ``supporterflow serve`` runs on the database ``benchmarks.user_subscriptions`` seeds
(100,000 subscriptions, 20,000 users x 5 links) with ``benchmarks.topologies:USERS_ONLY`` (no
consumer, no stream subscriber: the links written trigger nothing) and the in-process emulators:
the user's token is signed with the OIDC emulator's key, created first in ``oidc-emulator/``
beside the database. Every request carries the same valid token (one user, one session), so after
the first request the server's verified-token cache answers the token check; the in-process figure
at the end says what that saves. Every body is distinct: one ``ios`` subscription per request, a
stored subscription not yet linked to this user (so each request writes one new link and queues
nothing), each sent once (a bodies file). Before the load a token signed with another key (same
key id, every claim right) must get 401 and a valid request 200, twice (the second links nothing
new). After it the server's SQLite must hold one link of the user per 200 and no queued fetch.

    python -m benchmarks.link [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from benchmarks.ingest_runner import (
    JSON_HEADERS,
    IngestOptions,
    cores,
    measure_bare_route,
    post,
    write_json,
)
from benchmarks.loadgen import run_load_in_subprocess, write_bodies
from benchmarks.servers import HOST, cpu_seconds
from benchmarks.user_subscriptions import DATABASE, SUBSCRIPTIONS, oidc_issuer, seed, serving, subscription_id
from supporterflow.adapters.oidc import OidcUserTokens
from supporterflow.adapters.outbound import AsgiTransport
from supporterflow.emulators.oidc import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    DEFAULT_SCOPE,
    DEFAULT_USER_ID,
    JWKS_PATH,
    USER_ID_CLAIM,
    OidcIssuer,
    create_oidc_app,
)

TARGET = 0.3
ROUTE = "/apple/linkToSubscriptions"
TO_FETCH = "apple-subscriptions-to-fetch"
# A receipt of a usual size: never sent anywhere, the subscriptions are stored already.
RECEIPT = base64.b64encode(bytes(range(256)) * 3).decode()


def link_body(number: int) -> bytes:
    """A request linking the ``number``-th seeded subscription."""
    entry = {"receipt": RECEIPT, "originalTransactionId": subscription_id(number)}
    return json.dumps({"platform": "ios", "subscriptions": [entry]}, separators=(",", ":")).encode()


def _stored(database: Path) -> tuple[int, int]:
    """(links of the token's user, queued App Store fetches), read once the server has stopped."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        (links,) = connection.execute(
            "SELECT COUNT(*) FROM t_user_subscriptions WHERE pk = ?", (DEFAULT_USER_ID,)
        ).fetchone()
        (queued,) = connection.execute(
            "SELECT COUNT(*) FROM queue_messages WHERE queue = ?", (TO_FETCH,)
        ).fetchone()
    return int(links), int(queued)


@dataclass(frozen=True)
class TokenFigures:
    """``OidcUserTokens.user_id`` in this process: distinct tokens each checked once (the signature
    verified), and one token checked again and again (the verified-token cache)."""

    verified_per_second: float
    cached_per_second: float


async def _token_figures(issuer: OidcIssuer, distinct: int, repeats: int) -> TokenFigures:
    transport = AsgiTransport(create_oidc_app(issuer), "oidc")
    tokens = OidcUserTokens(
        transport,
        JWKS_PATH,
        issuer=DEFAULT_ISSUER,
        audience=DEFAULT_AUDIENCE,
        scope=DEFAULT_SCOPE,
        user_id_claim=USER_ID_CLAIM,
    )
    try:
        headers = [f"Bearer {issuer.token()}" for _ in range(distinct + 1)]
        await tokens.user_id(headers.pop())  # the keys, fetched once as in the server
        started = time.perf_counter()
        for header in headers:
            await tokens.user_id(header)
        verified = distinct / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(repeats):
            await tokens.user_id(headers[0])
        cached = repeats / (time.perf_counter() - started)
    finally:
        await transport.aclose()
    return TokenFigures(verified, cached)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.link", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s of load instead of 10 s")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--requests",
        type=int,
        help="distinct link requests for the run (default 40,000; --quick 15,000); the run stops "
        "early if they are all answered before its end",
    )
    args = parser.parse_args(argv)
    duration_s, warmup_s = (3.0, 1.0) if args.quick else (10.0, 1.0)
    count = min(args.requests or (15_000 if args.quick else 40_000), SUBSCRIPTIONS - 1)
    options = IngestOptions(args.quick, args.json, args.connections, count, duration_s, warmup_s)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, {count:,} link requests")

    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        issuer = oidc_issuer(directory)
        seeded = seed(directory)
        print(
            f"seeded {seeded.subscriptions:,} subscriptions + {seeded.links:,} links "
            f"in {seeded.seconds:.1f} s; "
            f"requests: one stored, not yet linked ios subscription each ({len(link_body(0)):,} bytes), "
            "one token for all"
        )
        bodies_file = directory / "bodies.jsonl"
        write_bodies(bodies_file, (link_body(n) for n in range(1, count + 1)))
        token = issuer.token()
        headers = {**JSON_HEADERS, "authorization": f"Bearer {token}"}
        forged = issuer.token(signing_key=rsa.generate_private_key(65537, 2048))
        checks_sent = {
            "forged token": (link_body(0), {**JSON_HEADERS, "authorization": f"Bearer {forged}"}),
            "valid": (link_body(0), headers),
            "valid again": (link_body(0), headers),
        }

        baseline = measure_bare_route(options)
        with serving(directory) as (pid, port):
            checks = {check: post(port, ROUTE, body, sent) for check, (body, sent) in checks_sent.items()}
            cpu_before = cpu_seconds(pid)
            load = run_load_in_subprocess(
                HOST,
                port,
                "POST",
                ROUTE,
                headers=headers,
                connections=options.connections,
                duration_s=duration_s,
                warmup_s=warmup_s,
                bodies_file=bodies_file,
            )
            cpu_after = cpu_seconds(pid)
        server_cpu = None
        if cpu_before is not None and cpu_after is not None:
            server_cpu = (cpu_after - cpu_before) / (warmup_s + load.seconds)
        links, queued = _stored(directory / DATABASE)
        token_figures = asyncio.run(_token_figures(issuer, 200 if args.quick else 500, 20_000))

    base = baseline.load
    print(
        f"{'baseline GET /':<31}: {base.rps:,.0f} req/s, p50 {base.p50_ms:.2f} ms, "
        f"p99 {base.p99_ms:.2f} ms, server cpu {cores(baseline.server_cpu)}"
    )
    print(
        f"{'POST ' + ROUTE:<31}: {load.rps:,.0f} links/s, p50 {load.p50_ms:.2f} ms, "
        f"p99 {load.p99_ms:.2f} ms, "
        f"{load.errors} errors, statuses {load.status_counts}, server cpu {cores(server_cpu)}, "
        f"client cpu {load.client_cpu:.2f}"
    )
    if load.exhausted:
        print(
            f"link: every request was sent after {load.seconds:.1f} s of the {duration_s:g} s window; "
            "the rate is over those seconds (more with --requests)"
        )
    expected_checks = {"forged token": 401, "valid": 200, "valid again": 200}
    print(
        "before the load                : "
        + ", ".join(f"{check} -> {status}" for check, status in checks.items())
        + " (expected 401, 200, 200)"
    )
    accepted = load.total_status_counts.get(200, 0) + 1  # the load's and the first valid check's
    print(
        f"stored                         : {links:,} links of the token's user, {queued:,} fetches queued, "
        f"for {accepted:,} links answered 200 (all statuses of the run: {load.total_status_counts})"
    )
    print(
        f"in process (no HTTP)           : OidcUserTokens.user_id {token_figures.verified_per_second:,.0f}/s "
        f"on distinct tokens (signature checked, {1e6 / token_figures.verified_per_second:,.0f} us each), "
        f"{token_figures.cached_per_second:,.0f}/s on the same token (verified-token cache, "
        f"{1e6 / token_figures.cached_per_second:,.1f} us each)"
    )
    ratio = load.rps / base.rps if base.rps else 0.0
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"link: {ratio:.2f}x http_baseline ({load.rps:,.0f} links/s; target >= {TARGET}x: {verdict})")
    problems = []
    if checks != expected_checks:
        problems.append(f"the checks before the load answered {checks}, not 401, 200, 200")
    if load.status_counts.get(200, 0) != sum(load.status_counts.values()):
        problems.append("not every request was answered 200; this is not a link rate")
    if links != accepted or queued:
        problems.append("the links stored or the fetches queued do not match the links answered 200")
    for problem in problems:
        print(f"link: WARNING: {problem}")
    write_json(
        args.json,
        {
            "requests": count,
            "seeded": asdict(seeded),
            "baseline_rps": base.rps,
            "baseline_server_cpu": baseline.server_cpu,
            "link": asdict(load),
            "link_rps": load.rps,
            "link_server_cpu": server_cpu,
            "ratio": ratio,
            "checks": checks,
            "stored_links": links,
            "queued_fetches": queued,
            "accepted": accepted,
            "tokens": asdict(token_figures),
            "warnings": problems,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
