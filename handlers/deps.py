"""What every handler needs, in one typed object: the `Shop`, kept in `application.bot_data`.

Collaborators other issues provide are optional fields: the Stripe issue sets
`stripe_checkout`, and the "Pay with Stripe" button shows only when that is set AND
`config.stripe.enabled` is true. The grid issue sets `deployer` (cancelling a running VM's
contract), `worker` (woken after a purchase) and `gridproxy` (capacity; None = all available).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from telegram.ext import ContextTypes

from core.settings import Config, Secrets
from grid.deployer import Deployer
from grid.gridproxy import GridProxyClient
from ledger import Ledger, Order

__all__ = ["SHOP_KEY", "Shop", "StripeCheckout", "Wakeable", "get_shop"]

SHOP_KEY = "shop"

# (order, telegram user id) -> the Checkout URL to send the user to.
StripeCheckout = Callable[[Order, int], Awaitable[str]]


class Wakeable(Protocol):
    """The deployment worker as the chat sees it (grid.worker.DeploymentWorker fits)."""

    def wake(self) -> None: ...


@dataclass(slots=True)
class Shop:
    """The shop's configuration, secrets, ledger and optional collaborators."""

    config: Config
    secrets: Secrets
    ledger: Ledger
    stripe_checkout: StripeCheckout | None = None
    deployer: Deployer | None = None
    worker: Wakeable | None = None
    gridproxy: GridProxyClient | None = None
    order_ttl_s: int = 24 * 3600  # an open order older than this cannot be paid any more
    extra: dict[str, Any] = field(default_factory=dict)

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


def get_shop(context: ContextTypes.DEFAULT_TYPE) -> Shop:
    shop = context.bot_data.get(SHOP_KEY)
    if not isinstance(shop, Shop):
        raise RuntimeError("the Shop is not in bot_data; build the app with bot.app.build_application")
    return shop
