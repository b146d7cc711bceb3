"""The validated shape of `config.toml` and of the secrets from the environment.

`config.toml` holds everything an operator may tune and nothing secret. The models below are
strict: unknown keys are errors, types are strict (`"10"` is not an int, `true` is not an int),
and every key carries its own description (this is where each key is documented). Loading a
file and turning validation errors into one line for the operator is `bot.config`'s job.

Secrets (bot token, Stripe keys, HMAC keys) come only from the environment, through
`Secrets`, held as `SecretStr` so they never show in a repr or a log.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from .i18n import LANGUAGE_NAMES
from .money import MoneyError, tfc_to_minor

__all__ = [
    "SECRET_ENV_NAMES",
    "AdminConfig",
    "Config",
    "DatabaseConfig",
    "FieldError",
    "GridConfig",
    "MarketplaceConfig",
    "RedactedError",
    "Secrets",
    "ServerConfig",
    "ServiceConfig",
    "ShopConfig",
    "StripeConfig",
    "TelegramConfig",
]

def _to_decimal(value: Any) -> Decimal:
    # TOML floats arrive as Decimal (parse_float=Decimal); ints and numeric strings are exact too.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("must be a decimal number") from None
    else:
        raise ValueError("must be a number")
    if not result.is_finite():
        raise ValueError("must be a finite number")
    return result


def _check_cents(value: Decimal) -> Decimal:
    try:
        tfc_to_minor(value)
    except MoneyError:
        raise ValueError("must have at most 2 decimals (the smallest unit is 0.01 TFC)") from None
    return value


def _to_float(value: Any) -> float:
    # Only for non-money quantities (seconds, probabilities); TOML floats arrive as Decimal.
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
        raise ValueError("must be a number")
    result = float(value)
    if result != result or result in (float("inf"), float("-inf")):
        raise ValueError("must be a finite number")
    return result


def _to_path(value: Any, info: ValidationInfo) -> Any:
    if value is None or isinstance(value, Path):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a string (a file path)")
    if not value.strip():
        raise ValueError("must not be empty")
    path = Path(value).expanduser()
    if not path.is_absolute():
        base = (info.context or {}).get("base_dir")
        path = Path(base) / path if base is not None else Path.cwd() / path
    return path.resolve()


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


def _postgres_url(value: str) -> str:
    if not value:
        return value  # unset: the SQLite file
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("must be a postgresql:// URL")
    if parts.password is not None:
        raise RedactedError("holds a password; secrets come from the environment "
                            "(PGPASSWORD, or ~/.pgpass), never from this file")
    if not parts.path.strip("/"):
        raise ValueError("must name a database (postgresql://user@host/DATABASE)")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Decimalish = Annotated[Decimal, BeforeValidator(_to_decimal)]
TfcAmount = Annotated[Decimal, BeforeValidator(_to_decimal), AfterValidator(_check_cents)]
Seconds = Annotated[float, BeforeValidator(_to_float)]
ResolvedPath = Annotated[Path, BeforeValidator(_to_path)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
PostgresUrl = Annotated[str, AfterValidator(_postgres_url)]
Text = Annotated[str, AfterValidator(_not_blank)]

_SERVICE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_BOT_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")
_SSH_PUBLIC_KEY = re.compile(
    r"(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)"
    r" +[A-Za-z0-9+/]+={0,3}( .*)?"
)
_WEBHOOK_PORTS = (443, 80, 88, 8443)  # the only ports Telegram delivers webhooks to
# A webhook URL on these hosts is a local Bot API emulator's (tests): plain http and any port.
_LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --- sections --------------------------------------------------------------------------------


class DatabaseConfig(_Section):
    """`[database]`: the SQLite file (the default), or a PostgreSQL database (`url`)."""

    path: ResolvedPath = Field(
        default="data/gridshop.db",
        validate_default=True,
        description="SQLite database file; a relative path is relative to the config file's folder. "
        "Exposed as an absolute Path.",
    )
    busy_timeout_ms: int = Field(
        default=5000,
        gt=0,
        le=600_000,
        description="How long a connection waits for a lock held by another one (SQLite busy_timeout), in ms.",
    )
    url: PostgresUrl = Field(
        default="",
        description="Empty: the SQLite file at `path`. Else a PostgreSQL database (postgresql://user@host:port/dbname) to keep the "
        "ledger in instead of the SQLite file, e.g. for several instances sharing one database. "
        "No password in it: PostgreSQL's client reads PGPASSWORD or ~/.pgpass. When set, `path` "
        "is used only for the files kept beside the database (the payment spool).",
    )

    @property
    def target(self) -> str | Path:
        """What `Ledger.open` takes: the PostgreSQL URL when set, else the SQLite file."""
        return self.url or self.path


class MarketplaceConfig(_Section):
    """`[marketplace]`: currency, commission, holds and top-up amounts."""

    currency: Literal["TFC"] = Field(
        default="TFC", description='Credit currency shown to users; only "TFC" (1 TFC = 1 USD) for now.'
    )
    commission_rate: Decimalish = Field(
        default=Decimal("0.10"),
        ge=0,
        lt=1,
        description="Share of each settled sale kept as commission (the rest goes to grid payable); 0 <= rate < 1.",
    )
    hold_expiry_minutes: int = Field(
        default=120,
        gt=0,
        le=10_080,
        description="A purchase hold not settled or released within this many minutes expires (credits return).",
    )
    topup_presets: list[TfcAmount] = Field(
        default_factory=lambda: [Decimal(5), Decimal(10), Decimal(25), Decimal(50)],
        min_length=1,
        max_length=8,
        description="Top-up amounts offered as buttons, in TFC; each within [min_topup, max_topup].",
    )
    min_topup: TfcAmount = Field(default=Decimal(1), gt=0, description="Smallest top-up accepted, in TFC.")
    max_topup: TfcAmount = Field(default=Decimal(1000), gt=0, description="Largest single top-up accepted, in TFC.")

    @model_validator(mode="after")
    def _check_topup_bounds(self) -> MarketplaceConfig:
        if self.max_topup < self.min_topup:
            raise FieldError(("max_topup",), self.max_topup, f"must be at least min_topup ({self.min_topup})")
        for i, preset in enumerate(self.topup_presets):
            if not self.min_topup <= preset <= self.max_topup:
                raise FieldError(
                    ("topup_presets", i),
                    preset,
                    f"must be between min_topup ({self.min_topup}) and max_topup ({self.max_topup})",
                )
        return self

    @property
    def hold_ttl_s(self) -> int:
        """`hold_expiry_minutes` in seconds."""
        return self.hold_expiry_minutes * 60

    @property
    def topup_presets_minor(self) -> list[int]:
        """`topup_presets` in TFC cents."""
        return [tfc_to_minor(p) for p in self.topup_presets]

    @property
    def min_topup_minor(self) -> int:
        """`min_topup` in TFC cents."""
        return tfc_to_minor(self.min_topup)

    @property
    def max_topup_minor(self) -> int:
        """`max_topup` in TFC cents."""
        return tfc_to_minor(self.max_topup)


class ServerConfig(_Section):
    """`[server]`: the aiohttp server for webhooks and health checks."""

    host: Text = Field(default="127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(default=8080, ge=1, le=65535, description="TCP port the HTTP server listens on.")
    max_body_bytes: int = Field(
        default=262_144,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest request body accepted (webhooks), in bytes; larger requests get 413.",
    )
    metrics_host: Text = Field(
        default="127.0.0.1",
        description="Address the metrics listener (GET /metrics, Prometheus format) binds; keep it "
        "private (loopback, or an internal interface your Prometheus reaches).",
    )
    metrics_port: int = Field(
        default=0, ge=0, le=65535,
        description="TCP port of the metrics listener, separate from the public webhook port; 0 = off.",
    )
    access_log: bool = Field(
        default=False,
        description="Log one line per HTTP request (aiohttp's access log, at INFO); off by default: "
        "every Stripe event is logged with its outcome anyway, and the line costs CPU per request.",
    )

    @model_validator(mode="after")
    def _check_metrics_port(self) -> ServerConfig:
        if self.metrics_port and self.metrics_port == self.port:
            raise FieldError(("metrics_port",), self.metrics_port,
                             "must differ from server.port (the public webhook listener)")
        return self


class TelegramConfig(_Section):
    """`[telegram]`: Bot API endpoint, update delivery and in-chat payments."""

    api_base: HttpUrl = Field(
        default="https://api.telegram.org",
        description="Bot API server root, without /bot (the shop adds /bot<token>/<method>); point it at "
        "the sandbox emulator in tests.",
    )
    mode: Literal["polling", "webhook"] = Field(
        default="polling", description='How updates arrive: "polling" (getUpdates) or "webhook".'
    )
    webhook_url: str = Field(
        default="",
        validate_default=True,
        description="Public https URL Telegram posts updates to (e.g. https://shop.example.com/webhooks/telegram); "
        'required when mode = "webhook"; ports 443, 80, 88 or 8443. Plain http (any port) only on a '
        "loopback host (127.0.0.1, ::1, localhost), for a local Bot API emulator.",
    )
    bot_username: str = Field(
        default="",
        description="The bot's username without '@', used for t.me deep links; empty = unknown.",
    )
    stars_per_tfc: int = Field(
        default=77, gt=0, le=10_000, description="Telegram Stars charged per 1 TFC of credit."
    )
    card_currency: str = Field(
        default="USD", description="3-letter ISO 4217 currency of card invoices (1 TFC = 1 unit of it)."
    )
    card_enabled: bool = Field(
        default=False,
        description="Offer Telegram card invoices; also needs TELEGRAM_PROVIDER_TOKEN in the environment.",
    )
    rate_limit: bool = Field(
        default=True,
        description="Pace messages under Telegram's flood limits (bot/flood_control.py); turn it off "
        "only against a Bot API server without them (the emulator with --no-rate-limit).",
    )

    @field_validator("api_base")
    @classmethod
    def _check_api_base(cls, value: str) -> str:
        # Bot API URLs are <root>/bot<token>/<method> (core.telegram.org/bots/api#making-requests);
        # a root ending in /bot (as the emulator's banner prints its api_url) would double it.
        if urlsplit(value).path.endswith("/bot"):
            raise ValueError("must be the server root without /bot (the shop adds /bot<token>/), "
                             f"e.g. {value.removesuffix('/bot')}")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            if info.data.get("mode") == "webhook":
                raise ValueError('required (an https:// URL) when telegram.mode = "webhook"')
            return value
        parts = urlsplit(value)
        loopback = parts.hostname in _LOOPBACK_HOSTS
        if parts.scheme == "http" and parts.hostname and not loopback:
            raise ValueError("must be an https:// URL (plain http only for a loopback host, "
                             "127.0.0.1, ::1 or localhost: a local Bot API emulator)")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an https:// URL")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        if port is not None and port not in _WEBHOOK_PORTS and not loopback:
            raise ValueError("port must be one of 443, 80, 88, 8443 (Telegram delivers webhooks only there)")
        return value

    @field_validator("bot_username")
    @classmethod
    def _check_bot_username(cls, value: str) -> str:
        if not value:
            return value
        if value.startswith("@"):
            raise ValueError("write it without the leading @")
        if not _BOT_USERNAME.fullmatch(value) or not value.lower().endswith("bot"):
            raise ValueError("must be a Telegram bot username: 5-32 letters, digits or _, ending in 'bot'")
        return value

    @field_validator("card_currency")
    @classmethod
    def _check_card_currency(cls, value: str) -> str:
        if not _CURRENCY.fullmatch(value):
            raise ValueError("must be a 3-letter uppercase ISO 4217 code such as USD")
        if value == "XTR":
            raise ValueError("XTR is Telegram Stars, not a card currency")
        return value


class StripeConfig(_Section):
    """`[stripe]`: Stripe Checkout links."""

    enabled: bool = Field(
        default=False,
        description="Offer Stripe Checkout links; needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET in the environment.",
    )
    api_base: HttpUrl = Field(
        default="https://api.stripe.com", description="Stripe API base URL; point it at the sandbox emulator in tests."
    )
    checkout_expiry_minutes: int = Field(
        default=30,
        ge=30,
        le=1440,
        description="Checkout Session lifetime in minutes (Stripe allows 30 to 1440; at 30 a minute "
        "of slack is added).",
    )


class GridConfig(_Section):
    """`[grid]`: where and how VMs are deployed."""

    backend: Literal["simulated", "tfcmd"] = Field(
        default="simulated", description='Deployer: "simulated" (no wallet needed) or "tfcmd" (the real grid).'
    )
    tfcmd_path: Text = Field(default="tfcmd", description="The tfcmd executable (name on PATH or a path).")
    tfcmd_timeout_s: int = Field(
        default=3000,
        gt=0,
        le=3600,
        description="Seconds one tfcmd deploy may take before it is killed; default 3000 (50 min), "
        "tfcmd's own overall limit (it gives up by itself after 4 min without progress).",
    )
    network: Literal["main", "test", "qa", "dev"] = Field(
        default="main", description="ThreeFold network tfcmd deploys on."
    )
    ssh_key: str = Field(
        default="",
        description="SSH public key put on a VM when the user gave none; may be empty.",
    )
    gridproxy_url: str = Field(
        default="",
        description="gridproxy base URL used to check capacity before deploying; empty = no capacity check.",
    )
    farm_ids: list[Annotated[int, Field(gt=0)]] = Field(
        default_factory=list, description="Farms to deploy on; empty = any farm with capacity."
    )
    twin_id: int = Field(
        default=0,
        ge=0,
        description="Twin id of the tfcmd login's account: nodes must be available to it and its "
        "contracts are reconciled; 0 = learnt from tfcmd's own log.",
    )
    tft_price: Decimalish = Field(
        default=Decimal(0), ge=0, le=1000, max_digits=12, decimal_places=6,
        description="USD per TFT, to show the grid's cost in TFC and the margin in /stats and /user; "
        "0 = unknown (the cost is shown in TFT only).",
    )
    reconcile_interval_s: int = Field(
        default=900, ge=60, le=86400,
        description="Seconds between two contract reconciliations with gridproxy (tfcmd backend).",
    )
    sim_latency_s: Seconds = Field(
        default=3.0, ge=0, le=600, description="Simulated backend: seconds each deployment takes."
    )
    sim_failure_rate: Seconds = Field(
        default=0.0, ge=0, le=1, description="Simulated backend: probability (0..1) that a deployment fails."
    )
    sim_seed: int | None = Field(
        default=None, description="Simulated backend: random seed for reproducible runs; absent = random."
    )
    sim_state_path: ResolvedPath | None = Field(
        default=None,
        description="Simulated backend: state file; default grid-sim.sqlite3 next to the database; "
        "relative paths are relative to the config file's folder.",
    )
    max_attempts: int = Field(
        default=3, ge=1, le=20, description="Deploy attempts per purchase before it fails and the hold is released."
    )
    expiry_warning_days: int = Field(
        default=3, ge=0, le=365, description="Days before a service period ends that the user is warned; 0 = no warning."
    )
    grace_days: int = Field(
        default=3, ge=0, le=60,
        description="Days an auto-renewing VM the balance cannot renew keeps running after its period "
        "ended, with a reminder a day; it renews itself (charged from its expiry) once the balance covers "
        "it, and is removed when the days are over; 0 = removed at expiry.",
    )

    @field_validator("ssh_key")
    @classmethod
    def _check_ssh_key(cls, value: str) -> str:
        if not value:
            return value
        if "PRIVATE KEY" in value:
            raise RedactedError("is a private key; put the public key (one line, e.g. ssh-ed25519 AAAA...) here")
        if not _SSH_PUBLIC_KEY.fullmatch(value.strip()):
            raise ValueError("must be an OpenSSH public key line, e.g. ssh-ed25519 AAAA... user@host")
        return value.strip()

    @field_validator("gridproxy_url")
    @classmethod
    def _check_gridproxy_url(cls, value: str) -> str:
        return _http_url(value) if value else value


class AdminConfig(_Section):
    """`[admin]`: who may use admin commands."""

    user_ids: list[Annotated[int, Field(gt=0)]] = Field(
        default_factory=list, description="Telegram user ids allowed to run admin commands."
    )


class ShopConfig(_Section):
    """`[shop]`: what the chat tells buyers about the shop itself."""

    support_text: str = Field(
        default="",
        max_length=3000,
        description="The answer to /support: how to reach the operator (e.g. an @username or an email); "
        "plain text, empty = the shop's default text.",
    )
    terms_text: str = Field(
        default="",
        max_length=3000,
        description="The answer to /terms: the terms of sale; plain text, empty = the shop's default text.",
    )


class ServiceText(_Section):
    """A service's name and description in one more language (`[services.translations.ru]`)."""

    name: Text | None = Field(default=None, min_length=1, max_length=32,
                              description="The name in that language; unset: the default `name`.")
    description: Text | None = Field(default=None, min_length=1, max_length=255,
                                     description="The description in that language; unset: the default `description`.")


