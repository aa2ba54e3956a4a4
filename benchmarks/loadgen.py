"""A small HTTP/1.1 load generator for loopback benchmarks, in pure Python.

Why not an existing tool: wrk, oha or hey are not installed everywhere, and the figures should be
reproducible with nothing but this repository's virtualenv. The generator keeps ``connections``
keep-alive connections busy, each sending one pre-built request at a time and reading the answer by
its ``Content-Length``; that is all a JSON API needs, and the less the client parses, the less of a
core it eats.

By default every request is the same. A route that must see distinct requests (signed notifications,
idempotent events: a repeated body would only measure the duplicate path) takes ``bodies`` instead:
each request carries the next of them, each body is sent at most once, and the run ends early when
they are all sent (``LoadResult.exhausted``; the rate is then over the part of the window covered).
``paths`` instead of one ``path`` sends the same method to each of them in turn, over and over (a
read route over many users).

With ``rate`` the load is open-loop instead: requests are scheduled at that fixed rate whatever the
server answers, each goes out on an idle connection of the pool (a queue forms when none is idle),
and its latency runs from its scheduled time, so a server that falls behind shows as latency rather
than as fewer requests sent (no coordinated omission). The requests scheduled in the window are the
measured ones; ``connections`` is then the size of the pool.

Run it in its own process (``run_load_in_subprocess`` or ``python -m benchmarks.loadgen``) so that
the generator and the server each have a core: in one process they would share one interpreter and
the figure would say more about the GIL than about the server.

It only ever targets loopback (127.0.0.0/8, ``localhost``, ``::1``): anything else is refused, so
a mistyped host cannot turn a benchmark into load on somebody else's machine. Every loop is bounded
by the run's deadline, and reconnection attempts by a count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

# A request still unanswered this long after the end of the run counts as an error.
_GRACE_S = 5.0
# A connection that fails this many times in a row (connect, reset, malformed answer) gives up.
_MAX_CONSECUTIVE_FAILURES = 50
_RECONNECT_PAUSE_S = 0.05
# ``python -m benchmarks.loadgen`` must find this package whatever the caller's directory.
_REPO_ROOT = Path(__file__).resolve().parents[1]


class NotLoopbackError(ValueError):
    """The target is not on this machine's loopback interface."""


