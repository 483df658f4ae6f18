"""The served room under load: `sitroom serve` in its own process on loopback, over a room of
real GDELT events (resampled, see _data.py) with users who log in with their passphrases.

1. append -> event: N clients hold `GET /stream` open (raw asyncio sockets: one read callback
   per arrival, timed as the bytes come) while the bench records track statuses through
   `POST /tracks/{track}/status` at a steady rate; latency runs from just before the POST to
   each client's receipt of that record's event. Every client must receive every record.
   Baseline, same run: the same append through the library (`sitroom.open(..., user=...)`
   on a copy of the room, no HTTP), timed as its call. Goal: p99 at most 50 ms.
2. `GET /events?near=Beirut&radius=500mi` from concurrent clients: latency and throughput.
   Baseline, same run: `room.world.events(...)` (and its JSON) in-process on the copy.
3. Soak: real GDELT events sent as files to `POST /ingest/gdelt`, five a second, at a steady
   rate of log records (``--soak-rate``; ``--soak-via status``: one track status per request,
   a status and its signature two records) with 10 streams open; the server's RSS sampled
   every few seconds and printed as a curve with the last seq, the first against the last
   minute, and a verdict (see FLAT_MB_PER_MIN: the log's page cache fills first).

Stream clients are raw asyncio sockets, timed in the read callback of each arrival; httpx's
streamed responses (``--stream-client httpx``) measured the same at 100 streams and 20 writes/s
on 2026-12-04 (p99 31 ms against 37-39 ms in other runs: within run-to-run noise).

    python bench/serve_stream.py [--clients 100] [--records 500] [--rate 20] [--rest-clients 50]
        [--rest-requests 500] [--soak-seconds 600] [--soak-rate 500] [--events 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)
from _data import pct, resampled_v2

PASS = "correct horse battery staple"
TRACK = "talks"
TRACKS_YAML = """\
tracks:
  - id: talks
    name: the talks
    parties: [USA, IRN]
    venue: Geneva
    status: planned
    priority: 1
