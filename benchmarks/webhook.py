"""`POST /webhooks/stripe` beside a bare endpoint, in the same run.

gridshop: the real aiohttp application of `gridshop run` (`webhooks.app.make_app`, served by
`bot.runtime.web_runner` with the shop's logging) in its own process on a real socket, its
ledger on a real SQLite file, reading each event back from the Stripe emulator (which runs in
this process, where the Checkout Sessions were created and paid beforehand).
Bare: aiohttp + `stripe.Webhook.construct_event` + 200, in its own process.

64 connections (benchmarks/httpload.py, its own process) send distinct signed
`checkout.session.completed` events of paid sessions: to the bare endpoint, to gridshop as first
deliveries (each credits an order), and to gridshop again as duplicates. Four rounds, alternating,
so drifting load hits all three alike. In a burst the webhook queues first deliveries in its
inbox and answers 200 after that durable write; after each first round the run waits until every
order of the round is credited (the inbox drained) and reports that too: `first_per_s` is the
rate first deliveries were accepted, `credit_per_s` the rate they were credited end to end (from
the round's first request to its last credit). At the end every order must be credited exactly once.
BENCH_PROFILE=FILE writes the gridshop server's cProfile statistics to FILE.

Run: python benchmarks/webhook.py [--events 1500] [--rounds 4] [--connections 64]
The last line is: webhook: first_per_s=... dup_per_s=... bare_per_s=... ... ratio=<first/bare>
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, free_port, load_line, parser

API_KEY = "sk_test_bench"
SECRET = "whsec_bench_secret"
HERE = Path(__file__).resolve()


# ---------------------------------------------------------------- the two servers


def serve_bare(port: int) -> None:
    """aiohttp + construct_event + 200, aiohttp's defaults."""
    import stripe
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            stripe.Webhook.construct_event(body, request.headers.get("Stripe-Signature", ""),
                                           SECRET)
        except (ValueError, stripe.SignatureVerificationError):
            return web.json_response({"error": "bad"}, status=400)
        return web.json_response({"received": True})

    app = web.Application()
    app.router.add_post("/webhooks/stripe", handle)
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def serve_gridshop(config_path: str) -> None:
    """The shop's HTTP server as `gridshop run` builds it (without the bot and the workers)."""
    from aiohttp import web

    from bot.config import load_config, load_secrets
    from bot.logs import redact, setup_logging
    from bot.runtime import open_ledger, stripe_client_for, web_runner
    from core.heap import freeze_startup_heap
    from webhooks.app import WebhookSettings, make_app

    setup_logging()
    config = load_config(config_path)
    secrets = load_secrets()
    redact(s.get_secret_value() for s in secrets.model_dump().values() if s is not None)

    async def run() -> None:
        ledger = await open_ledger(config)
        client = stripe_client_for(config, secrets)
        app = make_app(ledger, WebhookSettings.from_config(config, secrets), stripe_client=client)
        runner = web_runner(app, config)
        await runner.setup()
        await web.TCPSite(runner, config.server.host, config.server.port).start()
        freeze_startup_heap()  # as `gridshop run` does once started
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print("ready", flush=True)
        await stop.wait()
        await runner.cleanup()
        if client is not None:
            await client.aclose()
        await ledger.close()

    profile = os.environ.get("BENCH_PROFILE")  # a file to write the server's cProfile stats to
    if profile:
        import cProfile

        cProfile.runctx("asyncio.run(run())", globals(), {"asyncio": asyncio, "run": run},
                        profile)
    else:
        asyncio.run(run())


# ---------------------------------------------------------------- the run


async def paid_sessions(db: str, emu: Any, count: int) -> list[bytes]:
    """`count` top-up orders with a paid Checkout Session each; their completed events."""
    from ledger import Ledger
    from payments.stripe_checkout import StripeCheckout, make_client
    from sandbox.stripe_webhooks import webhook_body

    ledger = await Ledger.open(db)
    client = make_client(API_KEY, emu.base_url)
    checkout = StripeCheckout(ledger, client, bot_username="gridshop_bench_bot")
    gate = asyncio.Semaphore(32)

    async def one(n: int) -> None:
        async with gate:
            order = await ledger.create_order(f"bench-{n}", 10_000 + n % 1000, "topup", 500)
            await checkout.checkout_url(order)

    await asyncio.gather(*(one(n) for n in range(count)))
    sessions = await ledger.read(lambda c: [r[0] for r in c.execute(
        "SELECT session_id FROM stripe_sessions ORDER BY order_id")])
    await client.aclose()
    await ledger.close()
    for sid in sessions:
        emu.pay_session(sid)
    # The bytes the emulator would POST, as Stripe renders them (indented JSON, ~3.4 KB):
    # what `construct_event` verifies and parses in production.
    return [webhook_body(ev) for ev in emu.events("checkout.session.completed")]


def write_requests(path: Path, bodies: list[bytes]) -> None:
    from sandbox.stripe_webhooks import sign_payload

    with path.open("w") as f:
        for body in bodies:
            f.write(json.dumps({"body": body.decode(), "headers": {
                "Stripe-Signature": sign_payload(body, SECRET)}}) + "\n")


async def load(url: str, requests: Path, connections: int) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE.parent / "httpload.py"), url, str(requests),
        "--connections", str(connections), "--latencies", stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    return dict(json.loads(out))


def start_server(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(HERE), *args], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        raise SystemExit(f"server {args} did not start")
    return proc


