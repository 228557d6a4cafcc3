"""Load test of the HTTP API on localhost: requests/s and p50 / p99 latency of POST /v1/score.

Starts `scamdetect serve` on a free port of 127.0.0.1 (or uses --url, which must be on this
machine), then for each concurrency level sends --requests single-post requests from that many
keep-alive connections, each level bounded by --max-seconds. Every response is checked (status 200,
JSON with one result); anything else, a timeout or a dropped connection counts as an error.

    python bench/bench_api.py                          # 1, 16 and 64 clients, 10,000 requests each
    python bench/bench_api.py --workers 2 --concurrency 16 --requests 2000

The client is a minimal asyncio HTTP/1.1 loop rather than httpx or aiohttp: it shares the cores
with the server, and a heavier client would spend the CPU the server is being measured on.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from posts import generate  # noqa: E402

LOCAL = ("127.0.0.1", "localhost", "::1")

try:  # the C event loop keeps the client's share of the CPU small
    from uvloop import run
except ImportError:
    from asyncio import run


@dataclass
class Level:
    """What one concurrency level measured."""

    concurrency: int
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    server_cpu_ms: float = 0.0  # CPU time of the server processes per request
    client_cpu_ms: float = 0.0  # CPU time of this load generator per request
    error_kinds: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return (f"{self.concurrency:>5} {self.requests:>9,} {self.errors:>7,} {self.seconds:>8.1f} {self.rps:>9,.0f} "
                f"{self.p50_ms:>8.1f} {self.p90_ms:>8.1f} {self.p99_ms:>8.1f} {self.max_ms:>8.1f} "
                f"{self.server_cpu_ms:>8.2f} {self.client_cpu_ms:>8.2f}")


HEADER = (f"{'conc':>5} {'requests':>9} {'errors':>7} {'seconds':>8} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8} {'srv cpu':>8} {'cli cpu':>8}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (Linux /proc; 0 elsewhere)."""
    total = 0.0
    try:
        pids = [pid] + [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        for p in pids:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, workers: int, model: str | None, api_key: str | None, timeout: float = 120) -> subprocess.Popen:
    """`scamdetect serve` in a subprocess, returned once /health answers."""
    env = {**os.environ, **({"SCAMDETECT_API_KEY": api_key} if api_key else {})}
    cmd = [sys.executable, "-m", "scamdetect.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--no-access-log", "--log-level", "warning"] + (["--model", model] if model else [])
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("server did not start in time")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()  # SIGTERM: uvicorn finishes open requests and runs the lifespan shutdown
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        status = int((await self.reader.readline()).split(b" ", 2)[1])
        length, chunked, close = None, False, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and value == b"chunked":
                chunked = True
            elif name == b"connection" and value == b"close":
                close = True
        if chunked:
            parts = []
            while (size := int((await self.reader.readline()).strip(), 16)):
                parts.append(await self.reader.readexactly(size + 2))
            await self.reader.readline()
            body = b"".join(p[:-2] for p in parts)
        else:
            body = await self.reader.readexactly(length or 0)
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def run_level(host: str, port: int, requests: list[bytes], n: int, concurrency: int, max_seconds: float,
                    timeout: float) -> Level:
    """``n`` requests (or as many as fit in ``max_seconds``) from ``concurrency`` connections."""
    counter = itertools.count()
    sent = 0
    latencies: list[float] = []
    kinds: dict[str, int] = {}
    deadline = time.perf_counter() + max_seconds

    def error(kind: str) -> None:
        kinds[kind] = kinds.get(kind, 0) + 1

    async def client() -> None:
        nonlocal sent
        conn = Conn(host, port)
        try:
            while (i := next(counter)) < n and time.perf_counter() < deadline:
                sent += 1
                t0 = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(conn.request(requests[i % len(requests)]), timeout)
                except asyncio.TimeoutError:
                    error("timeout")
                    conn.close()
                    continue
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                    error(type(exc).__name__)
                    conn.close()
                    continue
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    error(f"HTTP {status}")
                elif len(orjson.loads(body).get("results", ())) != 1:
                    error("bad body")
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    lat = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [lat[0] if lat else 0.0] * 99
    return Level(concurrency, requests=sent, errors=sum(kinds.values()), seconds=seconds,
                 rps=sent / seconds if seconds else 0.0, p50_ms=q[49], p90_ms=q[89], p99_ms=q[98],
                 max_ms=lat[-1] if lat else 0.0, error_kinds=kinds)


def build_requests(host: str, n: int, api_key: str | None) -> list[bytes]:
    """Distinct single-post requests, so that no cache flatters the figures."""
    head = f"POST /v1/score HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    if api_key:
        head += f"X-API-Key: {api_key}\r\n"
    out = []
    for rec in generate(n, seed=7):
        body = orjson.dumps({"posts": [{"id": rec["id"], "text": rec["text"],
                                        "metadata": {"platform": rec["platform"], "url": rec["url"]}}]})
        out.append(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="an API already running on this machine (default: start one)")
    ap.add_argument("--workers", type=int, default=1, help="worker processes of the server it starts")
    ap.add_argument("--model", help="model directory (default: the shipped model)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--requests", type=int, default=10_000, help="requests per concurrency level")
    ap.add_argument("--max-seconds", type=float, default=120, help="time bound per concurrency level")
    ap.add_argument("--timeout", type=float, default=10, help="seconds before a request counts as an error")
    ap.add_argument("--warmup", type=int, default=300, help="requests sent first and not measured")
    ap.add_argument("--api-key", default=os.environ.get("SCAMDETECT_API_KEY"))
    ap.add_argument("--json", help="also write the figures to this JSON file")
    a = ap.parse_args()
    if a.requests < 1 or a.max_seconds <= 0 or min(a.concurrency) < 1:
        ap.error("--requests, --max-seconds and --concurrency must be positive")

    proc = None
    if a.url:
        parts = urlsplit(a.url)
        host, port = parts.hostname or "", parts.port or 80
        if host not in LOCAL:
            ap.error("--url must point at this machine (127.0.0.1, localhost or ::1)")
        try:
            socket.create_connection((host, port), timeout=2).close()
        except OSError as exc:
            raise SystemExit(f"no server at {a.url} ({exc})") from None
    else:
        host, port = "127.0.0.1", free_port()
        proc = start_server(port, a.workers, a.model, a.api_key)
    try:
        requests = build_requests(host, min(a.requests, 20_000), a.api_key)
        run(run_level(host, port, requests, a.warmup, 4, 60, a.timeout))
        print(f"POST /v1/score, one post per request, server workers: {a.workers if proc else '?'}, "
              f"cores: {os.cpu_count()}")
        print(HEADER)
        levels = []
        for c in a.concurrency:
            srv0, cli0 = cpu_seconds(proc.pid) if proc else 0.0, time.process_time()
            lv = run(run_level(host, port, requests, a.requests, c, a.max_seconds, a.timeout))
            if lv.requests:
                lv.server_cpu_ms = ((cpu_seconds(proc.pid) - srv0) if proc else 0.0) / lv.requests * 1000
                lv.client_cpu_ms = (time.process_time() - cli0) / lv.requests * 1000
            levels.append(lv)
            print(lv.line() + (f"   errors: {lv.error_kinds}" if lv.errors else ""), flush=True)
    finally:
        if proc is not None:
            stop_server(proc)
    if a.json:
        Path(a.json).write_text(json.dumps({"workers": a.workers, "cpu_count": os.cpu_count(),
                                            "levels": [asdict(lv) for lv in levels]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
