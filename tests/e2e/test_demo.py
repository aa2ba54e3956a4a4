"""``supporterflow demo`` as an operator runs it: a real process on a loopback port, its output
captured (so not a terminal), its data kept with ``--data-dir`` so that the test can collect the
emails, mobile numbers, receipts and purchase tokens the story used, from the service's database
and the store emulators' state, and look for each of them in the output."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from supporterflow.emulators.apple.store import AppleStoreState, receipt_data
from supporterflow.emulators.google.store import GooglePlayState
from tests.e2e.conftest import ROOT, free_port

TIMEOUT_S = 180.0
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def run_demo(data_dir: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
    env.update(PYTHONPATH=str(ROOT), COLUMNS="120")
    started = time.monotonic()
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "supporterflow.entrypoints.cli",
            "demo",
            "--port",
            str(free_port()),
            "--data-dir",
            str(data_dir),
        ],
        cwd=data_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    return finished, time.monotonic() - started


def _strings(value: Any, keys: set[str]) -> list[str]:
    """Every string under one of ``keys``, however deep."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k in keys and isinstance(v, str):
                found.append(v)
            else:
                found += _strings(v, keys)
    elif isinstance(value, list):
        for v in value:
            found += _strings(v, keys)
    return found


def story_secrets(data_dir: Path) -> dict[str, list[str]]:
    """What the story sent that must never be printed: the supporters' identities as stored, the
    App Store receipts and the Play purchase tokens of the emulators' state."""
    with sqlite3.connect(data_dir / "supporterflow.sqlite3") as conn:
        events = [json.loads(item) for (item,) in conn.execute("SELECT item FROM t_supporter_events")]
    identities = _strings([e["request"] for e in events], {"content"})
    apple = AppleStoreState(data_dir / "apple-emulator" / "subscriptions.sqlite3")
    google = GooglePlayState(data_dir / "google-emulator" / "purchases.sqlite3")
    try:
        receipts = [
            receipt_data(s["originalTransactionId"], s["environment"])
            for s in apple.snapshot()["subscriptions"]
        ]
        tokens = [p["purchaseToken"] for p in google.snapshot()["purchases"]]
    finally:
        apple.close()
        google.close()
    return {
        "emails": [i for i in identities if "@" in i],
        "mobiles": [i for i in identities if "@" not in i],
        "receipts": receipts,
        "tokens": tokens,
    }


def test_the_demo_tells_its_five_steps_successfully_without_a_secret_in_clear(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    finished, seconds = run_demo(data_dir)
    output = finished.stdout + finished.stderr

    assert finished.returncode == 0, output[-4000:]
    assert seconds < 180, f"the demo took {seconds:.0f} s"
    succeeded = {
        int(m.group(1)) for m in re.finditer(r"^│ (\d)\. .*?│\s+✓\s+│", finished.stdout, re.MULTILINE)
    }
    assert succeeded == {1, 2, 3, 4, 5}, finished.stdout[-4000:]
    assert "✗" not in finished.stdout
    assert "every step succeeded" in finished.stdout

    found = story_secrets(data_dir)
    assert {kind: len(values) for kind, values in found.items()} == {
        "emails": 2,
        "mobiles": 2,
        "receipts": 2,
        "tokens": 2,
    }
    assert EMAIL.findall(output) == []
    compact = re.sub(r"\s", "", output)
    for kind, values in found.items():
        for value in values:
            # Mobile numbers are stored as +44...: the national digits must not appear either.
            needle = value[-10:] if kind == "mobiles" else re.sub(r"\s", "", value)
            assert needle not in compact, f"a {kind[:-1]} is printed in clear"
            assert value[:16] not in compact, f"the start of a {kind[:-1]} is printed"


def test_the_demo_refuses_a_data_directory_that_is_not_empty(tmp_path: Path) -> None:
    data_dir = tmp_path / "used"
    data_dir.mkdir()
    (data_dir / "supporterflow.sqlite3").write_text("")
    finished, _ = run_demo(data_dir)
    assert finished.returncode == 2
    assert "not empty" in finished.stdout


def test_no_page_log_line_or_metric_label_of_the_whole_story_carries_a_secret(tmp_path: Path) -> None:
    """The demo's whole story with every log line (debug), then every dashboard page it leads to
    and ``/metrics``: no email, mobile number, receipt or purchase token in clear anywhere."""
    data_dir = tmp_path / "demo"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
    env.update(PYTHONPATH=str(ROOT), COLUMNS="120", SF_ADMIN_API_KEYS="story-admin-key")
    out = (tmp_path / "demo.out").open("w+")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "supporterflow.entrypoints.cli",
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--keep-running",
            "--log-level",
            "debug",
        ],
        cwd=tmp_path,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while "the service keeps running" not in (tmp_path / "demo.out").read_text():
            assert process.poll() is None, (tmp_path / "demo.out").read_text()[-4000:]
            assert time.monotonic() < deadline, "the story did not finish"
            time.sleep(0.2)
        pages = dashboard_pages(base, data_dir)
        metrics = httpx.get(base + "/metrics", timeout=10).text
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
        out.close()
    logs = (tmp_path / "demo.out").read_text()
    assert '"outbound call"' in logs or "outbound call" in logs  # debug lines were written
    assert len(pages) >= 10

    found = story_secrets(data_dir)
    for name, text in {"logs": logs, "metrics": metrics, **pages}.items():
        assert EMAIL.findall(text) == [], f"an email address in {name}"
        compact = re.sub(r"\s", "", text)
        for kind, values in found.items():
            for value in values:
                needle = value[-10:] if kind == "mobiles" else re.sub(r"\s", "", value)
                assert needle not in compact, f"a {kind[:-1]} in clear in {name}"


def dashboard_pages(base: str, data_dir: Path) -> dict[str, str]:
    """Every page an operator reaches: the overview, each DLQ, and what the search finds for
    every subscription, link and supporter event stored."""
    from supporterflow.topology import TOPOLOGY

    headers = {"x-api-key": "story-admin-key"}
    pages: dict[str, str] = {}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        pages["overview"] = client.get("/admin").text
        for queue in TOPOLOGY.all_queues():
            if queue.dlq_name:
                page = client.get(f"/admin/queues/{queue.dlq_name}/dead-letters")
                assert page.status_code == 200, queue.dlq_name
                pages[queue.dlq_name] = page.text
        with sqlite3.connect(data_dir / "supporterflow.sqlite3") as conn:
            wanted = [pk for (pk,) in conn.execute("SELECT pk FROM t_subscriptions")]
            wanted += [pk for (pk,) in conn.execute("SELECT pk FROM t_user_subscriptions")]
            wanted += [pk for (pk,) in conn.execute("SELECT pk FROM t_supporter_events")]
        for n, query in enumerate(wanted):
            found = client.post("/admin/search", data={"q": query})
            assert found.status_code == 303, (n, found.text[:200])
            page = client.get(found.headers["location"])
            assert page.status_code == 200
            pages[f"search {n}: {found.headers['location'].split('/')[2]}"] = page.text
    return pages