def loopback_address(host: str) -> str:
    """The IP address to connect to for ``host``, which must be loopback.

    Only IP literals and ``localhost`` are accepted; ``localhost`` is resolved and every address
    it resolves to must be loopback (a tampered hosts file cannot redirect the load)."""
    if host == "localhost":
        candidates = sorted(
            {str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
        )
    else:
        candidates = [host]
    for candidate in candidates:
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            raise NotLoopbackError(f"refusing to load {host!r}: only loopback IPs or 'localhost'") from None
        if not address.is_loopback:
            raise NotLoopbackError(f"refusing to load {host!r} ({candidate}): not a loopback address")
    if not candidates:
        raise NotLoopbackError(f"refusing to load {host!r}: it resolves to nothing")
    return "127.0.0.1" if "127.0.0.1" in candidates else candidates[0]


@dataclass(frozen=True)
class LoadResult:
    """What one run measured, over the measurement window only (warm-up excluded).

    ``requests`` counts answers of any status completed in the window, ``rps`` is that per second
    and the latencies are over those answers. ``errors`` counts what a client would call a failure:
    requests without an answer (refused, reset, timed out, malformed) plus non-2xx answers.
    ``client_cpu`` is the generator's own CPU time over the window in cores: near 1.0 means the
    generator, not the server, was the limit. ``total_status_counts`` counts every answer of the
    run, warm-up and the requests finishing after the window included (what a server that stores
    each accepted request should have stored). ``exhausted`` is true when a list of ``bodies`` ran
    out before the end of the window: ``seconds`` is then the part of the window covered.

    With a fixed ``rate`` (open loop), ``requests`` counts the answers to the requests scheduled in
    the window, their latencies run from the scheduled time, and ``errors`` adds those still
    unanswered after the grace period."""

    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    status_counts: dict[int, int] = field(default_factory=dict)
    connections: int = 0
    client_cpu: float = 0.0
    total_status_counts: dict[int, int] = field(default_factory=dict)
    exhausted: bool = False
    rate: float = 0.0  # the fixed rate requests were scheduled at; 0.0 for a closed-loop run

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadResult:
        data = json.loads(text)
        for counts in ("status_counts", "total_status_counts"):
            if counts in data:
                data[counts] = {int(status): count for status, count in data[counts].items()}
        return cls(**data)


class _ProtocolError(Exception):
    """The answer is not something this minimal parser understands (e.g. no Content-Length)."""


def _request_head(
    host: str, port: int, method: str, path: str, headers: Mapping[str, str] | None
) -> list[str]:
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {authority}", "Connection: keep-alive"]
    lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
    return lines


def build_request(
    host: str, port: int, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> bytes:
    """The exact bytes sent for every request, built once so the loop does no formatting."""
    lines = _request_head(host, port, method, path, headers)
    if body or method not in ("GET", "HEAD"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Requests:
    """What the connections send: one request over and over, or each of ``bodies`` once, in order.
    Only the event loop thread takes from it, so a plain index is enough."""

    def __init__(
        self,
        fixed: bytes | None = None,
        head: bytes = b"",
        bodies: Sequence[bytes] = (),
        cycle: Sequence[bytes] = (),
    ) -> None:
        self.fixed = fixed
        self._head = head
        self._bodies = bodies
        self._cycle = cycle  # complete requests sent in turn, over and over
        self._next = 0
        first = fixed or head or (cycle[0] if cycle else b"")
        self.has_body = not first.startswith(b"HEAD ")

    def take(self) -> bytes | None:
        """The next request, or None once every body has been sent."""
        if self.fixed is not None:
            return self.fixed
        if self._cycle:
            request = self._cycle[self._next % len(self._cycle)]
            self._next += 1
            return request
        if self._next >= len(self._bodies):
            return None
        body = self._bodies[self._next]
        self._next += 1
        return self._head + b"Content-Length: %d\r\n\r\n" % len(body) + body


async def _read_response(reader: asyncio.StreamReader, has_body: bool) -> tuple[int, bool]:
    """Read one answer; returns its status and whether the server keeps the connection open.
    ``has_body`` is false for HEAD, whose answer announces a length but carries no body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    try:
        status = int(head[9:12])
        start = lower.index(b"\r\ncontent-length:") + 17
        length = int(lower[start : lower.index(b"\r\n", start)])
    except ValueError:
        raise _ProtocolError(head[:200].decode("latin-1")) from None
    if length and has_body:
        await reader.readexactly(length)
    return status, b"\r\nconnection: close" not in lower


@dataclass
class _Tally:
    """Shared by the connections of one run; only the event loop thread touches it."""

    measure_from: float
    measure_until: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    all_statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0
    last_answer: float = 0.0
    exhausted: bool = False
    # Open loop: a request belongs to the window it was scheduled in, not the one it finished in.
    by_schedule: bool = False

    def answered(self, started: float, finished: float, status: int) -> None:
        self.all_statuses[status] += 1
        if self.measure_from <= (started if self.by_schedule else finished) < self.measure_until:
            self.latencies.append(finished - started)
            self.statuses[status] += 1
            self.last_answer = finished

    def failed(self, at: float) -> None:
        if self.measure_from <= at < self.measure_until:
            self.failures += 1


async def _connection(address: str, port: int, requests: _Requests, tally: _Tally) -> None:
    """Keep one connection busy until the end of the run (or of the bodies), reconnecting after a
    failure."""
    has_body = requests.has_body
    fixed = requests.fixed  # the common case: no call per request
    clock = time.perf_counter
    consecutive_failures = 0
    while (
        clock() < tally.measure_until
        and consecutive_failures < _MAX_CONSECUTIVE_FAILURES
        and not tally.exhausted
    ):
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_connection(address, port)
            keep_alive = True
            while keep_alive and clock() < tally.measure_until:
                request = fixed or requests.take()
                if request is None:
                    tally.exhausted = True
                    break
                started = clock()
                writer.write(request)
                status, keep_alive = await _read_response(reader, has_body)
                tally.answered(started, clock(), status)
                consecutive_failures = 0
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, _ProtocolError):
            tally.failed(clock())
            consecutive_failures += 1
            await asyncio.sleep(_RECONNECT_PAUSE_S)
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()


async def _drive(address: str, port: int, requests: _Requests, connections: int, tally: _Tally) -> float:
    """Run the connections to the end; returns the CPU seconds this process spent in the window
    (up to the last answer when the bodies ran out first)."""
    clock = time.perf_counter
    tasks = [asyncio.create_task(_connection(address, port, requests, tally)) for _ in range(connections)]
    await asyncio.sleep(max(0.0, tally.measure_from - clock()))
    cpu_from = time.process_time()
    # Every connection ends at the end of the window, or earlier when the bodies run out.
    await asyncio.wait(tasks, timeout=max(0.0, tally.measure_until - clock()))
    cpu = time.process_time() - cpu_from
    # The grace period bounds the run even if the server stops answering mid-request.
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, tally.measure_until + _GRACE_S - clock()))
    for task in pending:
        task.cancel()
    tally.failures += len(pending)
    await asyncio.gather(*pending, return_exceptions=True)
    return cpu


async def _open_loop_connection(
    address: str, port: int, has_body: bool, due: asyncio.Queue[tuple[float, bytes]], tally: _Tally
) -> None:
    """One connection of the open-loop pool: sends the next due request whenever it is idle, and
    times it from its scheduled time. Ends when the scheduler queues a stop (an empty request)."""
    clock = time.perf_counter
    consecutive_failures = 0
    while consecutive_failures < _MAX_CONSECUTIVE_FAILURES:
        writer: asyncio.StreamWriter | None = None
        scheduled: float | None = None
        try:
            reader, writer = await asyncio.open_connection(address, port)
            keep_alive = True
            while keep_alive:
                scheduled, request = await due.get()
                if not request:
                    return
                writer.write(request)
                status, keep_alive = await _read_response(reader, has_body)
                tally.answered(scheduled, clock(), status)
                scheduled = None
                consecutive_failures = 0
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, _ProtocolError):
            if scheduled is not None:  # the request in flight is lost
                tally.failed(scheduled)
            consecutive_failures += 1
            await asyncio.sleep(_RECONNECT_PAUSE_S)
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()


async def _drive_at_rate(
    address: str, port: int, requests: _Requests, connections: int, tally: _Tally, rate: float
) -> float:
    """Schedule requests at ``rate`` per second from now to the end of the window, whatever the
    answers; returns the CPU seconds this process spent in the window."""
    clock = time.perf_counter
    due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    tasks = [
        asyncio.create_task(_open_loop_connection(address, port, requests.has_body, due, tally))
        for _ in range(connections)
    ]
    interval = 1.0 / rate
    first = clock()
    count = max(0, int((tally.measure_until - first) * rate))
    cpu_from: float | None = None
    sent = 0
    while sent < count:
        now = clock()
        if cpu_from is None and now >= tally.measure_from:
            cpu_from = time.process_time()
        # Everything due by now goes out at once: a late wake-up does not lower the rate, and
        # each request still carries its own scheduled time.
        while sent < count and first + sent * interval <= now:
            request = requests.take()
            if request is None:
                tally.exhausted = True
                count = sent
                break
            due.put_nowait((first + sent * interval, request))
            sent += 1
        if sent < count:
            await asyncio.sleep(max(0.0, first + sent * interval - clock()))
    cpu = time.process_time() - (cpu_from if cpu_from is not None else time.process_time())
    for _ in tasks:
        due.put_nowait((0.0, b""))
    # The grace period bounds the run even if the server stops answering.
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, tally.measure_until + _GRACE_S - clock()))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    # Whatever was scheduled in the window and never answered (queued, in flight) is an error.
    unanswered = 0
    while not due.empty():
        scheduled, request = due.get_nowait()
        if request and tally.measure_from <= scheduled < tally.measure_until:
            unanswered += 1
    tally.failures += unanswered + len(pending)
    return cpu


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when it is empty)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed: the generator then spends less CPU per request, so it saturates later."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_load(
    host: str,
    port: int,
    method: str = "GET",
    path: str = "/",
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    connections: int = 64,
    duration_s: float = 10.0,
    warmup_s: float = 1.0,
    bodies: Sequence[bytes] | None = None,
    paths: Sequence[str] | None = None,
    rate: float | None = None,
) -> LoadResult:
    """Load ``host:port`` from this process for ``warmup_s + duration_s`` and measure the last
    ``duration_s``. Blocks; prefer ``run_load_in_subprocess`` when the server is in this machine.

    With ``bodies`` (instead of ``body``) each request carries the next body, each sent once; the
    run stops early when they are all sent. With ``paths`` (instead of ``path``) the requests go
    to each path in turn, over and over. With ``rate`` the requests are scheduled at that many per
    second (open loop, ``connections`` the pool), timed from their scheduled time."""
    address = loopback_address(host)
    if connections < 1 or duration_s <= 0 or warmup_s < 0:
        raise ValueError("need connections >= 1, duration_s > 0 and warmup_s >= 0")
    if rate is not None and rate <= 0:
        raise ValueError("a fixed rate must be > 0 requests per second")
    if bodies is not None and body:
        raise ValueError("give either one body or a list of bodies")
    if paths is not None and (bodies is not None or not paths):
        raise ValueError("paths need at least one path and one body for all")
    if paths is not None:
        requests = _Requests(cycle=[build_request(host, port, method, p, body, headers) for p in paths])
    elif bodies is None:
        requests = _Requests(fixed=build_request(host, port, method, path, body, headers))
    else:
        head = ("\r\n".join(_request_head(host, port, method, path, headers)) + "\r\n").encode("latin-1")
        requests = _Requests(head=head, bodies=bodies)
    start = time.perf_counter() + warmup_s
    tally = _Tally(measure_from=start, measure_until=start + duration_s, by_schedule=rate is not None)
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        if rate is None:
            cpu = runner.run(_drive(address, port, requests, connections, tally))
        else:
            cpu = runner.run(_drive_at_rate(address, port, requests, connections, tally, rate))
    latencies = sorted(tally.latencies)
    errors = tally.failures + sum(
        count for status, count in tally.statuses.items() if not 200 <= status < 300
    )
    # Bodies that ran out inside the window: the rate is over the part of it that had load.
    seconds = duration_s
    if tally.exhausted and tally.last_answer < start + duration_s:
        seconds = max(tally.last_answer - start, 0.0) or duration_s
    return LoadResult(
        requests=len(latencies),
        errors=errors,
        seconds=seconds,
        rps=len(latencies) / seconds,
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        status_counts=dict(sorted(tally.statuses.items())),
        connections=connections,
        client_cpu=cpu / seconds,
        total_status_counts=dict(sorted(tally.all_statuses.items())),
        exhausted=tally.exhausted,
        rate=rate or 0.0,
    )


def read_bodies(path: Path) -> list[bytes]:
    """The bodies of a ``--bodies-file``: one per line (a body cannot contain a newline; compact
    JSON never does)."""
    return path.read_bytes().splitlines()


def read_paths(path: Path) -> list[str]:
    """The paths of a ``--paths-file``: one per line."""
    return [line for line in path.read_text().splitlines() if line]


def write_paths(path: Path, paths: Iterable[str]) -> int:
    """Write ``paths`` one per line for ``--paths-file``; returns how many were written."""
    lines = list(paths)
    if any(not p.startswith("/") or any(c.isspace() for c in p) for p in lines):
        raise ValueError("a path of a paths file starts with / and holds no white space")
    path.write_text("".join(f"{p}\n" for p in lines))
    return len(lines)


def write_bodies(path: Path, bodies: Iterable[bytes]) -> int:
    """Write ``bodies`` one per line for ``--bodies-file``; returns how many were written."""
    count = 0
    with path.open("wb") as out:
        for body in bodies:
            if b"\n" in body or b"\r" in body:
                raise ValueError("a body of a bodies file cannot contain a line break")
            out.write(body + b"\n")
            count += 1
    return count


def _cli_args(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str] | None,
    connections: int,
    duration_s: float,
    warmup_s: float,
    bodies_file: Path | None = None,
    paths_file: Path | None = None,
    rate: float | None = None,
) -> list[str]:
    args = [f"--host={host}", f"--port={port}", f"--method={method}", f"--path={path}"]
    args += [f"--connections={connections}", f"--duration={duration_s}", f"--warmup={warmup_s}", "--json"]
    if body:
        args.append(f"--body={body.decode()}")
    if bodies_file is not None:
        args.append(f"--bodies-file={bodies_file.resolve()}")
    if paths_file is not None:
        args.append(f"--paths-file={paths_file.resolve()}")
    if rate is not None:
        args.append(f"--rate={rate}")
    args += [f"--header={name}: {value}" for name, value in (headers or {}).items()]
    return args


def run_load_in_subprocess(
    host: str,
    port: int,
    method: str = "GET",
    path: str = "/",
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    connections: int = 64,
    duration_s: float = 10.0,
    warmup_s: float = 1.0,
    bodies_file: Path | None = None,
    paths_file: Path | None = None,
    rate: float | None = None,
) -> LoadResult:
    """``run_load`` in a fresh interpreter (``python -m benchmarks.loadgen --json``), so that the
    generator has its own core and GIL. The body must be UTF-8 text (it travels as an argument).
    ``bodies_file`` (see ``write_bodies``) sends each of its bodies once instead of ``body``;
    ``paths_file`` (see ``write_paths``) sends to each of its paths in turn instead of ``path``;
    ``rate`` schedules the requests at that many per second (open loop)."""
    loopback_address(host)  # refuse before spawning anything
    command = [sys.executable, "-m", "benchmarks.loadgen"]
    command += _cli_args(
        host,
        port,
        method,
        path,
        body,
        headers,
        connections,
        duration_s,
        warmup_s,
        bodies_file,
        paths_file,
        rate,
    )
    done = subprocess.run(
        command,
        cwd=_REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=warmup_s + duration_s + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return LoadResult.from_json(done.stdout)


def _parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.loadgen", description="HTTP/1.1 load on a loopback server."
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback only: 127.0.0.0/8, localhost or ::1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path", default="/")
    parser.add_argument("--body", default="", help="request body, sent as UTF-8")
    parser.add_argument(
        "--bodies-file", type=Path, help="one request body per line, each sent once (instead of --body)"
    )
    parser.add_argument(
        "--paths-file", type=Path, help="one path a line, requested in turn over and over (instead of --path)"
    )
    parser.add_argument(
        "--rate", type=float, help="open loop: requests scheduled at this many per second, timed from then"
    )
    parser.add_argument("--header", type=_parse_header, action="append", default=[], help="'Name: value'")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args(argv)
    try:
        result = run_load(
            args.host,
            args.port,
            args.method,
            args.path,
            args.body.encode(),
            dict(args.header),
            args.connections,
            args.duration,
            args.warmup,
            read_bodies(args.bodies_file) if args.bodies_file else None,
            read_paths(args.paths_file) if args.paths_file else None,
            args.rate,
        )
    except NotLoopbackError as error:
        parser.error(str(error))
    if args.json:
        print(result.to_json())
    else:
        print(
            f"{result.rps:,.0f} req/s  p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  "
            f"errors {result.errors}  statuses {result.status_counts}  client cpu {result.client_cpu:.2f}"
            + ("  (bodies exhausted)" if result.exhausted else "")
            + (f"  (open loop at {result.rate:g}/s)" if result.rate else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