class ServiceConfig(_Section):
    """One `[[services]]` entry: a VM size sold for a period."""

    id: str = Field(
        description="Stable slug (lowercase letters, digits, dashes; 1-32 chars); goes into callback_data and orders."
    )
    name: Text = Field(min_length=1, max_length=32, description="Short name shown on buttons.")
    description: Text = Field(min_length=1, max_length=255, description="One or two sentences shown in the catalogue.")
    price: TfcAmount = Field(gt=0, description="Price per period in TFC, at most 2 decimals.")
    cpu: int = Field(ge=1, le=32, description="Virtual CPUs.")
    memory_gb: int = Field(ge=1, le=256, description="Memory in GB.")
    disk_gb: int = Field(ge=0, le=10_000, description="Data disk in GB (0 = none).")
    rootfs_gb: int = Field(default=2, ge=1, le=1000, description="Root filesystem size in GB.")
    period_days: int = Field(ge=1, le=365, description="Days one purchase lasts before renewal or cancellation.")
    enabled: bool = Field(default=True, description="Listed and purchasable; false hides it without deleting it.")
    translations: dict[str, ServiceText] = Field(
        default_factory=dict,
        description="The name and description in other languages the shop speaks, by language code "
                    "(`[services.translations.ru]`); `name` and `description` are the default (English).")

    @field_validator("translations")
    @classmethod
    def _check_languages(cls, value: dict[str, ServiceText]) -> dict[str, ServiceText]:
        unknown = sorted(set(value) - set(LANGUAGE_NAMES))
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: the shop speaks {', '.join(LANGUAGE_NAMES)}")
        return value

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _SERVICE_ID.fullmatch(value):
            raise ValueError("must be 1-32 lowercase letters, digits or dashes, starting with a letter or digit")
        return value

    @property
    def price_minor(self) -> int:
        """`price` in TFC cents."""
        return tfc_to_minor(self.price)


