"""Shared pieces of the deployment worker tests: a catalogue, funding, purchases, a worker."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from bot.config import ServiceConfig
from grid.simulated import SimulatedGrid
from grid.worker import DeploymentWorker, WorkerOptions
from ledger import Ledger, Purchase
from ledger import deployments as jobs
from ledger.deployments import DeploymentRecord

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKutte2DUvEk0ZTuZoBzagIUHVMnhkT5i80s3XUbQFzO buyer@example"


def service(service_id: str, price: str, period_days: int = 30) -> ServiceConfig:
    return ServiceConfig(id=service_id, name=service_id, description="a test VM", price=Decimal(price),
                         cpu=1, memory_gb=2, disk_gb=5, rootfs_gb=2, period_days=period_days)


# Odd prices, so the 10% commission has to round (1235 -> 124 commission, 1111 payable).
SERVICES = [service("vm-small", "4.00"), service("vm-odd", "12.35"), service("vm-tiny", "0.05")]


def options(**overrides: object) -> WorkerOptions:
    values: dict[str, object] = {
        "services": {s.id: s for s in SERVICES}, "ssh_key": KEY, "max_attempts": 3,
        "backoff_base_s": 0, "backoff_max_s": 0, "concurrency": 8, "poll_interval_s": 0.05,
    }
    values.update(overrides)
    return WorkerOptions(**values)  # type: ignore[arg-type]


def make_grid(tmp_path: Path, **kwargs: object) -> SimulatedGrid:
    kwargs.setdefault("latency_s", 0.0)
    return SimulatedGrid(str(tmp_path / "grid.sqlite3"), **kwargs)  # type: ignore[arg-type]


def make_worker(ledger: Ledger, grid: SimulatedGrid, **overrides: object) -> DeploymentWorker:
    return DeploymentWorker(ledger, grid, options(**overrides))


async def fund(ledger: Ledger, user_id: int, amount: int, ref: str | None = None) -> None:
    await ledger.record_payment("stripe", ref or f"pi_{user_id}_{amount}", user_id=user_id,
                                amount=amount, provider_amount=amount, provider_currency="usd")


async def buy(ledger: Ledger, user_id: int, service_id: str, key: str | None = None) -> Purchase:
    price = next(s.price_minor for s in SERVICES if s.id == service_id)
    order = await ledger.create_order(key or f"order-{user_id}-{service_id}", user_id, "purchase",
                                      price, service_id)
    return await ledger.purchase(order.id, user_id)


async def deployment(ledger: Ledger, deployment_id: int) -> DeploymentRecord:
    return await ledger.read(lambda conn: jobs.get(conn, deployment_id))


async def messages(ledger: Ledger, chat_id: int) -> list[tuple[str, int | None]]:
    """(text, edit_message_id) of every message queued for `chat_id`, oldest first."""
    rows = await ledger.read(lambda conn: conn.execute(
        "SELECT text, edit_message_id FROM notifications WHERE chat_id = ? ORDER BY id", (chat_id,)
    ).fetchall())
    return [(text, edit) for text, edit in rows]


async def fixed_shop_id(ledger: Ledger, shop: str = "5eed0001") -> None:
    """Give the shop a known id, so grid names (and the simulated grid's seeded draws, which
    hash the name) are the same on every run."""
    await ledger.write(lambda conn, now: conn.execute(
        "INSERT OR REPLACE INTO shop_meta (key, value) VALUES ('shop_id', ?)", (shop,)))
