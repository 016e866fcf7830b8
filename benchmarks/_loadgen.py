"""A small HTTP/1.1 load generator: N keep-alive connections, each sending one request after
another for a fixed time; prints requests/s and latency percentiles as JSON.

wrk is not installed here, and an httpx client costs more CPU per request than the servers
being measured; this writes prebuilt request bytes on raw asyncio streams, so one core drives
several thousand requests a second.

    python benchmarks/_loadgen.py URL PATH BODY_FILE --concurrency 64 --seconds 8 --warmup 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit


async def _connection(
    host: str,
    port: int,
    request: bytes,
    start: float,
    end: float,
    latencies: list[float],
    errors: list[str],
    total: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            sent = time.perf_counter()
            if sent >= end:
                return
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            done = time.perf_counter()
            total[0] += 1
            if sent >= start:
                if status == 200:
                    latencies.append(done - sent)
                else:
                    errors.append(f"{status}: {body[:200]!r}")
    finally:
        writer.close()


async def run(url: str, path: str, body: bytes, concurrency: int, seconds: float, warmup: float):
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors: list[str] = []
    total = [0]
    start = time.perf_counter() + warmup
    end = start + seconds
    await asyncio.gather(
        *(
            _connection(host, port, request, start, end, latencies, errors, total)
            for _ in range(concurrency)
        )
    )
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0.0

    return {
        "requests": len(latencies),
        "total": total[0],  # warm-up included: what the server's CPU time is divided by
        "errors": len(errors),
        "first_errors": errors[:3],
        "rps": len(latencies) / seconds,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "mean": statistics.fmean(latencies) if latencies else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("body", type=Path)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()
    result = asyncio.run(
        run(
            args.url, args.path, args.body.read_bytes(), args.concurrency, args.seconds, args.warmup
        )
    )
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
