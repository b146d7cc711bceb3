"""`gridshop stripe setup --url https://HOST/webhooks/stripe`: the shop's webhook endpoint
registered (or updated) through Stripe's API, its signing secret printed once; see
`payments.stripe_webhook_setup`. Needs STRIPE_SECRET_KEY.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import stripe

from core.settings import Config
from payments.stripe_checkout import make_client
from payments.stripe_webhook_setup import BadWebhookUrl, SetupError, setup_endpoint

from .config import load_secrets
from .logs import redact

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


async def stripe_command(config: Config, args: argparse.Namespace, out: TextIO) -> int:
    """Register or update the shop's webhook endpoint; the exit status."""
    key = load_secrets().stripe_secret_key
    if key is None:
        print("gridshop stripe setup: STRIPE_SECRET_KEY is not set", file=sys.stderr)
        return EXIT_USAGE
    redact([key.get_secret_value()])
    client = make_client(key.get_secret_value(), config.stripe.api_base)
    try:
        done = await setup_endpoint(client, args.url)
    except BadWebhookUrl as exc:
        print(f"gridshop stripe setup: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SetupError as exc:
        print(f"gridshop stripe setup: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await client.aclose()
    verb = "created" if done.created else "updated"
    print(f"webhook endpoint {done.endpoint_id} {verb} for {args.url}: "
          f"{len(done.events)} events, API version {done.api_version}", file=out)
    if done.secret:
        print("Signing secret (shown once; put it in STRIPE_WEBHOOK_SECRET):", file=out)
        print(done.secret, file=out)
    if done.version_differs:
        print(f"warning: the endpoint renders events in API version {done.api_version}, not "
              f"{stripe.api_version}; Stripe cannot change that on an existing endpoint: delete "
              "it in the dashboard and run this again", file=out)
    return EXIT_OK