async def wait_credited(db: str, expected: int, started: float) -> float:
    """Seconds from `started` until `expected` Stripe payments are recorded and the inbox is
    empty. The server applies the queued events in its own process, reading each back from the
    emulator, which runs in this event loop: so this waits with asyncio, never blocking it."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        while True:
            paid = conn.execute("SELECT count(*) FROM payments WHERE provider = 'stripe'").fetchone()[0]
            try:
                queued = conn.execute("SELECT count(*) FROM stripe_inbox").fetchone()[0]
            except sqlite3.OperationalError:  # a gridshop without the inbox (measuring "before")
                queued = 0
            if paid >= expected and not queued:
                return time.perf_counter() - started
            if time.perf_counter() - started > 120:
                raise SystemExit(f"not credited after 120 s: {paid} of {expected}, {queued} queued")
            await asyncio.sleep(0.01)
    finally:
        conn.close()


def summary(results: list[dict[str, Any]]) -> dict[str, float]:
    sent = sum(r["sent"] for r in results)
    elapsed = sum(r["elapsed_s"] for r in results)
    latencies = sorted(x for r in results for x in r["latencies_ms"])
    return {"per_s": sent / elapsed, "p50_ms": latencies[len(latencies) // 2],
            "p99_ms": latencies[int(len(latencies) * 0.99)]}


async def bench(events: int, rounds: int, connections: int) -> None:
    from sandbox.stripe_api import StripeEmulator

    tmp = Path(tempfile.mkdtemp(prefix="gridshop-bench-webhook-"))
    db = str(tmp / "shop.db")
    emu = StripeEmulator(None, SECRET, API_KEY)
    await emu.start()
    started = time.perf_counter()
    bodies = await paid_sessions(db, emu, events * rounds)
    print(f"setup: {len(bodies)} paid Checkout Sessions in {time.perf_counter() - started:.1f} s, "
          f"{sum(map(len, bodies)) // len(bodies)} bytes per event", flush=True)

    gs_port, bare_port = free_port(), free_port()
    config = tmp / "config.toml"
    config.write_text(f'[database]\npath = "{db}"\n[server]\nport = {gs_port}\n'
                      f'[stripe]\nenabled = true\napi_base = "{emu.base_url}"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BOT_TOKEN": "1:bench",
           "PAYLOAD_SECRET": "bench-payload-secret", "STRIPE_SECRET_KEY": API_KEY,
           "STRIPE_WEBHOOK_SECRET": SECRET}
    servers = [start_server(["--serve-bare", str(bare_port)], env),
               start_server(["--serve-gridshop", str(config)], env)]
    figures: dict[str, list[dict[str, Any]]] = {"bare": [], "first": [], "duplicate": []}
    credit_s: list[float] = []
    try:
        for r in range(rounds):
            chunk = bodies[r * events:(r + 1) * events]
            for kind, port in (("bare", bare_port), ("first", gs_port), ("duplicate", gs_port)):
                requests = tmp / f"{kind}-{r}.jsonl"
                write_requests(requests, chunk)
                started = time.perf_counter()
                result = await load(f"http://127.0.0.1:{port}/webhooks/stripe", requests,
                                    connections)
                figures[kind].append(result)
                credited = ""
                if kind == "first":
                    credit_s.append(await wait_credited(db, (r + 1) * events, started))
                    credited = f"  all credited after {credit_s[-1]:.2f} s"
                print(f"round {r + 1} {kind:>9}: {result['per_s']:7.0f} req/s  p50 "
                      f"{result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
                      f"statuses {result['statuses']}{credited}", flush=True)
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGTERM)
        for proc in servers:
            proc.wait(timeout=30)
        await emu.stop()

    conn = sqlite3.connect(db)
    credited = conn.execute("SELECT COUNT(*), COUNT(DISTINCT external_id) FROM payments "
                            "WHERE provider = 'stripe'").fetchone()
    conn.close()
    print(f"payments recorded: {credited[0]} for {credited[1]} sessions "
          f"(expected {len(bodies)} for {len(bodies)})")
    bare, first, dup = (summary(figures[k]) for k in ("bare", "first", "duplicate"))
    print(load_line())
    for name, s in (("bare construct_event", bare), ("gridshop first", first),
                    ("gridshop duplicate", dup)):
        print(f"{name:>22}: {s['per_s']:7.0f} req/s  p50 {s['p50_ms']:6.1f} ms  "
              f"p99 {s['p99_ms']:6.1f} ms")
    ok = credited[0] == credited[1] == len(bodies)
    credit_per_s = len(bodies) / sum(credit_s)
    print(f"{'gridshop credited':>22}: {credit_per_s:7.0f} /s end to end "
          f"({credit_per_s / bare['per_s']:.2f}x bare)")
    print(f"webhook: first_per_s={first['per_s']:.0f} credit_per_s={credit_per_s:.0f} "
          f"dup_per_s={dup['per_s']:.0f} "
          f"bare_per_s={bare['per_s']:.0f} first_p99_ms={first['p99_ms']:.1f} "
          f"dup_p99_ms={dup['p99_ms']:.1f} bare_p99_ms={bare['p99_ms']:.1f} "
          f"dup_ratio={dup['per_s'] / bare['per_s']:.2f} credited_once={'yes' if ok else 'NO'} "
          f"ratio={first['per_s'] / bare['per_s']:.2f}")


def main() -> None:
    ap = parser(__doc__, {"events": (int, 1500, "events per round"), "rounds": (int, 4, ""),
                          "connections": (int, 64, "")})
    ap.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--serve-gridshop", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
    elif args.serve_gridshop:
        serve_gridshop(args.serve_gridshop)
    else:
        asyncio.run(bench(args.events, args.rounds, args.connections))


if __name__ == "__main__":
    main()
