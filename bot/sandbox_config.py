"""The shop `gridshop sandbox` runs: its generated config file, its secrets and its people.

The config is a normal gridshop config file written into the sandbox folder on first start
(Stripe and card invoices on, one admin, a small catalogue, the simulated grid) and loaded
with the same loader as `gridshop run`, so editing it and restarting with `--data` is how to
try other prices or texts. The addresses of the emulators change on every start and are set
in code, not in the file. Secrets are generated per start, in the shape the real services
use, and reach the shop through `Secrets` exactly as `gridshop run` reads them from the
environment.
"""

from __future__ import annotations

import json
import secrets as random
from dataclasses import dataclass
from pathlib import Path

from .config import Config, Secrets, load_config, load_secrets, with_overrides

CONFIG_NAME = "config.toml"
USERS_NAME = "users.json"
BOT_USERNAME = "GridShopSandboxBot"
BOT_NAME = "GridShop"
ADMIN_ID = 6_000_000_001
BUYER_ID = 6_000_000_002


@dataclass(frozen=True)
class Person:
    """A Telegram user of the sandbox: the default buyer, the admin, or one added later."""

    user_id: int
    first_name: str
    username: str | None = None


DEFAULT_PEOPLE = (
    Person(BUYER_ID, "Ada", "ada"),
    Person(ADMIN_ID, "Grace", "grace_admin"),
)

CONFIG_TEMPLATE = f"""\
# gridshop sandbox configuration: written by `gridshop sandbox` on first start.
# Edit it and restart with the same --data folder to try other prices, services or limits.
# The database, the grid state and every emulator address are set by the sandbox itself.
# Every key is described in docs/configuration.md.

[marketplace]
commission_rate = 0.10
hold_expiry_minutes = 120
topup_presets = [5, 10, 25, 50]
min_topup = 1
max_topup = 1000

[telegram]
bot_username = "{BOT_USERNAME}"
stars_per_tfc = 77
card_currency = "USD"
# Card invoices inside Telegram, through the emulator's test payment provider.
card_enabled = true

[stripe]
enabled = true
checkout_expiry_minutes = 60

[grid]
backend = "simulated"
# Seconds a deployment takes and the share that fails; also adjustable in the side panel.
sim_latency_s = 4.0
sim_failure_rate = 0.0
max_attempts = 3
expiry_warning_days = 3

[admin]
# Grace, the sandbox's admin.
user_ids = [{ADMIN_ID}]

[[services]]
id = "vm-small"
name = "Small VM"
description = "1 vCPU, 2 GB RAM, 25 GB SSD, Mycelium networking. Good for a bot or a small website."
price = 4.00
cpu = 1
memory_gb = 2
disk_gb = 25
period_days = 30
[services.translations.ru]
name = "Малая ВМ"
description = "1 vCPU, 2 ГБ ОЗУ, 25 ГБ SSD, сеть Mycelium. Подойдёт для бота или небольшого сайта."

[[services]]
id = "vm-medium"
name = "Medium VM"
description = "2 vCPU, 4 GB RAM, 50 GB SSD, Mycelium networking. Room for a database and an app."
price = 8.50
cpu = 2
memory_gb = 4
disk_gb = 50
period_days = 30
[services.translations.ru]
name = "Средняя ВМ"
description = "2 vCPU, 4 ГБ ОЗУ, 50 ГБ SSD, сеть Mycelium. Хватит для базы данных и приложения."

[[services]]
id = "vm-large"
name = "Large VM"
description = "4 vCPU, 8 GB RAM, 100 GB SSD, Mycelium networking. For builds and busier services."
price = 16.00
cpu = 4
memory_gb = 8
disk_gb = 100
period_days = 30
[services.translations.ru]
name = "Большая ВМ"
description = "4 vCPU, 8 ГБ ОЗУ, 100 ГБ SSD, сеть Mycelium. Для сборок и нагруженных сервисов."

[[services]]
id = "vm-xlarge"
name = "XL VM"
description = "8 vCPU, 16 GB RAM, 200 GB SSD. Off sale until an admin enables it (/service)."
price = 32.00
cpu = 8
memory_gb = 16
disk_gb = 200
rootfs_gb = 4
period_days = 30
enabled = false
[services.translations.ru]
name = "ВМ XL"
description = "8 vCPU, 16 ГБ ОЗУ, 200 ГБ SSD. Не продаётся, пока администратор её не включит (/service)."
"""


def sandbox_config(data_dir: Path) -> Config:
    """The sandbox folder's config (written from the template on first start), with the
    database and the simulated grid's state inside that folder."""
    path = data_dir / CONFIG_NAME
    if not path.exists():
        path.write_text(CONFIG_TEMPLATE, encoding="utf-8")
    return with_overrides(load_config(path), str(path), {
        "database": {"path": data_dir / "gridshop.db"},
        "grid": {"sim_state_path": data_dir / "grid-sim.sqlite3"},
    })


@dataclass(frozen=True)
class SandboxSecrets:
    """What the emulators are started with and the shop receives as its environment."""

    bot_token: str
    stripe_secret_key: str
    stripe_webhook_secret: str
    provider_token: str
    payload_secret: str

    @classmethod
    def generate(cls) -> SandboxSecrets:
        # Shapes as issued by @BotFather, Stripe (test mode) and Telegram's test providers.
        bot_id = 7_100_000_000 + random.randbelow(10**8)
        return cls(
            bot_token=f"{bot_id}:AA{random.token_urlsafe(24)}",
            stripe_secret_key="sk_test_" + random.token_hex(24),
            stripe_webhook_secret="whsec_" + random.token_hex(24),
            provider_token=f"{random.randbelow(10**9) + 10**8}:TEST:{random.token_hex(8)}",
            payload_secret=random.token_urlsafe(32),
        )

    def environment(self) -> dict[str, str]:
        """The variables `gridshop run` would read."""
        return {
            "BOT_TOKEN": self.bot_token, "PAYLOAD_SECRET": self.payload_secret,
            "STRIPE_SECRET_KEY": self.stripe_secret_key,
            "STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret,
            "TELEGRAM_PROVIDER_TOKEN": self.provider_token,
        }

    def shop_secrets(self) -> Secrets:
        return load_secrets(self.environment())


def load_people(data_dir: Path) -> list[Person]:
    """The default buyer and admin, then the users added in earlier runs of this folder."""
    people = list(DEFAULT_PEOPLE)
    path = data_dir / USERS_NAME
    if path.exists():
        for item in json.loads(path.read_text(encoding="utf-8")):
            people.append(Person(int(item["user_id"]), str(item["first_name"]), item.get("username")))
    return people


def save_added(data_dir: Path, people: list[Person]) -> None:
    """Remember users added in the page, so a kept folder's balances keep their owners."""
    added = [p for p in people if p not in DEFAULT_PEOPLE]
    (data_dir / USERS_NAME).write_text(json.dumps(
        [{"user_id": p.user_id, "first_name": p.first_name, "username": p.username} for p in added],
        indent=1), encoding="utf-8")