class Config(_Section):
    """The whole validated `config.toml`."""

    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description="The SQLite file.")
    marketplace: MarketplaceConfig = Field(
        default_factory=MarketplaceConfig, description="Currency, commission, holds, top-ups."
    )
    server: ServerConfig = Field(default_factory=ServerConfig, description="The HTTP server.")
    telegram: TelegramConfig = Field(default_factory=TelegramConfig, description="Telegram Bot API and payments.")
    stripe: StripeConfig = Field(default_factory=StripeConfig, description="Stripe Checkout.")
    grid: GridConfig = Field(default_factory=GridConfig, description="Deploying on the ThreeFold grid.")
    admin: AdminConfig = Field(default_factory=AdminConfig, description="Administrators.")
    shop: ShopConfig = Field(default_factory=ShopConfig, description="Support and terms texts.")
    services: list[ServiceConfig] = Field(default_factory=list, description="The catalogue, one [[services]] each.")

    @model_validator(mode="after")
    def _finish(self) -> Config:
        seen: dict[str, int] = {}
        for i, service in enumerate(self.services):
            if service.id in seen:
                raise FieldError(
                    ("services", i, "id"), service.id, f"duplicate service id (also services[{seen[service.id]}].id)"
                )
            seen[service.id] = i
        if self.grid.sim_state_path is None:
            self.grid.sim_state_path = self.database.path.parent / "grid-sim.sqlite3"
        return self

    def service(self, service_id: str) -> ServiceConfig | None:
        """The service with this id, enabled or not, or None."""
        return next((s for s in self.services if s.id == service_id), None)

    @property
    def enabled_services(self) -> list[ServiceConfig]:
        """Services offered to users, in file order."""
        return [s for s in self.services if s.enabled]