"""
READERS = 5  # viewer users the stream clients log in as, in turn
MARK = b'"status":"bench-'  # in a status record's payload, not in its signature's
# The soak's verdict. The writer's SQLite page cache (cache_size, 64 MiB: the id index stays in
# memory) fills as records are written, not in a fixed time: at ~170 records/s it grows RSS by
# ~7 MB/min for ~8 minutes, then stops. So "flat" is: the last two minutes' slope under
# 1 MB/min (a leak of ~100 bytes per record at that rate would show) and the growth after the
# first minute within that cache, plus 16 MB (arrow and allocator pools, the streams' queues).
FLAT_MB_PER_MIN = 1.0
CACHE_MB = 64.0  # MiB, as the curve is (VmRSS kB / 1024)
POOLS_MB = 16.0
NEAR, RADIUS = "Beirut", "500mi"


# the room ---------------------------------------------------------------------------------
def build_room(work: Path, events: int) -> Path:
    """A room with real GDELT events, one track, an admin cleared for it (alice, who writes)
    and viewers cleared for it (who read the stream)."""
    import sitroom.room

    w = work / "room"
    tracks = work / "tracks.yaml"
    tracks.write_text(TRACKS_YAML)
    with sitroom.room.init(w) as r:
        r.tracks.add([tracks])
        r.ingest.feeds("gdelt", [str(resampled_v2(events, seed=5))])
        r.users.add("alice", role="admin", passphrase=PASS)
    with sitroom.room.open(w, user="alice", proof=PASS) as r:
        r.users.grant("alice", TRACK)
        for i in range(READERS):
            r.users.add(f"reader{i}", role="viewer", passphrase=PASS)
            r.users.grant(f"reader{i}", TRACK)
    return w


def status(n: int) -> str:
    return f"bench-{n:08d}"


def library_appends(room: Path, records: int, rate: float) -> list[float]:
    """The baseline of 1: the same appends, at the same rate, through the library (ms)."""
    import sitroom.room

    times: list[float] = []
    with sitroom.room.open(room, user="alice", proof=PASS) as r:
        r.tracks.set_status(TRACK, "warm-up").to_json()
        start = time.perf_counter()
        for i in range(records):
            wait = start + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            t0 = time.perf_counter()
            r.tracks.set_status(TRACK, status(i)).to_json()
            times.append((time.perf_counter() - t0) * 1000)
    return times


def library_events(room: Path, requests: int) -> tuple[list[float], float, int]:
    """The baseline of 2: the same query in-process, one after another (ms, per second, the
    events matched)."""
    import sitroom.room
    from sitroom.domain.geo import parse_radius
    from sitroom.domain.places import place

    times: list[float] = []
    with sitroom.room.open(room, user="alice", proof=PASS) as r:
        centre, radius = place(NEAR), parse_radius(RADIUS)
        matched = r.world.events(near=centre, radius=radius).to_json()["matched"]
        start = time.perf_counter()
        for _ in range(requests):
            t0 = time.perf_counter()
            r.world.events(near=centre, radius=radius).to_json()
            times.append((time.perf_counter() - t0) * 1000)
        wall = time.perf_counter() - start
    return times, requests / wall, matched


# the server -------------------------------------------------------------------------------
@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    log: IO[str]

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        return host, int(port)

    def rss_mb(self) -> float:
        try:
            import psutil  # type: ignore[import-untyped]

            return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20
        except ImportError:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no RSS for the server")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(60)
        self.log.close()


def serve(room: Path, work: Path, env: dict[str, str]) -> Server:
    log = (work / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sitroom", "serve", "-w", str(room), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}\n{(work / 'serve.log').read_text()}")
    out = proc.stdout
    threading.Thread(target=lambda: out.read(), daemon=True).start()
    return Server(proc, line.split()[2], log)


async def login(c: httpx.AsyncClient, user: str) -> str:
    r = await c.post("/auth/login", json={"user": user, "passphrase": PASS})
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


# stream clients ------------------------------------------------------------------------------
class Received:
    """What a stream client received: for each status the bench wrote, when it came."""

    def __init__(self) -> None:
        self.got: dict[int, float] = {}  # status number -> perf_counter at arrival
        self.events = 0
        self.last_id = 0
        self.dropped = False

    def _event(self, event: bytes, now: float) -> None:
        if not event or event.startswith(b":"):
            return  # a ping
        self.events += 1
        for line in event.split(b"\n"):
            if line.startswith(b"id:"):
                self.last_id = int(line[3:])
            elif line.startswith(b"event: dropped"):
                self.dropped = True
        at = event.find(MARK)
        if at >= 0:
            n = int(event[at + len(MARK) : at + len(MARK) + 8])
            self.got.setdefault(n, now)

    def close(self) -> None:
        raise NotImplementedError


class Stream(Received, asyncio.Protocol):
    """`GET /stream` on a raw socket, read in the callback that each arrival makes."""

    def __init__(self, host: str, token: str) -> None:
        super().__init__()
        self.request = (
            f"GET /stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.raw = b""  # what came, not yet de-chunked
        self.body = b""  # de-chunked, not yet a whole event
        self.head = True
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        raw = self.raw + data
        if self.head:
            end = raw.find(b"\r\n\r\n")
            if end < 0:
                self.raw = raw
                return
            head = raw[:end].decode("latin-1")
            if not head.startswith("HTTP/1.1 200") or "chunked" not in head.lower():
                self.opened.set_exception(RuntimeError(f"the stream did not open: {head}"))
                return
            self.head = False
            self.opened.set_result(None)
            raw = raw[end + 4 :]
        body = self.body
        while True:  # chunked transfer coding: SIZE\r\nBYTES\r\n
            eol = raw.find(b"\r\n")
            if eol < 0:
                break
            size = int(raw[:eol].split(b";")[0], 16)
            if len(raw) < eol + 4 + size:
                break
            if size == 0 and not self.closed.done():
                self.closed.set_result(None)
            body += raw[eol + 2 : eol + 2 + size]
            raw = raw[eol + 4 + size :]
        self.raw = raw
        if b"\n" in body:
            body = body.replace(b"\r\n", b"\n")
            *whole, body = body.split(b"\n\n")
            for event in whole:
                self._event(event, now)
        self.body = body

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.opened.done():
            self.opened.set_exception(RuntimeError(f"the stream closed: {exc}"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class HttpxStream(Received):
    """`GET /stream` through httpx (an async client's streamed response, line by line)."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        super().__init__()
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._read(client, token))

    async def _read(self, client: httpx.AsyncClient, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with client.stream("GET", "/stream", headers=headers) as r:
                if r.status_code != 200:
                    raise RuntimeError(f"the stream did not open: {r.status_code}")
                self.opened.set_result(None)
                event: list[str] = []
                async for line in r.aiter_lines():
                    if line:
                        event.append(line)
                        continue
                    self._event("\n".join(event).encode(), time.perf_counter())
                    event = []
        except Exception as e:
            if not self.opened.done():
                self.opened.set_exception(e)

    def close(self) -> None:
        self.task.cancel()


async def open_streams(
    server: Server, tokens: list[str], n: int, kind: str = "raw"
) -> list[Received]:
    if kind == "httpx":
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        client = httpx.AsyncClient(base_url=server.url, timeout=None, limits=limits)
        got: list[HttpxStream] = [HttpxStream(client, tokens[i % len(tokens)]) for i in range(n)]
        await asyncio.wait_for(asyncio.gather(*(s.opened for s in got)), 60)
        return list(got)
    host, port = server.host_port
    loop = asyncio.get_running_loop()
    streams: list[Stream] = []
    for i in range(n):
        _, s = await loop.create_connection(
            lambda i=i: Stream(f"{host}:{port}", tokens[i % len(tokens)]),  # type: ignore[misc]
            host,
            port,
        )
        streams.append(s)
    await asyncio.wait_for(asyncio.gather(*(s.opened for s in streams)), 60)
    return list(streams)


async def paced(
    count: int, rate: float, one: Callable[[int], Awaitable[None]], inflight: int
) -> float:
    """``one(i)`` for i < count, started at ``rate`` per second (later if ``inflight`` calls are
    still running): the seconds it took."""
    gate = asyncio.Semaphore(inflight)
    tasks: list[asyncio.Task[None]] = []

    async def run(i: int) -> None:
        try:
            await one(i)
        finally:
            gate.release()

    start = time.perf_counter()
    for i in range(count):
        wait = start + i / rate - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        await gate.acquire()
        tasks.append(asyncio.create_task(run(i)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - start


# 1. append -> event -------------------------------------------------------------------------
@dataclass
class Delivery:
    latencies: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    complete: int = 0
    missing: int = 0
    events_per_client: int = 0
    seconds: float = 0.0


async def append_to_event(
    server: Server,
    writer: str,
    readers: list[str],
    clients: int,
    records: int,
    rate: float,
    kind: str,
) -> Delivery:
    streams = await open_streams(server, readers, clients, kind)
    out = Delivery()
    sent: dict[int, float] = {}
    headers = {"Authorization": f"Bearer {writer}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as c:
        await c.post(f"/tracks/{TRACK}/status", json={"status": "warm-up"})

        async def one(i: int) -> None:
            sent[i] = t0 = time.perf_counter()
            r = await c.post(f"/tracks/{TRACK}/status", json={"status": status(i)})
            out.acks.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.text

        out.seconds = await paced(records, rate, one, inflight=8)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(len(s.got) < records for s in streams):
        await asyncio.sleep(0.05)
    for s in streams:
        out.latencies += [(t - sent[i]) * 1000 for i, t in s.got.items()]
        out.complete += len(s.got) == records
        out.missing += records - len(s.got)
        out.events_per_client = max(out.events_per_client, s.events)
        assert not s.dropped, "a stream client was dropped"
        s.close()
    return out


# 2. REST ------------------------------------------------------------------------------------
async def rest_events(
    server: Server, token: str, clients: int, requests: int
) -> tuple[list[float], float, set[int]]:
    times: list[float] = []
    matched: set[int] = set()
    todo = iter(range(requests))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, timeout=600, limits=limits
    ) as c:

        async def worker() -> None:
            for _ in todo:
                t0 = time.perf_counter()
                r = await c.get("/events", params={"near": NEAR, "radius": RADIUS})
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text
                matched.add(r.json()["matched"])

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - start
    return times, requests / wall, matched


# 3. soak ------------------------------------------------------------------------------------
@dataclass
class Soak:
    curve: list[tuple[float, float, int]] = field(default_factory=list)  # s, RSS MB, last seq
    written: int = 0
    seconds: float = 0.0
    seq0: int = 0
    clients_complete: int = 0
    clients: int = 0


def gdelt_chunks(rows: int, per_chunk: int) -> Iterator[bytes]:
    """Real GDELT 2.0 rows (resampled) with ids of their own, ``per_chunk`` to a file."""
    with resampled_v2(rows).open("rb") as f:
        chunk: list[bytes] = []
        for i, line in enumerate(f):
            chunk.append(str(2_000_000_000 + i).encode() + line[line.index(b"\t") :])
            if len(chunk) == per_chunk:
                yield b"".join(chunk)
                chunk = []
        if chunk:
            yield b"".join(chunk)


async def soak(
    server: Server,
    writer: str,
    readers: list[str],
    seconds: float,
    rate: float,
    every: float,
    via: str = "upload",
) -> Soak:
    out = Soak()
    streams = await open_streams(server, readers, 10)
    out.clients = len(streams)
    headers = {"Authorization": f"Bearer {writer}"}
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, timeout=60, limits=limits
    ) as c:

        async def last_seq() -> int:
            seq: int = (await c.get("/healthz")).json()["last_seq"]
            return seq

        out.seq0 = await last_seq()
        start = time.perf_counter()
        done = asyncio.Event()

        async def sample() -> None:
            while True:
                t = time.perf_counter() - start
                out.curve.append((t, server.rss_mb(), await last_seq()))
                if done.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), every - (t % every))

        sampler = asyncio.create_task(sample())
        base = 50_000_000  # status numbers (8 digits) apart from those of 1
        per = max(1, round(rate / 5))  # upload: five files a second
        chunks = gdelt_chunks(max(1, int(seconds * rate)), per)

        async def one(i: int) -> None:
            if via == "upload":
                r = await c.post("/ingest/gdelt", params={"name": f"soak-{i}.CSV"},
                                 content=next(chunks))  # fmt: skip
                assert r.status_code == 200, r.text
                out.written += int(r.json()["totals"]["accepted"])
                return
            r = await c.post(f"/tracks/{TRACK}/status", json={"status": status(base + i)})
            assert r.status_code == 200, r.text
            out.written += 1

        # A status and its signature: two records; an upload: ``per`` events (and a signature).
        count, per_s = (
            (max(1, int(seconds * rate / per)), rate / per)
            if via == "upload"
            else (max(1, int(seconds * rate / 2)), rate / 2)
        )
        stop_at = start + seconds

        async def bounded(i: int) -> None:
            if time.perf_counter() < stop_at:
                await one(i)

        await paced(count, per_s, bounded, inflight=4 if via == "upload" else 16)
        out.seconds = time.perf_counter() - start
        done.set()
        await sampler
    last = out.curve[-1][2]
    deadline = time.monotonic() + 30

    def complete(s: Received) -> bool:
        if via == "upload":  # every record up to the last position, none dropped
            return s.last_id >= last and not s.dropped
        return len(s.got) == out.written and not s.dropped

    while time.monotonic() < deadline and not all(complete(s) for s in streams):
        await asyncio.sleep(0.1)
    for s in streams:
        out.clients_complete += complete(s)
        s.close()
    return out


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y)."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


