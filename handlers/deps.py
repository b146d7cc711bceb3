"""What every handler needs, in one typed object: the `Shop`, and how a handler reaches it.

`bot.runtime` builds the Shop whole, once (config, secrets, ledger, catalogue and every
collaborator the process has), and `bot.app.build_application` makes a `ShopApplication` that
holds it. Handlers are typed `context: CustomContext` and read `context.shop`: PTB's own idiom
for a typed context (`ContextTypes(context=CustomContext)`, as in its examples/contexttypesbot.py).

Optional collaborators are None when the process has none: without `stripe_checkout` (or with
`config.stripe.enabled` false) there is no "Pay with Stripe" button; without `stripe_client`
an admin cannot refund a Stripe payment; without `deployer` a running VM's contract is cancelled
later by the periods job; without `worker` a new purchase waits for the worker's next poll;
without `gridproxy` every service counts as having capacity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import stripe
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from core.bounded import BoundedDict
from core.catalog import Catalogue
from core.locks import NameLocks
from core.settings import Config, Secrets
from grid.deployer import Deployer
from grid.gridproxy import GridProxyClient
from ledger import Ledger, Order
from ledger.stripe_events import Policy
from payments.payment_spool import PaymentSpool

__all__ = [
    "CONTEXT_TYPES", "SEEN_USERS", "CustomContext", "Profile", "Shop", "ShopApplication", "StripeCheckout", "Wakeable",
]

# (order, telegram user id) -> the Checkout URL to send the user to.
StripeCheckout = Callable[[Order, int], Awaitable[str]]

# What we last wrote to the ledger about a user: (username, first name, language code).
Profile: TypeAlias = tuple[str | None, str, str | None]

# Users whose profile and language the Shop keeps in memory (the most recently seen).
SEEN_USERS = 10_000


class Wakeable(Protocol):
    """The deployment worker as the chat sees it (grid.worker.DeploymentWorker fits)."""

    def wake(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Shop:
    """The shop's configuration, secrets, ledger, catalogue and optional collaborators."""

    config: Config
    secrets: Secrets
    ledger: Ledger
    catalogue: Catalogue
    # Payments met by a passing store error, until the spool job credits them.
    payment_spool: PaymentSpool
    # Admins to tell and the hold a buy-now gets, for Stripe payments the chat finds paid.
    stripe_policy: Policy
    stripe_checkout: StripeCheckout | None = None
    stripe_client: stripe.StripeClient | None = None
    deployer: Deployer | None = None
    worker: Wakeable | None = None
    gridproxy: GridProxyClient | None = None
    order_ttl_s: int = 24 * 3600  # an open order older than this cannot be paid any more
    # /broadcast queues at most this many messages a second (Telegram allows about 30 overall),
    # and edits the admin's progress message this often.
    broadcast_rate: float = 25.0
    broadcast_progress_s: float = 1.0
    # Users whose profile is in the ledger as last seen, so record_user writes only on a change:
    # the SEEN_USERS most recent (one forgotten is written once more when they come back).
    seen_users: BoundedDict[int, Profile] = field(default_factory=lambda: BoundedDict(SEEN_USERS))
    # The language each user is spoken to in, as last read from or written to the ledger (the
    # SEEN_USERS most recent; the others are read again).
    user_locales: BoundedDict[int, str] = field(default_factory=lambda: BoundedDict(SEEN_USERS))
    # One lock per admin request: concurrent taps on its confirm button run one at a time. A
    # request's lock lives only while a tap holds or waits for it.
    admin_request_locks: NameLocks = field(default_factory=NameLocks)

    @property
    def payload_secret(self) -> str:
        secret = self.secrets.payload_secret
        if secret is None:
            raise RuntimeError("PAYLOAD_SECRET is not set")
        return secret.get_secret_value()

    @property
    def card_token(self) -> str | None:
        """The provider token when card invoices are on and configured, else None."""
        token = self.secrets.telegram_provider_token
        if not self.config.telegram.card_enabled or token is None:
            return None
        return token.get_secret_value() or None

    @property
    def stripe_enabled(self) -> bool:
        return self.config.stripe.enabled and self.stripe_checkout is not None

    def order_expired(self, order: Order) -> bool:
        return order.state == "expired" or (
            order.state == "open" and self.ledger.now() - order.created_at > self.order_ttl_s
        )


class CustomContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The `context` every shop handler, job and error handler gets: PTB's, plus `shop`."""

    __slots__ = ()

    @property
    def shop(self) -> Shop:
        application = self.application
        if not isinstance(application, ShopApplication):
            raise RuntimeError("no Shop: build the application with bot.app.build_application")
        return application.shop


CONTEXT_TYPES = ContextTypes(context=CustomContext)


class ShopApplication(Application[ExtBot[None], CustomContext, dict[Any, Any], dict[Any, Any],
                                  dict[Any, Any], JobQueue[CustomContext]]):
    """PTB's Application holding the Shop; built by `ApplicationBuilder().application_class(
    ShopApplication, kwargs={"shop": shop})`, so the Shop is there from the start."""

    def __init__(self, *, shop: Shop, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shop = shop
