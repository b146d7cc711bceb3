"""Configuration for gridshop: the validated `config.toml` model, secrets from the environment, money helpers.

`config.toml` holds everything an operator may tune and nothing secret. It is read with
`tomllib` (TOML floats become `Decimal`, never `float`), then validated by the pydantic models
below: unknown keys are errors, types are strict (`"10"` is not an int, `true` is not an int),
and every key carries its own description. Any problem becomes a `ConfigError` whose message
is one line naming the file, the key path, the value and what is wrong, for example::

    config.toml: services[1].price = -5: must be greater than 0

Secrets (bot token, Stripe keys, HMAC keys) come only from the environment, through
`Secrets` / `load_secrets`, and are held as `SecretStr` so they never show in a repr or a log.

Money is integer minor units everywhere (TFC cents); `Decimal` only appears here, at the edge
where the file is parsed, and `tfc_to_minor` refuses anything finer than a cent.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_PATH",
    "AdminConfig",
    "Config",
    "ConfigError",
    "DatabaseConfig",
    "GridConfig",
    "MarketplaceConfig",
    "MoneyError",
    "Secrets",
    "ServerConfig",
    "ServiceConfig",
    "StripeConfig",
    "TelegramConfig",
    "check_secrets",
    "format_tfc",
    "load_config",
    "load_secrets",
    "minor_to_tfc",
    "resolve_config_path",
    "tfc_to_minor",
]

CONFIG_ENV_VAR = "GRIDSHOP_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.toml")

_CENT = Decimal("0.01")
_MAX_ERRORS_SHOWN = 5


class ConfigError(Exception):
    """The configuration (file or environment) is unusable; `str(err)` is one line for the operator."""


class MoneyError(ValueError):
    """An amount cannot be represented exactly in TFC cents."""


# --- money helpers ---------------------------------------------------------------------------


def tfc_to_minor(amount: Decimal | int) -> int:
    """Convert a TFC amount to integer cents; raise `MoneyError` on more than 2 decimals.

    Floats are refused outright: `0.1` as a float is not 10 cents.
    """
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int)):
        raise MoneyError(f"TFC amount must be a Decimal or int, not {type(amount).__name__}")
    value = Decimal(amount)
    if not value.is_finite():
        raise MoneyError(f"TFC amount must be a finite number, not {value}")
    cents = value * 100
    if cents != cents.to_integral_value():
        raise MoneyError(f"{value} has more than 2 decimals (the smallest unit is 0.01 TFC)")
    return int(cents)


def minor_to_tfc(minor: int) -> Decimal:
    """Convert integer cents to a TFC `Decimal` with exactly 2 decimals (e.g. 450 -> 4.50)."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise MoneyError(f"minor units must be an int, not {type(minor).__name__}")
    return (Decimal(minor) / 100).quantize(_CENT)


def format_tfc(minor: int) -> str:
    """Render integer cents for people: 450 -> '4.50 TFC'."""
    return f"{minor_to_tfc(minor)} TFC"


