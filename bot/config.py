"""Loading gridshop's configuration: `config.toml` validated into `core.settings.Config`, secrets from the environment.

The file is read with `tomllib` (TOML floats become `Decimal`, never `float`), then validated by
the models in `core.settings`. Any problem becomes a `ConfigError` whose message is one line
naming the file, the key path, the value and what is wrong (`bot.config_errors`).

Secrets come only from the environment (`load_secrets`); `check_secrets` names every variable the
configured features need but lack. A command-line option that overrides a key
(`gridshop run --telegram-api URL`) goes through `with_overrides`, validated like the file.

The models and the money helpers are re-exported here for the CLI and the tests; code below `bot/`
imports them from `core`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.money import MoneyError, format_tfc, minor_to_tfc, tfc_to_minor
from core.settings import (
    SECRET_ENV_NAMES,
    AdminConfig,
    Config,
    DatabaseConfig,
    GridConfig,
    MarketplaceConfig,
    Secrets,
    ServerConfig,
    ServiceConfig,
    StripeConfig,
    TelegramConfig,
)

from .config_errors import format_toml_error, format_validation_error

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
    "with_overrides",
]

CONFIG_ENV_VAR = "GRIDSHOP_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.toml")


class ConfigError(Exception):
    """The configuration (file or environment) is unusable; `str(err)` is one line for the operator."""



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
        raise ConfigError(format_toml_error(source, exc)) from None
    try:
        return Config.model_validate(data, context={"base_dir": file.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None


def with_overrides(config: Config, source: str, updates: Mapping[str, Mapping[str, object]]) -> Config:
    """`config` with `updates` (`{section: {key: value}}`, e.g. from a command-line option) applied
    and the whole validated again exactly like the file; a bad value raises `ConfigError`, one
    line naming `source` (the option), the key, the value and the problem."""
    data = config.model_dump()
    for section, values in updates.items():
        data[section] = {**data[section], **values}
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None


# --- secrets ---------------------------------------------------------------------------------


_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def load_secrets(env: Mapping[str, str] | None = None) -> Secrets:
    """Read secrets from `env` only, or from the process environment when `env` is None."""
    if env is None:
        return Secrets()
    # Passing every field explicitly keeps os.environ out of it: init values beat the env source.
    values: dict[str, Any] = {name: (env.get(name) or None) for name in SECRET_ENV_NAMES}
    return Secrets(**values)


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
