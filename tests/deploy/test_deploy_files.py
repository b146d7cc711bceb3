"""deploy/: the Dockerfile and the systemd unit cannot be run here (no container engine, no
systemd), so this checks that everything they name is what the project has: the console
script and its `run` command, the config file variable, the config keys the image rewrites
(and that the rewritten file loads), the health path, the secrets, the exit statuses."""

from __future__ import annotations

import configparser
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from bot import bot_api_check, polling_guard
from bot.cli import EXIT_USAGE, build_parser
from bot.config import CONFIG_ENV_VAR, load_config
from core.settings import SECRET_ENV_NAMES
from webhooks.app import HEALTH_PATH

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def instructions() -> dict[str, list[str]]:
    """Dockerfile instruction -> its arguments, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    found: dict[str, list[str]] = {}
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.setdefault(word, []).append(rest.strip())
    return found


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / "gridshop.service").read_text())
    return parser


def test_both_start_the_console_script_with_its_run_command() -> None:
    assert "gridshop" in SCRIPTS
    args = build_parser().parse_args(["run"])
    assert args.command == "run"
    docker = instructions()
    assert docker["ENTRYPOINT"] == ['["gridshop"]'] and docker["CMD"] == ['["run"]']
    exec_start = shlex.split(unit()["Service"]["ExecStart"])
    assert Path(exec_start[0]).name == "gridshop" and exec_start[1:] == ["run"]


def test_the_image_rewrites_keys_the_shipped_config_has_and_the_result_loads(tmp_path: Path) -> None:
    shipped = (ROOT / "config.toml").read_text()
    rewritten = shipped
    edits = re.findall(r"-e 's\|\^(.+?)\$\|(.+?)\|'", DOCKERFILE)
    assert len(edits) == 2
    for old, new in edits:
        assert shipped.splitlines().count(old) == 1, old  # one line of config.toml, exactly
        rewritten = rewritten.replace(f"\n{old}\n", f"\n{new}\n")
    [env] = instructions()["ENV"]
    config_path = dict(pair.split("=", 1) for pair in env.split())[CONFIG_ENV_VAR]
    assert f"> {config_path} " in re.sub(r"\\\n", " ", DOCKERFILE)
    (tmp_path / "config.toml").write_text(rewritten)
    config = load_config(tmp_path / "config.toml")
    assert config.database.path == Path("/var/lib/gridshop/gridshop.db")
    assert config.server.host == "0.0.0.0" and config.server.metrics_host == "127.0.0.1"
    docker = instructions()
    assert docker["VOLUME"] == [str(config.database.path.parent)]
    assert docker["EXPOSE"] == [str(config.server.port)]
    assert f"http://127.0.0.1:{config.server.port}{HEALTH_PATH}" in docker["HEALTHCHECK"][0]


def test_neither_runs_as_root_and_both_stop_with_sigterm() -> None:
    docker = instructions()
    assert docker["USER"] == ["gridshop"] and "useradd --system" in docker["RUN"][0]
    assert docker["STOPSIGNAL"] == ["SIGTERM"]
    service = unit()["Service"]
    assert service["User"] == "gridshop" and service["KillSignal"] == "SIGTERM"
    assert "signal.SIGTERM" in (ROOT / "bot" / "runtime.py").read_text()  # the graceful stop


def test_config_and_secrets_come_from_where_gridshop_reads_them() -> None:
    service = unit()["Service"]
    assert service["Environment"] == f"{CONFIG_ENV_VAR}=/etc/gridshop/config.toml"
    assert service["EnvironmentFile"] == "/etc/gridshop/secrets.env"
    example = (DEPLOY / "secrets.env.example").read_text()
    names = [line.split("=", 1)[0] for line in example.splitlines() if line and not line.startswith("#")]
    assert sorted(names) == sorted(SECRET_ENV_NAMES)
    for name in SECRET_ENV_NAMES:  # a secret never goes into the image
        assert name not in DOCKERFILE


@pytest.mark.parametrize("status", [EXIT_USAGE, bot_api_check.EXIT_TOKEN_REJECTED,
                                    bot_api_check.EXIT_BOT_API_NOT_FOUND,
                                    polling_guard.EXIT_SECOND_POLLER])
def test_the_unit_does_not_restart_what_a_restart_cannot_fix(status: int) -> None:
    assert str(status) in unit()["Service"]["RestartPreventExitStatus"].split()
    assert str(bot_api_check.EXIT_BOT_API_UNREACHABLE) not in unit()["Service"]["RestartPreventExitStatus"].split()
