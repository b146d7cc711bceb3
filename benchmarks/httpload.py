"""A small HTTP/1.1 load generator for the benchmarks: N keep-alive connections, each sending
the next request of a shared list as soon as its previous answer arrived (a closed loop).

Raw asyncio streams and pre-built request bytes, so the generator costs a few tens of
microseconds per request and the server under test, not the client, is what is measured.

    python benchmarks/httpload.py URL REQUESTS_JSONL --connections 64
        REQUESTS_JSONL: one JSON object per line, {"body": "...", "headers": {...}}
    prints one JSON object: {"sent", "elapsed_s", "per_s", "p50_ms", "p99_ms", "statuses"}
    (and "latencies_ms", every one, with --latencies)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit


def build_request(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
             "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def run(url: str, requests: list[bytes], connections: int,
              with_latencies: bool = False) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    queue = iter(range(len(requests)))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for index in queue:
                sent = time.perf_counter()
                writer.write(requests[index])
                statuses[await _read_answer(reader)] += 1
                latencies.append(time.perf_counter() - sent)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    result = {
        "sent": len(latencies),
        "elapsed_s": round(elapsed, 3),
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }
    if with_latencies:
        result["latencies_ms"] = [round(x * 1000, 2) for x in latencies]
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("requests")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--latencies", action="store_true", help="add every latency to the output")
    args = ap.parse_args()
    parts = urlsplit(args.url)
    requests = []
    with open(args.requests) as f:
        for line in f:
            item = json.loads(line)
            requests.append(build_request(parts.netloc, parts.path or "/", item["body"].encode(),
                                          item.get("headers", {})))
    print(json.dumps(asyncio.run(run(args.url, requests, args.connections, args.latencies))))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