# --- field types -----------------------------------------------------------------------------


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


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Decimalish = Annotated[Decimal, BeforeValidator(_to_decimal)]
TfcAmount = Annotated[Decimal, BeforeValidator(_to_decimal), AfterValidator(_check_cents)]
Seconds = Annotated[float, BeforeValidator(_to_float)]
ResolvedPath = Annotated[Path, BeforeValidator(_to_path)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Text = Annotated[str, AfterValidator(_not_blank)]

_SERVICE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_BOT_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")
_SSH_PUBLIC_KEY = re.compile(
    r"(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)"
    r" +[A-Za-z0-9+/]+={0,3}( .*)?"
)
_WEBHOOK_PORTS = (443, 80, 88, 8443)  # the only ports Telegram delivers webhooks to


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --- sections --------------------------------------------------------------------------------


class DatabaseConfig(_Section):
    """`[database]`: the SQLite file."""

    path: ResolvedPath = Field(
        default="data/gridshop.db",  # type: ignore[assignment]
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
            raise _At(("max_topup",), self.max_topup, f"must be at least min_topup ({self.min_topup})")
        for i, preset in enumerate(self.topup_presets):
            if not self.min_topup <= preset <= self.max_topup:
                raise _At(
                    ("topup_presets", i),
                    preset,
                    f"must be between min_topup ({self.min_topup}) and max_topup ({self.max_topup})",
                )
        return self

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


class TelegramConfig(_Section):
    """`[telegram]`: Bot API endpoint, update delivery and in-chat payments."""

    api_base: HttpUrl = Field(
        default="https://api.telegram.org",
        description="Bot API base URL; point it at the sandbox emulator in tests.",
    )
    mode: Literal["polling", "webhook"] = Field(
        default="polling", description='How updates arrive: "polling" (getUpdates) or "webhook".'
    )
    webhook_url: str = Field(
        default="",
        validate_default=True,
        description="Public https URL Telegram posts updates to (e.g. https://shop.example.com/webhooks/telegram); "
        'required when mode = "webhook".',
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

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            if info.data.get("mode") == "webhook":
                raise ValueError('required (an https:// URL) when telegram.mode = "webhook"')
            return value
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("must be an https:// URL")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        if port is not None and port not in _WEBHOOK_PORTS:
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
        default=300, gt=0, le=3600, description="Seconds one tfcmd call may take before it is killed."
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

    @field_validator("ssh_key")
    @classmethod
    def _check_ssh_key(cls, value: str) -> str:
        if not value:
            return value
        if "PRIVATE KEY" in value:
            raise _Redacted("is a private key; put the public key (one line, e.g. ssh-ed25519 AAAA...) here")
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
    services: list[ServiceConfig] = Field(default_factory=list, description="The catalogue, one [[services]] each.")

    @model_validator(mode="after")
    def _finish(self) -> Config:
        seen: dict[str, int] = {}
        for i, service in enumerate(self.services):
            if service.id in seen:
                raise _At(
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


class _At(ValueError):
    """Raised by a validator that knows the exact sub-key and value at fault (e.g. a duplicate id)."""

    def __init__(self, path: tuple[str | int, ...], value: Any, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.value = value


class _Redacted(ValueError):
    """A validation error whose offending value must not be echoed (it may be a secret)."""


# Config keys that look like secrets, mapped to the environment variable that holds that secret.
_SECRET_HINTS: dict[str, str] = {
    "token": "BOT_TOKEN",
    "bot_token": "BOT_TOKEN",
    "provider_token": "TELEGRAM_PROVIDER_TOKEN",
    "payment_token": "TELEGRAM_PROVIDER_TOKEN",
    "webhook_secret": "STRIPE_WEBHOOK_SECRET",
    "secret_token": "TELEGRAM_WEBHOOK_SECRET",
    "secret_key": "STRIPE_SECRET_KEY",
    "api_key": "STRIPE_SECRET_KEY",
    "payload_secret": "PAYLOAD_SECRET",
}
_SECRET_WORDS = ("token", "secret", "password", "passwd", "api_key", "apikey", "private", "credential", "mnemonic")


def _secret_hint(loc: tuple[str | int, ...]) -> str | None:
    key = str(loc[-1]).lower()
    if not any(word in key for word in _SECRET_WORDS):
        return None
    section = str(loc[0]) if len(loc) > 1 else ""
    env = _SECRET_HINTS.get(key)
    if section == "telegram" and key == "webhook_secret":
        env = "TELEGRAM_WEBHOOK_SECRET"
    if section == "stripe" and key in ("token", "secret"):
        env = "STRIPE_SECRET_KEY"
    names = env or ", ".join(_ENV_NAMES)
    return f"secrets come from the environment ({names}), never from this file"


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class whose fields live at `loc` (the parent of an unknown key)."""
    model: type[BaseModel] = Config
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        if get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _key_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _render(value: Any) -> str:
    """A value as it would be written in TOML, shortened to fit on a line."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, Decimal, float)):
        text = str(value)
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, Path):
        text = json.dumps(str(value), ensure_ascii=False)
    elif isinstance(value, list):
        text = "[" + ", ".join(_render(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{ " + ", ".join(f"{k} = {_render(v)}" for k, v in value.items()) + " }"
    else:
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_SIMPLE_MESSAGES = {
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "string_type": "must be a string (in double quotes)",
    "bool_type": "must be true or false",
    "float_type": "must be a number",
    "list_type": "must be an array",
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "model_attributes_type": "must be a table",
    "decimal_type": "must be a number",
}


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind in _SIMPLE_MESSAGES:
        message = _SIMPLE_MESSAGES[kind]
        if kind == "int_type" and isinstance(value, bool):
            message += ", not a boolean"
        elif kind in ("int_type", "bool_type") and isinstance(value, str):
            message += " (write it without quotes)"
        elif kind in ("int_type", "int_from_float") and isinstance(value, Decimal):
            message += " (no decimal point)"
        return message
    if kind == "greater_than":
        return f"must be greater than {ctx['gt']}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than":
        return f"must be less than {ctx['lt']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "string_too_short":
        return "must not be empty" if ctx["min_length"] == 1 else f"must be at least {ctx['min_length']} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} items"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    msg = str(error.get("msg", kind))
    return msg[:1].lower() + msg[1:]


def _format_error(error: Mapping[str, Any]) -> str:
    """One error as `key.path = value: problem` (the value left out where it is unknown or secret)."""
    loc: tuple[str | int, ...] = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "extra_forbidden":
        line = f"{_key_path(loc)}: unknown key"
        hint = _secret_hint(loc)
        if hint:
            return f"{line}: {hint}"
        model = _model_at(loc[:-1])
        if model is not None:
            close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
            if close:
                line += f" (did you mean {close[0]}?)"
        return line
    if kind == "missing":
        return f"{_key_path(loc)}: missing required key"
    cause = ctx.get("error")
    if isinstance(cause, _At):
        return f"{_key_path(loc + cause.path)} = {_render(cause.value)}: {cause}"
    if isinstance(cause, _Redacted):
        return f"{_key_path(loc)}: {cause}"
    return f"{_key_path(loc)} = {_render(value)}: {_describe(error)}"


def _format_validation_error(source: str, exc: ValidationError) -> str:
    lines = [_format_error(e) for e in exc.errors()]
    text = f"{source}: " + "; ".join(lines[:_MAX_ERRORS_SHOWN])
    if len(lines) > _MAX_ERRORS_SHOWN:
        text += f"; and {len(lines) - _MAX_ERRORS_SHOWN} more"
    return " ".join(text.splitlines())


_TOML_POSITION = re.compile(r"^(?P<msg>.*?) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def _format_toml_error(source: str, exc: tomllib.TOMLDecodeError) -> str:
    text = " ".join(str(exc).splitlines())
    match = _TOML_POSITION.match(text)
    if match:
        return f"{source}: line {match['line']}, column {match['col']}: TOML syntax error: {match['msg']}"
    return f"{source}: TOML syntax error: {text}"


# --- loading ---------------------------------------------------------------------------------


def resolve_config_path(cli_path: str | None, env: Mapping[str, str] | None = None) -> Path:
    """Pick the config file: `--config PATH` if given, else `$GRIDSHOP_CONFIG`, else `./config.toml`.

    `env` defaults to `os.environ`; an empty value counts as unset.
    """
    environ = os.environ if env is None else env
    if cli_path:
        return Path(cli_path).expanduser()
    from_env = environ.get(CONFIG_ENV_VAR, "")
    if from_env:
        return Path(from_env).expanduser()
    return DEFAULT_CONFIG_PATH


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file; raise `ConfigError` (one line) on any problem.

    Relative paths inside the file are resolved against the file's folder.
    """
    file = Path(path)
    source = str(path)
    try:
        with file.open("rb") as f:
            data = tomllib.load(f, parse_float=Decimal)
    except FileNotFoundError:
        raise ConfigError(
            f"{source}: file not found (give --config PATH or set {CONFIG_ENV_VAR})"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not valid UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_format_toml_error(source, exc)) from None
    try:
        return Config.model_validate(data, context={"base_dir": file.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(source, exc)) from None


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


_ENV_NAMES: tuple[str, ...] = tuple(
    str(f.validation_alias) for f in Secrets.model_fields.values()
)
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def load_secrets(env: Mapping[str, str] | None = None) -> Secrets:
    """Read secrets from `env` only, or from the process environment when `env` is None."""
    if env is None:
        return Secrets()
    # Passing every field explicitly keeps os.environ out of it: init values beat the env source.
    return Secrets(**{name: (env.get(name) or None) for name in _ENV_NAMES})


def check_secrets(config: Config, secrets: Secrets) -> None:
    """Raise `ConfigError` naming every environment variable the configured features need but lack."""
    needed = ["BOT_TOKEN", "PAYLOAD_SECRET"]
    if config.telegram.card_enabled:
        needed.append("TELEGRAM_PROVIDER_TOKEN")
    if config.telegram.mode == "webhook":
        needed.append("TELEGRAM_WEBHOOK_SECRET")
    if config.stripe.enabled:
        needed += ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"]
    values = {str(f.validation_alias): getattr(secrets, name) for name, f in Secrets.model_fields.items()}
    missing = [name for name in needed if values[name] is None]
    if missing:
        raise ConfigError(f"environment: {', '.join(missing)} not set (needed by the configuration)")
    webhook_secret = secrets.telegram_webhook_secret
    if webhook_secret is not None and not _WEBHOOK_SECRET.fullmatch(webhook_secret.get_secret_value()):
        raise ConfigError("environment: TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -")