# -------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--clients", type=int, default=100, help="stream clients in 1")
    ap.add_argument("--records", type=int, default=500, help="statuses written in 1")
    ap.add_argument("--rate", type=float, default=20, help="statuses per second in 1")
    ap.add_argument(
        "--stream-client",
        choices=["raw", "httpx"],
        default="raw",
        help="how the clients of 1 read the stream: asyncio sockets, or httpx",
    )
    ap.add_argument("--rest-clients", type=int, default=50)
    ap.add_argument("--rest-requests", type=int, default=500)
    ap.add_argument("--soak-seconds", type=float, default=600)
    ap.add_argument(
        "--soak-rate", type=float, default=500, help="log records per second asked in 3"
    )
    ap.add_argument(
        "--soak-via",
        choices=["upload", "status"],
        default="upload",
        help="how 3 writes: GDELT files sent to POST /ingest/gdelt (five a second), or one "
        "track status per request",
    )
    ap.add_argument("--events", type=int, default=100_000, help="GDELT events in the room")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sitroom-bench-serve-"))
    os.environ["SITROOM_HOME"] = str(work / "home")  # the site's key file, the logins
    import sitroom

    src = str(Path(sitroom.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITROOM_")}
    env["SITROOM_HOME"] = os.environ["SITROOM_HOME"]
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    server: Server | None = None
    try:
        t = time.perf_counter()
        room = build_room(work, args.events)
        copy = work / "copy"
        shutil.copytree(room, copy)
        print(
            f"room: {args.events:,} real GDELT events (resampled), 1 track, an admin and "
            f"{READERS} viewers; built in {time.perf_counter() - t:.1f} s",
            flush=True,
        )
        base_append = library_appends(copy, args.records, args.rate)
        base_rest, base_rps, base_matched = library_events(copy, min(args.rest_requests, 200))
        server = serve(room, work, env)

        async def served() -> tuple[Delivery, tuple[list[float], float, set[int]], Soak | None]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
                writer = await login(c, "alice")
                t = time.perf_counter()
                readers = [await login(c, f"reader{i % READERS}") for i in range(args.clients)]
                print(
                    f"served at {server.url} (pid {server.proc.pid}), RSS "
                    f"{server.rss_mb():.0f} MB; {args.clients} logins "
                    f"(POST /auth/login, scrypt) in {time.perf_counter() - t:.1f} s",
                    flush=True,
                )
            d = await append_to_event(
                server, writer, readers, args.clients, args.records, args.rate, args.stream_client
            )
            report_append(args, d, base_append)
            rest = await rest_events(server, writer, args.rest_clients, args.rest_requests)
            report_rest(args, rest, base_rest, base_rps, base_matched)
            s = None
            if args.soak_seconds > 0:
                s = await soak(
                    server, writer, readers, args.soak_seconds, args.soak_rate,
                    every=max(1.0, min(5.0, args.soak_seconds / 20)), via=args.soak_via,
                )  # fmt: skip
                report_soak(args, s)
            return d, rest, s

        d, _, _ = asyncio.run(served())
        assert d.complete == args.clients, f"{args.clients - d.complete} clients missed records"
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def report_append(args: argparse.Namespace, d: Delivery, base: list[float]) -> None:
    lat = d.latencies
    print(
        f"1. append -> event: {args.records} track statuses at {args.rate:g}/s "
        f"(POST /tracks/{TRACK}/status, {d.seconds:.1f} s), {args.clients} stream clients "
        f"({args.stream_client}), {len(lat):,} deliveries"
    )
    print(
        f"   served, POST -> event at each client: p50 {pct(lat, 50):.1f} ms, "
        f"p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms   [goal p99 <= 50 ms]"
    )
    print(f"   served, POST -> 200: p50 {pct(d.acks, 50):.1f} ms, p99 {pct(d.acks, 99):.1f} ms")
    print(
        f"   completeness: {d.complete}/{args.clients} clients received all {args.records} "
        f"records ({d.missing} deliveries missing; {d.events_per_client} events per client)"
    )
    print(
        f"   baseline, library append (sitroom.open as alice, tracks.set_status): "
        f"p50 {pct(base, 50):.1f} ms, p99 {pct(base, 99):.1f} ms, max {max(base):.1f} ms"
    )
    print(f"   ratio p99 served / library: {pct(lat, 99) / pct(base, 99):.1f}x", flush=True)


def report_rest(
    args: argparse.Namespace,
    rest: tuple[list[float], float, set[int]],
    base: list[float],
    base_rps: float,
    base_matched: int,
) -> None:
    times, rps, matched = rest
    assert matched == {base_matched}, (matched, base_matched)
    print(
        f"2. GET /events?near={NEAR}&radius={RADIUS} ({base_matched:,} events matched, 50 "
        f"shown): {args.rest_requests} requests from {args.rest_clients} clients"
    )
    print(
        f"   served: p50 {pct(times, 50):.0f} ms, p99 {pct(times, 99):.0f} ms, {rps:.1f} requests/s"
    )
    print(
        f"   baseline, room.world.events in-process, one at a time ({len(base)} calls): "
        f"p50 {pct(base, 50):.0f} ms, p99 {pct(base, 99):.0f} ms, {base_rps:.1f} calls/s"
    )
    print(f"   ratio throughput served / library: {rps / base_rps:.2f}x", flush=True)


def report_soak(args: argparse.Namespace, s: Soak) -> None:
    records = s.curve[-1][2] - s.seq0
    how = (
        "GDELT events sent as files to POST /ingest/gdelt, five a second"
        if args.soak_via == "upload"
        else f"{args.soak_rate / 2:g} statuses/s: a status and its signature each"
    )
    print(
        f"3. soak: asked {args.soak_rate:g} records/s ({how}) for {args.soak_seconds:g} s, "
        f"{s.clients} stream clients"
    )
    print(
        f"   written {s.written:,} in {s.seconds:.0f} s ({s.written / s.seconds:.0f}/s); "
        f"the log gained {records:,} records ({records / s.seconds:.0f}/s)"
    )
    print("   t (s)   RSS (MB)   last seq")
    for t, mb, seq in s.curve:
        print(f"   {t:6.0f}   {mb:8.1f}   {seq:,}")
    end = s.curve[-1][0]
    first = [mb for t, mb, _ in s.curve if t <= 60]
    last = [mb for t, mb, _ in s.curve if t >= end - 60]
    after = [(t / 60, mb) for t, mb, _ in s.curve if t >= 60]
    late = [(t / 60, mb) for t, mb, _ in s.curve if t >= max(60, end - 120)]
    grown = after[-1][1] - after[0][1] if after else 0.0
    verdict = "too short to judge (the soak needs 3 minutes at least)"
    if end >= 180 and len(late) >= 3:
        flat = slope(late) < FLAT_MB_PER_MIN and grown <= CACHE_MB + POOLS_MB
        verdict = "flat" if flat else "growing"
    print(
        f"   first minute mean {sum(first) / len(first):.1f} MB, last minute mean "
        f"{sum(last) / len(last):.1f} MB; after the first minute: grown {grown:.1f} MB "
        f"(slope {slope(after):.2f} MB/min), last two minutes' slope {slope(late):.2f} MB/min"
    )
    print(
        f"   verdict: {verdict} (flat: the last two minutes under {FLAT_MB_PER_MIN:g} MB/min "
        f"and the growth within the log's {CACHE_MB:.0f} MiB page cache + {POOLS_MB:.0f} MB)"
    )
    print(
        f"   stream clients that received everything: {s.clients_complete}/{s.clients}",
        flush=True,
    )


if __name__ == "__main__":
    main()
