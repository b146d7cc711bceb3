"""The real webhook server in its own process, for the crash tests of test_stripe_crash.py.

    STRIPE_SECRET_KEY=... python -m tests.webhooks.stripe_crash_server DB PORT SECRET STRIPE_API \
        [--kill-after-commit] [--inline-max N]

Opens the Ledger on DB and serves `make_app` with Stripe's webhook secret SECRET (and a client
of the Stripe API at STRIPE_API, to read events back) on 127.0.0.1:PORT.
With --kill-after-commit, the first `POST /webhooks/stripe` runs the real handler (whose ledger
write has committed when it returns) and then the process SIGKILLs itself before the response
is sent: the crash between COMMIT and the 2xx. --inline-max N: the webhook applies at most N
events before the answer at once and queues the others in the Stripe inbox (0: queues all).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from aiohttp import web

from ledger import Ledger
from payments.stripe_checkout import make_client
from webhooks.app import STRIPE_PATH, make_app

from .harness import webhook_settings


@web.middleware
async def kill_after_commit(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    response = await handler(request)
    if request.path == STRIPE_PATH:
        os.kill(os.getpid(), signal.SIGKILL)  # nothing after this runs: no response, no close
    return response


async def serve(db: str, port: int, secret: str, api: str, kill: bool,
                inline_max: int | None) -> None:
    ledger = await Ledger.open(db)
    client = make_client(os.environ["STRIPE_SECRET_KEY"], api, max_network_retries=0)
    app = make_app(ledger, webhook_settings(stripe_secret=secret, inline_max=inline_max),
                   stripe_client=client)
    if kill:
        app.middlewares.append(kill_after_commit)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("port", type=int)
    parser.add_argument("secret")
    parser.add_argument("stripe_api")
    parser.add_argument("--kill-after-commit", action="store_true")
    parser.add_argument("--inline-max", type=int)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.db, args.port, args.secret, args.stripe_api, args.kill_after_commit,
                          args.inline_max))
    except KeyboardInterrupt:  # the test stops it with SIGINT once done
        pass


if __name__ == "__main__":
    main()