# --- errors ----------------------------------------------------------------------------------


# --- validator errors ------------------------------------------------------------------------


class FieldError(ValueError):
    """Raised by a validator that knows the exact sub-key and value at fault (e.g. a duplicate id)."""

    def __init__(self, path: tuple[str | int, ...], value: Any, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.value = value


class RedactedError(ValueError):
    """A validation error whose offending value must not be echoed (it may be a secret)."""


# --- secrets ---------------------------------------------------------------------------------


class Secrets(BaseSettings):
    """Secrets, read only from environment variables; all optional until a feature needs one."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=True, env_ignore_empty=True, frozen=True)

    bot_token: SecretStr | None = Field(
        default=None, validation_alias="BOT_TOKEN", description="Telegram bot token from @BotFather."
    )
    stripe_secret_key: SecretStr | None = Field(
        default=None, validation_alias="STRIPE_SECRET_KEY", description="Stripe API secret key (sk_...)."
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias="STRIPE_WEBHOOK_SECRET",
        description="Stripe webhook signing secret (whsec_...), to verify Stripe-Signature.",
    )
    telegram_provider_token: SecretStr | None = Field(
        default=None,
        validation_alias="TELEGRAM_PROVIDER_TOKEN",
        description="Payment provider token for Telegram card invoices (not needed for Stars).",
    )
    payload_secret: SecretStr | None = Field(
        default=None, validation_alias="PAYLOAD_SECRET", description="HMAC key that signs invoice payloads."
    )
    telegram_webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias="TELEGRAM_WEBHOOK_SECRET",
        description="secret_token given to setWebhook, checked in X-Telegram-Bot-Api-Secret-Token "
        "(1-256 chars of A-Z a-z 0-9 _ -).",
    )


SECRET_ENV_NAMES: tuple[str, ...] = tuple(
    str(f.validation_alias) for f in Secrets.model_fields.values()
)
