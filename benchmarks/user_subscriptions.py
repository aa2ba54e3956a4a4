"""Latency of ``GET /user/subscriptions/{userId}`` at a fixed 300 requests/s, against the bare route.

Why: the route is read by server-side callers (the soft opt-in consent setter, Salesforce) with an
API key of ``SF_USER_API_KEYS``, one user at a time, at a steady rate rather than as fast as
possible; what matters is how long each answer takes (p50, p99), not how many the server could
answer. Each request queries the user's links, batch-gets their Subscription rows, sorts them and
answers JSON: this shows what that costs next to the cheapest possible route on the same server
(``benchmarks.http_baseline``), loaded at the same rate in the same run.

The real ``supporterflow serve`` runs on a database seeded before it starts with 100,000
subscriptions and 20,000 users linked to 5 of them each (the tables' own ``batch_write``,
``seed``), with only those tables and the App Store fetch queue and without any consumer or stream
subscriber (``benchmarks.topologies:USERS_ONLY``), so nothing runs beside the reads. The load is
open loop (``benchmarks.loadgen`` with ``rate``): requests are scheduled at 300/s whatever the
server answers, each to the next of the 20,000 users in a shuffled order, and each latency runs
from the scheduled time, so a server falling behind shows as latency. Before the load, the API key
must read a user's 5 subscriptions, a wrong key must get 401 and a user's access token (minted
with the in-process OIDC emulator's key) must read that user's 5.

    python -m benchmarks.user_subscriptions [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from benchmarks.http_baseline import _running as running_baseline
from benchmarks.ingest_runner import cores, write_json
from benchmarks.loadgen import LoadResult, run_load_in_subprocess, write_paths
from benchmarks.servers import HOST, cpu_seconds, free_port, running
from benchmarks.topologies import USERS_ONLY
from supporterflow.bootstrap import bootstrap
from supporterflow.config import Settings
from supporterflow.emulators.oidc import DEFAULT_ISSUER, USER_ID_CLAIM, OidcIssuer
from supporterflow.logs import configure_logging

TARGET = 3.0  # p99 at most this many times the bare route's p99
RATE = 300.0
SUBSCRIPTIONS = 100_000
USERS = 20_000
PER_USER = 5
API_KEY = "bench-user-api-key"
IDENTITY_KEY = "bench-identity-key"
DATABASE = "bench.sqlite3"
# What bootstrap's oidc_emulator_directory answers for a database in the same directory.
OIDC_DIRECTORY = "oidc-emulator"
ROUTE = "/user/subscriptions/{}"
# Rows per batch_write call; several calls in flight let the writer thread commit them together.
_SEED_BATCH = 4000
_SEED_IN_FLIGHT = 4


def subscription_id(number: int) -> str:
    """The ``originalTransactionId`` of the ``number``-th seeded subscription."""
    return f"{200000000000000 + number}"


def user_id(number: int) -> str:
    """The identity id of the ``number``-th seeded user."""
    return f"{300000000 + number}"


def subscription_row(number: int) -> dict[str, Any]:
    """A stored App Store subscription as ``apple_update`` writes it (ends spread over two
    years, so some are valid, some in their grace period, some ended), with a transaction of the
    usual size in its ``applePayload``."""
    sid = subscription_id(number)
    month, day = number % 24, number % 28 + 1  # months since January 2023
    start = f"{2023 + month // 12}-{month % 12 + 1:02d}-{day:02d}T10:00:00.000Z"
    end = f"{2023 + (month + 1) // 12}-{(month + 1) % 12 + 1:02d}-{day:02d}T10:00:00.000Z"
    transaction = {
        "originalTransactionId": sid,
        "transactionId": f"{int(sid) + 7}",
        "bundleId": "uk.co.guardian.iphone2",
        "productId": "uk.co.guardian.gla.1month",
        "purchaseDate": 1700000000000 + number,
        "originalPurchaseDate": 1700000000000 + number,
        "expiresDate": 1702592000000 + number,
        "quantity": 1,
        "type": "Auto-Renewable Subscription",
        "inAppOwnershipType": "PURCHASED",
        "signedDate": 1700000000500 + number,
        "environment": "Sandbox",
        "transactionReason": "PURCHASE",
        "storefront": "GBR",
        "storefrontId": "143444",
        "price": 11990,
        "currency": "GBP",
    }
    return {
        "subscriptionId": sid,
        "startTimestamp": start,
        "endTimestamp": end,
        "autoRenewing": number % 3 != 0,
        "productId": "uk.co.guardian.gla.1month",
        "platform": "ios",
        "freeTrial": False,
        "billingPeriod": "P1M",
        "googlePayload": None,
        "applePayload": {
            "status": 1,
            "environment": "Sandbox",
            "bundleId": "uk.co.guardian.iphone2",
            "transactionInfo": transaction,
            "renewalInfo": {"autoRenewStatus": 1, "productId": "uk.co.guardian.gla.1month"},
        },
        "ttl": 1800000000 + number,
        "status": "active",
    }


def link_row(user: int, number: int) -> dict[str, Any]:
    return {
        "userId": user_id(user),
        "subscriptionId": subscription_id(number),
        "creationTimestamp": "2024-01-01T00:00:00.000Z",
    }


@dataclass(frozen=True)
class Seeded:
    subscriptions: int
    links: int
    seconds: float


def seed_settings(directory: Path) -> Settings:
    """The settings the seeding process opens the server's database with (``NORMAL``: durability
    does not matter before the server starts)."""
    return Settings(
        database=directory / DATABASE,
        object_store_dir=directory / "objects",
        identity_hash_key=SecretStr(IDENTITY_KEY),
        sqlite_synchronous="NORMAL",
        log_level="warning",
    )


async def _write_all(table: Any, rows: list[dict[str, Any]]) -> None:
    """``rows`` through ``table.batch_write``, ``_SEED_IN_FLIGHT`` batches at a time."""
    batches = [rows[start : start + _SEED_BATCH] for start in range(0, len(rows), _SEED_BATCH)]
    for start in range(0, len(batches), _SEED_IN_FLIGHT):
        await asyncio.gather(*(table.batch_write(puts=b) for b in batches[start : start + _SEED_IN_FLIGHT]))


async def _seed(directory: Path, subscriptions: int, users: int, per_user: int) -> None:
    container = bootstrap(seed_settings(directory), topology=USERS_ONLY).open()
    try:
        await _write_all(
            container.tables["subscriptions"], [subscription_row(n) for n in range(subscriptions)]
        )
        links = [
            link_row(u, (u * per_user + k) % subscriptions) for u in range(users) for k in range(per_user)
        ]
        await _write_all(container.tables["user-subscriptions"], links)
    finally:
        await container.aclose()


def seed(
    directory: Path, subscriptions: int = SUBSCRIPTIONS, users: int = USERS, per_user: int = PER_USER
) -> Seeded:
    """Write ``subscriptions`` Subscription rows and ``users`` x ``per_user`` links (user ``u``:
    subscriptions ``u * per_user`` to ``u * per_user + per_user - 1``) into the database of
    ``directory``, before the server starts."""
    configure_logging("warning", "json")
    started = time.perf_counter()
    asyncio.run(_seed(directory, subscriptions, users, per_user))
    return Seeded(subscriptions, users * per_user, time.perf_counter() - started)


def oidc_issuer(directory: Path) -> OidcIssuer:
    """The OIDC emulator's keys the server in ``directory`` will load: tokens it signs verify."""
    return OidcIssuer.load_or_create(directory / OIDC_DIRECTORY, DEFAULT_ISSUER)


