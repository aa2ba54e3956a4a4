"""Export 1,000,000 subscription events to Parquet and NDJSON.gz, against DuckDB.

Builds a SQLite database with the real table layout (the adapter creates it) holding one day of
N subscription-event rows, half App Store V1 events (with receipts, which the export leaves out)
and half Google events, then:

* times DuckDB copying the same SQLite table to Parquet (``COPY (SELECT * FROM sqlite_scan(...))``,
  the yardstick: no JSON decoding, no clean-up, every core it likes);
* runs ``export_subscription_events`` in a child process for Parquet alone, NDJSON.gz alone and
  both at once, each reading the day from one snapshot as the CLI would, and records the child's
  peak RSS after the first 100,000 rows and at the end (and that of the Parquet worker process
  the export starts, at its end).

Prints rows/s per run, the RSS figures, and the ratio of the Parquet export's rate to DuckDB's.
Usage: ``python -m benchmarks.export [--rows N] [--quick] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TARGET = 0.5
RSS_GROWTH_LIMIT_MB = 50
DAY = "2026-12-01"
_CHECKPOINT_ROWS = 100_000


def _events(count: int) -> Any:
    from tests.unit.subscriptions.fixtures import apple_notification

    from supporterflow.domain.subscriptions.apple_v1 import to_dynamo_event

    notification = apple_notification()
    # A receipt of realistic size: the export drops it, the table (and DuckDB's copy) keeps it.
    notification["unified_receipt"]["latest_receipt"] = base64.b64encode(os.urandom(3000)).decode()
    start = datetime(2026, 12, 1, tzinfo=UTC)
    apple = to_dynamo_event(notification, now=start, extra=json.dumps({"guType": "apple-extra", "n": 1}))
    for i in range(count):
        at = start + timedelta(microseconds=i * 80)
        iso = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
        if i % 2:
            item = dict(apple)
            item["subscriptionId"] = f"{100000000000000 + i}"
            item["eventType"] = "DID_RENEW"
        else:
            item = {
                "subscriptionId": f"token-{i:09d}-" + "x" * 120,
                "date": DAY,
                "eventType": "SUBSCRIPTION_RENEWED",
                "platform": "android",
                "appId": "com.guardian",
                "freeTrial": False,
                "googlePayload": {
                    "version": "1.0",
                    "packageName": "com.guardian",
                    "eventTimeMillis": str(int(at.timestamp() * 1000)),
                    "subscriptionNotification": {
                        "version": "1.0",
                        "notificationType": 2,
                        "purchaseToken": f"token-{i:09d}",
                        "subscriptionId": "com.guardian.subscription.monthly.10",
                    },
                },
                "applePayload": None,
                "ttl": 1_900_000_000,
                "promotional_offer_id": None,
                "promotional_offer_name": None,
                "product_id": "com.guardian.subscription.monthly.10",
                "extra": "",
                "messageId": str(i),
            }
        item["timestamp"] = iso
        item["date"] = DAY
        item["timestampAndType"] = f"{iso}|{item['eventType']}"
        yield item


def build(path: Path, count: int) -> float:
    """The database, written with the adapter's own schema and row format; returns its size (MB)."""
    import sqlite3

    from supporterflow.adapters.clock import SystemClock
    from supporterflow.adapters.sqlite.database import Database
    from supporterflow.adapters.sqlite.tables import SqliteTable, _dump
    from supporterflow.topology import SUBSCRIPTION_EVENTS

    database = Database(path, synchronous="NORMAL")
    SqliteTable(database, SUBSCRIPTION_EVENTS, SystemClock())
    database.open().close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    rows: list[tuple[Any, ...]] = []
    for item in _events(count):
        rows.append((item["subscriptionId"], item["timestampAndType"], _dump(item), item["ttl"]))
        if len(rows) == 20_000:
            conn.executemany("INSERT INTO t_subscription_events VALUES (?, ?, ?, ?)", rows)
            rows.clear()
    conn.executemany("INSERT INTO t_subscription_events VALUES (?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.stat().st_size / 1e6


def duckdb_copy(path: Path, out: Path) -> float:
    import duckdb
    from duckdb_extensions import extension_importer

    extension_importer.import_extension("sqlite_scanner")
    connection = duckdb.connect()
    connection.execute("LOAD sqlite_scanner")
    started = time.perf_counter()
    connection.execute(
        f"COPY (SELECT * FROM sqlite_scan('{path}', 't_subscription_events')) TO '{out}' (FORMAT parquet)"
    )
    return time.perf_counter() - started


def _peak_rss_mb() -> float:
    """This process image's peak RSS (``VmHWM``). Not ``ru_maxrss``: Linux carries that across
    ``exec``, so a child started from this big parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(database: Path, out: Path, formats: list[str]) -> None:
    """One export, as the CLI runs it; prints its figures as JSON."""
    from supporterflow.bootstrap import bootstrap
    from supporterflow.config import Settings
    from supporterflow.functions.export_subscription_events import export_subscription_events

    settings = Settings(database=database, export_out=str(out), sqlite_synchronous="NORMAL")
    figures: dict[str, Any] = {"rss_mb_at_start": _peak_rss_mb()}
    done = 0

    def progress(rows: int) -> None:
        nonlocal done
        done += rows
        if "rss_mb_at_100k" not in figures and done >= _CHECKPOINT_ROWS:
            figures["rss_mb_at_100k"] = _peak_rss_mb()

    async def main() -> None:
        container = bootstrap(settings).open()
        try:
            export = container.inject(export_subscription_events)
            started = time.perf_counter()
            summary = await export(date=DAY, formats=formats, progress=progress)
            figures["seconds"] = time.perf_counter() - started
            figures["rows"] = summary.rows
            figures["bytes"] = {f.format: f.bytes for f in summary.files}
            figures["worker_peak_rss_mb"] = summary.worker_peak_rss_mb
        finally:
            container.close()

    asyncio.run(main())
    figures["rss_mb_at_end"] = _peak_rss_mb()
    print(json.dumps(figures))


def run_child(database: Path, out: Path, formats: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.export", "--child", str(database), str(out), *formats]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="200,000 rows")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        database, out, *formats = args.child
        child(Path(database), Path(out), formats)
        return
    count = 200_000 if args.quick else args.rows
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, {count:,} subscription events")
    with tempfile.TemporaryDirectory(prefix="sf-bench-export-") as tmp:
        root = Path(tmp)
        database = root / "events.sqlite3"
        started = time.perf_counter()
        size = build(database, count)
        print(f"built {size:,.0f} MB of SQLite in {time.perf_counter() - started:.1f} s")
        # Both sides read a file already in the page cache: the first DuckDB run warms it.
        duckdb_copy(database, root / "warm.parquet")
        duck_seconds = min(duckdb_copy(database, root / f"duck-{i}.parquet") for i in range(2))
        duck_rate = count / duck_seconds
        duck_mb = (root / "duck-0.parquet").stat().st_size / 1e6
        print(
            f"duckdb   COPY sqlite -> parquet: {duck_rate:>10,.0f} rows/s "
            f"({duck_seconds:.2f} s, {duck_mb:,.0f} MB)"
        )
        results: dict[str, Any] = {"rows": count, "duckdb_rows_per_s": duck_rate}
        for name, formats in (
            ("parquet", ["parquet"]),
            ("ndjson", ["ndjson"]),
            ("both", ["ndjson", "parquet"]),
        ):
            figures = run_child(database, root / f"out-{name}", formats)
            assert figures["rows"] == count, figures
            rate = count / figures["seconds"]
            sizes = ", ".join(f"{fmt} {size / 1e6:,.0f} MB" for fmt, size in figures["bytes"].items())
            growth = figures["rss_mb_at_end"] - figures.get("rss_mb_at_100k", figures["rss_mb_at_end"])
            print(
                f"export {name:<8}: {rate:>10,.0f} rows/s ({figures['seconds']:.2f} s, {sizes}); "
                f"peak RSS {figures.get('rss_mb_at_100k', 0):,.0f} MB at 100k rows, "
                f"{figures['rss_mb_at_end']:,.0f} MB at {count:,} (+{growth:,.0f} MB)"
                + (
                    f"; Parquet worker process peak {figures['worker_peak_rss_mb']:,.0f} MB"
                    if figures.get("worker_peak_rss_mb")
                    else ""
                )
            )
            results[name] = {
                **figures,
                "rows_per_s": rate,
                "ratio_to_duckdb": rate / duck_rate,
                "rss_growth_mb": growth,
            }
    for name in ("parquet", "ndjson", "both"):
        ratio = results[name]["ratio_to_duckdb"]
        verdict = "met" if ratio >= TARGET else "missed"
        print(f"export[{name}]: {ratio:.2f}x DuckDB sqlite->parquet (target >= {TARGET}x: {verdict})")
    for name in ("parquet", "ndjson", "both"):
        growth = results[name]["rss_growth_mb"]
        verdict = "met" if growth < RSS_GROWTH_LIMIT_MB else "missed"
        print(
            f"export[{name}]: peak RSS growth 100k -> {count:,} rows = {growth:.0f} MB "
            f"(target < {RSS_GROWTH_LIMIT_MB} MB: {verdict})"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
