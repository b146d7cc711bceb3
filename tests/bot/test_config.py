"""Tests for bot/config.py: the shipped config.toml, one-line errors, path precedence, secrets, money helpers."""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.config import (
    Config,
    ConfigError,
    MoneyError,
    Secrets,
    ServiceConfig,
    check_secrets,
    format_tfc,
    load_config,
    load_secrets,
    minor_to_tfc,
    resolve_config_path,
    tfc_to_minor,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config.toml"

SERVICE = """
[[services]]
id = "{id}"
name = "Small VM"
description = "1 vCPU"
price = {price}
cpu = 1
memory_gb = 2
disk_gb = 25
period_days = 30
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'config.toml'}: ")
    assert "Traceback" not in message
    return message.split(": ", 1)[1]


# --- the shipped file -----------------------------------------------------------------------


def test_shipped_config_loads() -> None:
    config = load_config(SHIPPED)
    assert config.marketplace.currency == "TFC"
    assert config.marketplace.commission_rate == Decimal("0.10")
    assert config.marketplace.topup_presets_minor == [500, 1000, 2500, 5000]
    assert config.telegram.mode == "polling"
    assert config.grid.backend == "simulated"
    assert config.database.path == REPO / "data" / "gridshop.db"
    ids = [s.id for s in config.services]
    assert len(ids) >= 3 and len(set(ids)) == len(ids)
    assert any(not s.enabled for s in config.services)
    assert all(s.enabled for s in config.enabled_services)
    small = config.service("vm-small")
    assert small is not None and small.price_minor == 400 and isinstance(small.price_minor, int)


def test_shipped_config_sets_every_key_with_a_comment_above() -> None:
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    for i, line in enumerate(lines):
        if re.match(r"^[a-z_]+ *=", line):
            assert lines[i - 1].startswith("#"), f"config.toml line {i + 1} has no comment above: {line}"
    optional = {"sim_seed", "sim_state_path"}  # shown commented out
    for section, model in Config.model_fields.items():
        sub = model.annotation
        if section == "services":
            for entry in data["services"]:
                assert set(entry) == set(ServiceConfig.model_fields)
            continue
        assert isinstance(sub, type) and issubclass(sub, BaseModel)
        assert set(data[section]) | optional >= set(sub.model_fields), section
        for key in optional & set(sub.model_fields):
            assert f"# {key} = " in SHIPPED.read_text(encoding="utf-8")


def _all_models() -> list[type[BaseModel]]:
    out: list[type[BaseModel]] = [Config, ServiceConfig]
    for field in Config.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            out.append(field.annotation)
    return out


def test_every_field_has_a_description_and_is_in_the_docs() -> None:
    docs = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    for model in _all_models():
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            if model is not Config:
                assert f"`{name}`" in docs, f"{name} missing from docs/configuration.md"
    for field in Secrets.model_fields.values():
        assert field.description
        assert f"`{field.validation_alias}`" in docs


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.database.busy_timeout_ms == 5000
    assert config.server.port == 8080 and config.server.host == "127.0.0.1"
    assert config.stripe.checkout_expiry_minutes == 30
    assert config.grid.max_attempts == 3 and config.grid.sim_seed is None
    assert config.services == []


# --- one-line errors ------------------------------------------------------------------------


def test_unknown_key(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[marketplace]\ncommision_rate = 0.1\n")
    assert message.startswith("marketplace.commision_rate: unknown key")
    assert "commission_rate" in message  # the suggestion


def test_unknown_section(tmp_path: Path) -> None:
    assert error_of(tmp_path, "[paymentz]\nx = 1\n") == "paymentz: unknown key"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[server]\nport = "8080"\n', 'server.port = "8080": must be an integer'),
        ("[server]\nport = true\n", "server.port = true: must be an integer, not a boolean"),
        ("[server]\nport = 80.5\n", "server.port = 80.5: must be an integer"),
        ("[stripe]\nenabled = 1\n", "stripe.enabled = 1: must be true or false"),
        ("[server]\nhost = 1\n", "server.host = 1: must be a string"),
        ("database = 5\n", "database = 5: must be a table"),
        ("[admin]\nuser_ids = [1, \"2\"]\n", 'admin.user_ids[1] = "2": must be an integer'),
    ],
)
def test_wrong_type_is_not_coerced(tmp_path: Path, text: str, expected: str) -> None:
    assert error_of(tmp_path, text).startswith(expected)


def test_negative_price(tmp_path: Path) -> None:
    text = SERVICE.format(id="a", price="4") + SERVICE.format(id="b", price="-5")
    assert error_of(tmp_path, text) == "services[1].price = -5: must be greater than 0"


def test_price_with_too_many_decimals(tmp_path: Path) -> None:
    message = error_of(tmp_path, SERVICE.format(id="a", price="4.005"))
    assert message.startswith("services[0].price = 4.005: must have at most 2 decimals")


def test_price_as_string_is_exact(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SERVICE.format(id="a", price='"4.10"')))
    assert config.services[0].price == Decimal("4.10")
    assert config.services[0].price_minor == 410


@pytest.mark.parametrize(
    ("value", "problem"), [("1.0", "must be less than 1"), ("-0.1", "must be at least 0")]
)
def test_commission_out_of_range(tmp_path: Path, value: str, problem: str) -> None:
    message = error_of(tmp_path, f"[marketplace]\ncommission_rate = {value}\n")
    assert message == f"marketplace.commission_rate = {value}: {problem}"


def test_commission_is_decimal_without_float_error(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[marketplace]\ncommission_rate = 0.1\n"))
    assert config.marketplace.commission_rate == Decimal("0.1")
    assert isinstance(config.marketplace.commission_rate, Decimal)


def test_duplicate_service_id(tmp_path: Path) -> None:
    text = SERVICE.format(id="vm", price="4") + SERVICE.format(id="other", price="4") + SERVICE.format(id="vm", price="5")
    message = error_of(tmp_path, text)
    assert message == 'services[2].id = "vm": duplicate service id (also services[0].id)'


def test_missing_required_key(tmp_path: Path) -> None:
    text = SERVICE.format(id="a", price="4").replace("cpu = 1\n", "")
    assert error_of(tmp_path, text) == "services[0].cpu: missing required key"


def test_bad_service_id(tmp_path: Path) -> None:
    message = error_of(tmp_path, SERVICE.format(id="Small VM", price="4"))
    assert message.startswith('services[0].id = "Small VM": must be 1-32 lowercase letters')


def test_toml_syntax_error(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[server]\nport = 8080\nhost = = 1\n")
    assert re.fullmatch(r"line 3, column \d+: TOML syntax error: .+", message), message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: file not found (give --config PATH or set GRIDSHOP_CONFIG)"


def test_webhook_mode_needs_webhook_url(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[telegram]\nmode = "webhook"\n')
    assert message == 'telegram.webhook_url = "": required (an https:// URL) when telegram.mode = "webhook"'


def test_webhook_url_must_be_https(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[telegram]\nmode = "webhook"\nwebhook_url = "http://x.example/hook"\n')
    assert message == ('telegram.webhook_url = "http://x.example/hook": must be an https:// URL (plain http '
                       "only for a loopback host, 127.0.0.1, ::1 or localhost: a local Bot API emulator)")
    config = load_config(write(tmp_path, '[telegram]\nmode = "webhook"\nwebhook_url = "https://x.example/hook"\n'))
    assert config.telegram.webhook_url == "https://x.example/hook"
    message = error_of(tmp_path, '[telegram]\nmode = "webhook"\nwebhook_url = "https://x.example:8080/hook"\n')
    assert message.endswith("port must be one of 443, 80, 88, 8443 (Telegram delivers webhooks only there)")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/webhooks/telegram", "http://[::1]:9000/hook",
                                 "http://localhost:18443/webhooks/telegram"])
def test_plain_http_webhook_url_only_on_a_loopback_host(tmp_path: Path, url: str) -> None:
    config = load_config(write(tmp_path, f'[telegram]\nmode = "webhook"\nwebhook_url = "{url}"\n'))
    assert config.telegram.webhook_url == url
    for outside in ("http://10.0.0.5:8080/hook", "http://127.0.0.1.example.com/hook", "http://shop.example/hook"):
        message = error_of(tmp_path, f'[telegram]\nmode = "webhook"\nwebhook_url = "{outside}"\n')
        assert "plain http only for a loopback host" in message, message


def test_database_url_is_postgresql_without_a_password(tmp_path: Path) -> None:
    default = load_config(write(tmp_path, "")).database
    assert default.target == default.path and default.url == ""
    message = error_of(tmp_path, '[database]\nurl = "mysql://db/shop"\n')
    assert message == 'database.url = "mysql://db/shop": must be a postgresql:// URL'
    message = error_of(tmp_path, '[database]\nurl = "postgresql://shop:hunter2@db/shop"\n')
    assert message.startswith("database.url: holds a password; secrets come from the environment")
    assert "hunter2" not in message
    message = error_of(tmp_path, '[database]\nurl = "postgresql://db:5432"\n')
    assert message == 'database.url = "postgresql://db:5432": must name a database (postgresql://user@host/DATABASE)'
    url = "postgresql://shop@db:5432/shop"
    assert load_config(write(tmp_path, f'[database]\nurl = "{url}"\n')).database.target == url


def test_metrics_listener_is_off_by_default_and_never_the_public_port(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[server]\nport = 8080\n"))
    assert (config.server.metrics_host, config.server.metrics_port) == ("127.0.0.1", 0)
    message = error_of(tmp_path, "[server]\nport = 8080\nmetrics_port = 8080\n")
    assert message == "server.metrics_port = 8080: must differ from server.port (the public webhook listener)"


def test_literal_choice(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[grid]\nbackend = "docker"\n')
    assert message.startswith('grid.backend = "docker": must be one of')


def test_topup_presets_within_bounds(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[marketplace]\nmax_topup = 100\ntopup_presets = [5, 500]\n")
    assert message == "marketplace.topup_presets[1] = 500: must be between min_topup (1) and max_topup (100)"


def test_several_errors_on_one_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[server]\nport = 0\nhost = ""\n[stripe]\ncheckout_expiry_minutes = 5\n')
    parts = message.split("; ")
    assert "server.port = 0: must be at least 1" in parts
    assert "stripe.checkout_expiry_minutes = 5: must be at least 30" in parts


# --- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ('[telegram]\ntoken = "123:ABC"\n', "BOT_TOKEN"),
        ('bot_token = "123:ABC"\n', "BOT_TOKEN"),
        ('[stripe]\nsecret_key = "sk_live_123"\n', "STRIPE_SECRET_KEY"),
        ('[stripe]\nwebhook_secret = "whsec_123"\n', "STRIPE_WEBHOOK_SECRET"),
        ('[telegram]\nprovider_token = "284:TEST"\n', "TELEGRAM_PROVIDER_TOKEN"),
    ],
)
def test_secret_in_file_is_rejected_without_echoing_it(tmp_path: Path, text: str, env: str) -> None:
    message = error_of(tmp_path, text)
    assert "unknown key" in message
    assert f"secrets come from the environment ({env})" in message
    assert "123" not in message


def test_private_ssh_key_is_rejected_without_echoing_it(tmp_path: Path) -> None:
    text = '[grid]\nssh_key = "-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXk"\n'
    message = error_of(tmp_path, text)
    assert message.startswith("grid.ssh_key: is a private key")
    assert "b3BlbnNzaC1rZXk" not in message


def test_secrets_from_env_mapping_and_hidden_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_from_process_env")
    secrets = load_secrets({"BOT_TOKEN": "123:SECRET", "PAYLOAD_SECRET": "hmac-key", "STRIPE_WEBHOOK_SECRET": ""})
    assert secrets.bot_token is not None and secrets.bot_token.get_secret_value() == "123:SECRET"
    assert secrets.payload_secret is not None and secrets.payload_secret.get_secret_value() == "hmac-key"
    assert secrets.stripe_secret_key is None  # only the given mapping is read
    assert secrets.stripe_webhook_secret is None  # empty counts as unset
    for text in (repr(secrets), str(secrets), str(secrets.model_dump())):
        assert "123:SECRET" not in text and "hmac-key" not in text


def test_secrets_from_process_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "42:FROMENV")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "abc_DEF-1")
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    secrets = load_secrets()
    assert secrets.bot_token is not None and secrets.bot_token.get_secret_value() == "42:FROMENV"
    assert secrets.telegram_webhook_secret is not None
    assert secrets.stripe_secret_key is None
    assert "42:FROMENV" not in repr(secrets)


def test_check_secrets_names_missing_variables(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[stripe]\nenabled = true\n"))
    with pytest.raises(ConfigError) as info:
        check_secrets(config, load_secrets({"BOT_TOKEN": "1:A", "PAYLOAD_SECRET": "k"}))
    assert str(info.value) == "environment: STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET not set (needed by the configuration)"
    check_secrets(config, load_secrets({
        "BOT_TOKEN": "1:A", "PAYLOAD_SECRET": "k", "STRIPE_SECRET_KEY": "sk", "STRIPE_WEBHOOK_SECRET": "wh",
    }))


# --- paths -----------------------------------------------------------------------------------


def test_config_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"GRIDSHOP_CONFIG": str(tmp_path / "env.toml")}
    assert resolve_config_path(str(tmp_path / "cli.toml"), env) == tmp_path / "cli.toml"
    assert resolve_config_path(None, env) == tmp_path / "env.toml"
    assert resolve_config_path(None, {}) == Path("config.toml")
    assert resolve_config_path(None, {"GRIDSHOP_CONFIG": ""}) == Path("config.toml")
    monkeypatch.setenv("GRIDSHOP_CONFIG", str(tmp_path / "process.toml"))
    assert resolve_config_path(None) == tmp_path / "process.toml"
    assert resolve_config_path("explicit.toml") == Path("explicit.toml")
    monkeypatch.delenv("GRIDSHOP_CONFIG")
    assert resolve_config_path(None) == Path("config.toml")


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "config.toml").write_text('[database]\npath = "db/shop.db"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # elsewhere, to prove the cwd does not matter
    config = load_config("etc/config.toml")
    assert config.database.path == folder.resolve() / "db" / "shop.db"
    assert config.database.path.is_absolute()
    assert config.grid.sim_state_path == folder.resolve() / "db" / "grid-sim.sqlite3"

    (folder / "config.toml").write_text(
        '[database]\npath = "/var/lib/gridshop/x.db"\n[grid]\nsim_state_path = "sim.json"\n', encoding="utf-8"
    )
    config = load_config(folder / "config.toml")
    assert config.database.path == Path("/var/lib/gridshop/x.db")
    assert config.grid.sim_state_path == folder.resolve() / "sim.json"


# --- money helpers ---------------------------------------------------------------------------


def test_money_helpers() -> None:
    assert tfc_to_minor(Decimal("4.5")) == 450
    assert tfc_to_minor(Decimal("4.500")) == 450
    assert tfc_to_minor(7) == 700
    assert minor_to_tfc(450) == Decimal("4.50")
    assert format_tfc(450) == "4.50 TFC"
    assert format_tfc(-5) == "-0.05 TFC"
    with pytest.raises(MoneyError, match="more than 2 decimals"):
        tfc_to_minor(Decimal("0.001"))
    with pytest.raises(MoneyError):
        tfc_to_minor(0.1)  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        tfc_to_minor(Decimal("NaN"))
    with pytest.raises(MoneyError):
        tfc_to_minor(True)


def test_a_service_has_its_name_and_description_per_language(tmp_path: Path) -> None:
    text = SERVICE.format(id="vm-small", price=4) + '[services.translations.ru]\nname = "Малая ВМ"\n'
    [service] = load_config(write(tmp_path, text)).services
    assert service.translations["ru"].name == "Малая ВМ" and service.translations["ru"].description is None


def test_a_service_translation_in_a_language_the_shop_does_not_speak_is_refused(tmp_path: Path) -> None:
    text = SERVICE.format(id="vm-small", price=4) + '[services.translations.de]\nname = "Kleine VM"\n'
    assert error_of(tmp_path, text) == (
        'services[0].translations = { de = { name = "Kleine VM" } }: de: the shop speaks en, ru')