@contextlib.contextmanager
def serving(directory: Path) -> Iterator[tuple[int, int]]:
    """``supporterflow serve`` on the database of ``directory`` with ``USERS_ONLY``, the
    in-process emulators and ``API_KEY``; yields ``(pid, port)``."""
    port = free_port()
    env = {
        "SF_DATABASE": str(directory / DATABASE),
        "SF_OBJECT_STORE_DIR": str(directory / "objects"),
        "SF_PORT": str(port),
        "SF_TOPOLOGY": "benchmarks.topologies:USERS_ONLY",
        "SF_EMULATORS": "on",
        "SF_IDENTITY_HASH_KEY": IDENTITY_KEY,
        "SF_ADMIN_API_KEYS": "bench-admin",
        "SF_USER_API_KEYS": API_KEY,
    }
    command = [sys.executable, "-m", "supporterflow.entrypoints.cli", "serve"]
    with running(command, port, "/healthcheck", env) as pid:
        yield pid, port


def request(
    port: int, method: str, path: str, headers: Mapping[str, str], body: bytes = b""
) -> tuple[int, Any]:
    """The status and JSON answer of one request on its own connection."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10.0)
    try:
        connection.request(method, path, body=body or None, headers=dict(headers))
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        connection.close()


@dataclass(frozen=True)
class RateRun:
    load: LoadResult
    server_cpu: float | None  # cores over warm-up plus the window


def measure_at_rate(
    pid: int, port: int, options: Options, paths_file: Path | None, headers: Mapping[str, str]
) -> RateRun:
    cpu_before = cpu_seconds(pid)
    load = run_load_in_subprocess(
        HOST,
        port,
        "GET",
        "/",
        headers=headers,
        connections=options.connections,
        duration_s=options.duration_s,
        warmup_s=options.warmup_s,
        paths_file=paths_file,
        rate=RATE,
    )
    cpu_after = cpu_seconds(pid)
    cpu = None
    if cpu_before is not None and cpu_after is not None:
        cpu = (cpu_after - cpu_before) / (options.warmup_s + options.duration_s)
    return RateRun(load, cpu)


@dataclass(frozen=True)
class Options:
    quick: bool
    json: Path | None
    connections: int
    duration_s: float
    warmup_s: float


def _checks(port: int, issuer: OidcIssuer) -> dict[str, str]:
    """What the route answers before the load: ``check -> "status (n subscriptions)"``."""
    user = user_id(7)
    claims: dict[str, Any] = {USER_ID_CLAIM: user}
    token = issuer.token(**claims)
    sent = {
        "API key": {"authorization": f"Bearer {API_KEY}"},
        "wrong key": {"authorization": "Bearer not-a-key"},
        "user token": {"authorization": f"Bearer {token}"},
    }
    found = {}
    for check, headers in sent.items():
        # The user token reads its own user whatever the path says: ask for another one.
        path = ROUTE.format(user if check != "user token" else user_id(8))
        status, body = request(port, "GET", path, headers)
        count = len(body["subscriptions"]) if status == 200 else None
        found[check] = f"{status}" + ("" if count is None else f" ({count} subscriptions)")
    return found


EXPECTED_CHECKS = {
    "API key": f"200 ({PER_USER} subscriptions)",
    "wrong key": "401",
    "user token": f"200 ({PER_USER} subscriptions)",
}


def _line(label: str, run: RateRun) -> str:
    load = run.load
    return (
        f"{label:<30}: p50 {load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms, {load.requests:,} answers "
        f"({load.rps:,.0f}/s), {load.errors} errors, statuses {load.status_counts}, "
        f"server cpu {cores(run.server_cpu)}, client cpu {load.client_cpu:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.user_subscriptions", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s of load instead of 10 s")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--connections", type=int, default=64, help="the open-loop connection pool")
    args = parser.parse_args(argv)
    duration_s, warmup_s = (3.0, 1.0) if args.quick else (10.0, 1.0)
    options = Options(args.quick, args.json, args.connections, duration_s, warmup_s)
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, {SUBSCRIPTIONS:,} subscriptions, "
        f"{USERS:,} users x {PER_USER} links, {RATE:g} requests/s open loop ({warmup_s:g} s warm-up + "
        f"{duration_s:g} s measured, pool of {options.connections} connections)"
    )
    with running_baseline("uvicorn") as (pid, port):
        baseline = measure_at_rate(pid, port, options, None, {})

    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        issuer = oidc_issuer(directory)
        seeded = seed(directory)
        size = (directory / DATABASE).stat().st_size
        print(
            f"seeded {seeded.subscriptions:,} subscriptions + {seeded.links:,} links in "
            f"{seeded.seconds:.1f} s ({(seeded.subscriptions + seeded.links) / seeded.seconds:,.0f} rows/s, "
            f"database {size / 1e6:,.0f} MB)"
        )
        users = list(range(USERS))
        random.Random(7).shuffle(users)
        paths_file = directory / "paths.txt"
        write_paths(paths_file, (ROUTE.format(user_id(u)) for u in users))
        with serving(directory) as (pid, port):
            checks = _checks(port, issuer)
            run = measure_at_rate(pid, port, options, paths_file, {"authorization": f"Bearer {API_KEY}"})

    print(_line("baseline GET / at 300/s", baseline))
    print(_line("GET /user/subscriptions/{id}", run))
    print(
        "before the load               : "
        + ", ".join(f"{check} -> {status}" for check, status in checks.items())
        + " (expected "
        + ", ".join(EXPECTED_CHECKS.values())
        + ")"
    )
    ratio = run.load.p99_ms / baseline.load.p99_ms if baseline.load.p99_ms else 0.0
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(
        f"user_subscriptions: p99 {run.load.p99_ms:.2f} ms = {ratio:.2f}x http_baseline's p99 "
        f"({baseline.load.p99_ms:.2f} ms), p50 {run.load.p50_ms:.2f} ms, at {RATE:g} requests/s "
        f"(target <= {TARGET:g}x: {verdict})"
    )
    problems = []
    if checks != EXPECTED_CHECKS:
        problems.append(f"the checks before the load answered {checks}")
    for label, result in (("baseline", baseline), ("route", run)):
        if result.load.errors or result.load.status_counts.get(200, 0) != result.load.requests:
            problems.append(f"{label}: {result.load.errors} errors, statuses {result.load.status_counts}")
        expected = RATE * options.duration_s
        if abs(result.load.requests - expected) > 0.02 * expected:
            problems.append(f"{label}: {result.load.requests:,} answers measured, {expected:,.0f} scheduled")
    for problem in problems:
        print(f"user_subscriptions: WARNING: {problem}")
    write_json(
        options.json,
        {
            "rate": RATE,
            "seeded": asdict(seeded),
            "baseline": asdict(baseline.load),
            "baseline_server_cpu": baseline.server_cpu,
            "route": asdict(run.load),
            "route_server_cpu": run.server_cpu,
            "p99_ratio": ratio,
            "checks": checks,
            "warnings": problems,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
