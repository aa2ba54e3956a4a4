"""Supporter event validation throughput: the producer's check of one request, on one core.

Why: every supporter event is validated on arrival (``ProducerRequest`` with the context
``partial: true``) and its identity hashes are then completed. The original Node.js service
rebuilds its yup schemas on every call and manages about 270 validations/s; the target here is
13,000/s for validation plus identity hash completion, in one process on a single core.

Measured: the DEFAULT ``ProducerRequest`` mock (one e-mail and one mobile identity, a
``user:create`` and a ``transaction:execute`` action), validated in a loop for a fixed time
(best of 5 rounds; ``--quick``: best of 3 shorter rounds). Each iteration is
``validate(...)`` followed by ``complete(value)``: ``complete_identity_hashes`` from
``supporterflow.domain.supporters.identity_hash`` (with a benchmark key) when that module
exists, else nothing, and the output says which. Completion writes the hashes into the
identities in place and the validated value shares unchanged containers with the input (as
yup's does), so every iteration gets its own freshly parsed body, as a request would; parsing
is done before each timed batch and not counted.

    python -m benchmarks.supporter_validation [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from supporterflow.domain.supporters import PRODUCER_REQUEST, mocks, validate

TARGET_PER_S = 13_000.0
ORIGINAL_PER_S = 270.0
NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
BATCH = 200
BENCHMARK_KEY = b"benchmark-only-identity-hash-key"


@dataclass(frozen=True, slots=True)
class Figure:
    loop: str
    iterations: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.iterations / self.seconds


def completion() -> tuple[Callable[[Any], object] | None, str]:
    """The identity hash completion step, if another module provides it yet."""
    try:
        module = importlib.import_module("supporterflow.domain.supporters.identity_hash")
    except ImportError:
        return None, "validation alone (supporterflow.domain.supporters.identity_hash is not there yet)"
    complete = getattr(module, "complete_identity_hashes", None)
    if complete is None:
        return None, "validation alone (identity_hash has no complete_identity_hashes yet)"
    if "key" in inspect.signature(complete).parameters:
        return (lambda value: complete(value, key=BENCHMARK_KEY)), "validation + complete_identity_hashes"
    return complete, "validation + complete_identity_hashes"


def measure(round_s: float, rounds: int, complete: Callable[[Any], object] | None) -> tuple[int, float]:
    """Best (iterations, seconds) over ``rounds`` rounds of about ``round_s`` of timed work each."""
    raw = json.dumps(mocks.producer_requests()["DEFAULT"])
    context = {"partial": True, "now": NOW, "new_uuid": lambda: "00000000-0000-4000-8000-000000000000"}
    result = validate(PRODUCER_REQUEST, json.loads(raw), context=context)
    if not result.valid:
        raise SystemExit(f"the DEFAULT mock no longer validates: {result.errors}")
    best: tuple[int, float] | None = None
    for _ in range(rounds):
        iterations, elapsed = 0, 0.0
        while elapsed < round_s:
            bodies = [json.loads(raw) for _ in range(BATCH)]
            started = time.perf_counter()
            for body in bodies:
                value = validate(PRODUCER_REQUEST, body, context=context).value
                if complete is not None:
                    complete(value)
            elapsed += time.perf_counter() - started
            iterations += BATCH
        if best is None or iterations / elapsed > best[0] / best[1]:
            best = (iterations, elapsed)
    assert best is not None
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.supporter_validation", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 0.5 s instead of 5 of 2 s")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figure as JSON")
    args = parser.parse_args(argv)
    round_s, rounds = (0.5, 3) if args.quick else (2.0, 5)

    complete, loop = completion()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"loop: {loop}; best of {rounds} rounds of {round_s:g} s")
    iterations, seconds = measure(round_s, rounds, complete)
    figure = Figure(loop, iterations, seconds)
    rate = figure.per_second
    print(f"{iterations:,} requests in {seconds:.2f} s: {rate:,.0f}/s ({1e6 / rate:.1f} us each)")
    verdict = "met" if rate >= TARGET_PER_S else "MISSED"
    headline = f"supporter_validation: {rate:,.0f}/s ="
    print(f"{headline} {rate / TARGET_PER_S:.2f}x target {TARGET_PER_S:,.0f}/s ({verdict})")
    print(f"{headline} {rate / ORIGINAL_PER_S:.0f}x the original's ~{ORIGINAL_PER_S:,.0f}/s")
    if args.json:
        report = {**asdict(figure), "per_second": rate, "target": TARGET_PER_S, "original": ORIGINAL_PER_S}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
