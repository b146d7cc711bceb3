#!/usr/bin/env python3
"""A fake `tfcmd` for the tests: the real one's commands, flags, log lines and error texts.

It speaks like tfcmd v0.15/0.16 (threefoldtech/tfgrid-sdk-go grid-cli): zerolog console lines
on stderr ("3:37PM INF ..."), a failure as `FTL error="..."` with exit status 1, cobra's
"Error: ..." for bad flags, and `get vm` logging "vm:" followed by the deployment JSON.

State lives in the JSON file named by $FAKE_TFCMD_STATE. Knobs, all environment variables:

  FAKE_TFCMD_FAIL        how `deploy vm` fails: no_capacity | no_nodes | node_down |
                         wait_timeout | leave_contract | low_balance
  FAKE_TFCMD_FAIL_TIMES  fail only the first N deploy attempts (default: every attempt)
  FAKE_TFCMD_HANG        commands that hang forever, comma separated (deploy, get, cancel);
                         a hanging deploy has already created its contracts
  FAKE_TFCMD_PIDFILE     a hanging fake writes its pid here first
  FAKE_TFCMD_LOGGED_OUT  "1": behave as if `tfcmd login` was never run
  FAKE_TFCMD_COLOR       "1": colour the log like zerolog does on a terminal
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

STATE_PATH = os.environ.get("FAKE_TFCMD_STATE", "")
COLOR = os.environ.get("FAKE_TFCMD_COLOR") == "1"
UBUNTU_FLIST = "https://hub.grid.tf/tf-official-apps/threefoldtech-ubuntu-22.04.flist"
GB = 1024**3

VALUE_FLAGS = {
    "name": "string", "ssh": "string", "node": "uint32", "farm": "uint64", "cpu": "uint8",
    "memory": "uint64", "rootfs": "uint64", "disk": "uint64", "volume": "uint64",
    "flist": "string", "entrypoint": "string", "gpus": "strings", "env": "stringToString",
}
BOOL_FLAGS = {"ipv4": False, "ipv6": False, "ygg": False, "mycelium": True}
SHORTHANDS = {"n": "name", "e": "env"}
UINT_BITS = {"uint8": 8, "uint32": 32, "uint64": 64}
DEFAULTS = {"farm": 1, "cpu": 1, "memory": 1, "rootfs": 2, "disk": 0, "volume": 0}


# -- output ---------------------------------------------------------------------------------

def _clock() -> str:
    return time.strftime("%I:%M%p").lstrip("0")


def _paint(text: str, code: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if COLOR else text


def log(level: str, message: str, **fields: Any) -> None:
    colours = {"INF": "32", "WRN": "33", "ERR": "31", "FTL": "31"}
    parts = [_paint(_clock(), "90"), _paint(level, colours[level]), message]
    parts += [f"{_paint(key + '=', '36')}{_quote(value)}" for key, value in fields.items()]
    sys.stderr.write(" ".join(p for p in parts if p) + "\n")


def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if any(c in text for c in ' "\\=\n') else text


def fatal(error: str) -> NoReturn:
    log("FTL", "", error=error)
    sys.exit(1)


def cobra_error(message: str, usage: str) -> NoReturn:
    sys.stderr.write(f"Error: {message}\nUsage:\n  {usage} [flags]\n\n")
    sys.exit(1)


# -- state ----------------------------------------------------------------------------------

@contextmanager
def state() -> Iterator[dict[str, Any]]:
    if not STATE_PATH:
        fatal("FAKE_TFCMD_STATE is not set")
    with open(STATE_PATH + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(STATE_PATH) as f:
                data = json.load(f)
        except FileNotFoundError:
            data = {}
        data.setdefault("next_contract", 100063)
        data.setdefault("twin", 192)
        data.setdefault("deployments", {})
        data.setdefault("contracts_created", {})
        data.setdefault("cancelled", [])
        data.setdefault("deploy_attempts", 0)
        data.setdefault("calls", [])
        yield data
        tmp = STATE_PATH + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, STATE_PATH)


def record_call(argv: list[str]) -> None:
    with state() as data:
        data["calls"].append(argv)


def new_contract(data: dict[str, Any], name: str) -> int:
    contract_id = data["next_contract"]
    data["next_contract"] += 1
    data["contracts_created"][name] = data["contracts_created"].get(name, 0) + 1
    return contract_id


def require_login() -> None:
    if os.environ.get("FAKE_TFCMD_LOGGED_OUT") == "1":
        path = os.path.expanduser("~/.config/.tfgridconfig")
        fatal(
            "failed to load configuration try to login again using tf-grid login: could not "
            f"read configuration file {path}: open {path}: no such file or directory"
        )


def start_peer() -> None:
    with state() as data:
        twin = data["twin"]
    log("INF", "starting peer", session=f"tf-{random.randint(1_000_000, 9_999_999)}", twin=twin)


def hang_if_asked(command: str) -> None:
    if command not in os.environ.get("FAKE_TFCMD_HANG", "").split(","):
        return
    pidfile = os.environ.get("FAKE_TFCMD_PIDFILE")
    if pidfile:
        with open(pidfile, "w") as f:
            f.write(str(os.getpid()))
    time.sleep(3600)


# -- flags ----------------------------------------------------------------------------------

def parse_deploy_flags(args: list[str]) -> dict[str, Any]:
    usage = "tfcmd deploy vm"
    flags: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            cobra_error(f'unknown command "{arg}" for "{usage}"', usage)
        if arg.startswith("--"):
            key, _, inline = arg[2:].partition("=")
        else:
            short, _, inline = arg[1:].partition("=")
            if short not in SHORTHANDS:
                cobra_error(f"unknown shorthand flag: '{short}' in {arg}", usage)
            key = SHORTHANDS[short]
        if key in BOOL_FLAGS:
            if inline and inline not in ("true", "false"):
                cobra_error(
                    f'invalid argument "{inline}" for "--{key}" flag: strconv.ParseBool: '
                    f'parsing "{inline}": invalid syntax', usage,
                )
            flags[key] = inline != "false"
            i += 1
            continue
        if key not in VALUE_FLAGS:
            cobra_error(f"unknown flag: --{key}", usage)
        if inline or "=" in arg:
            value = inline
        else:
            if i + 1 >= len(args):
                cobra_error(f"flag needs an argument: --{key}", usage)
            value = args[i + 1]
            i += 1
        flags[key] = convert(key, value, usage)
        i += 1
    missing = [f'"{k}"' for k in ("name", "ssh") if k not in flags]
    if missing:
        cobra_error(f"required flag(s) {', '.join(missing)} not set", usage)
    if "node" in flags and "farm" in flags:
        cobra_error(
            "if any flags in the group [node farm] are set none of the others can be; "
            "[farm node] were all set", usage,
        )
    for key, default in {**DEFAULTS, **BOOL_FLAGS}.items():
        flags.setdefault(key, default)
    return flags


def convert(key: str, value: str, usage: str) -> Any:
    kind = VALUE_FLAGS[key]
    if kind in UINT_BITS:
        bits = UINT_BITS[kind]
        if not value.isdigit():
            cobra_error(
                f'invalid argument "{value}" for "--{key}" flag: strconv.ParseUint: parsing '
                f'"{value}": invalid syntax', usage,
            )
        if int(value) >= 2**bits:
            cobra_error(
                f'invalid argument "{value}" for "--{key}" flag: strconv.ParseUint: parsing '
                f'"{value}": value out of range', usage,
            )
        return int(value)
    return value


# -- commands -------------------------------------------------------------------------------

def deploy_vm(args: list[str]) -> None:
    flags = parse_deploy_flags(args)
    require_login()
    name = flags["name"]
    try:
        with open(flags["ssh"]) as f:
            ssh_key = f.read()
    except OSError as exc:
        fatal(f"open {flags['ssh']}: {exc.strerror.lower()}")
    start_peer()

    with state() as data:
        data["deploy_attempts"] += 1
        attempt = data["deploy_attempts"]
    fail = os.environ.get("FAKE_TFCMD_FAIL", "")
    fail_times = os.environ.get("FAKE_TFCMD_FAIL_TIMES")
    if fail and fail_times is not None and attempt > int(fail_times):
        fail = ""

    mru, sru = flags["memory"] * GB, (flags["rootfs"] + flags["disk"]) * GB
    if fail == "no_nodes":
        fatal(
            f"could not find enough nodes with options: FreeMRU: {mru}, FreeSRU: {sru}, "
            f"Status: [up], FarmIDs: [{flags['farm']}], Healthy: true, AvailableFor: 192"
        )
    node = flags.get("node") or flags["farm"] * 10 + 1
    if fail == "low_balance":
        fatal("failed to create contract: account contains 1200, min fee is 20000")

    log("INF", "deploying network")
    if fail == "node_down":
        fatal(
            f"failed to deploy network on node {node}: failed to get node client: failed to "
            f"get node {node}: context deadline exceeded"
        )
    with state() as data:
        network_contract = new_contract(data, name)
        vm_contract = new_contract(data, name) if fail != "no_capacity" else None
        entry = make_entry(flags, node, network_contract, vm_contract, ssh_key)
        entry["healthy"] = False
        if fail != "no_capacity":
            data["deployments"].setdefault(name, []).append(entry)
    hang_if_asked("deploy")
    log("INF", "deploying vm")

    if fail in ("no_capacity", "wait_timeout"):
        reason = (
            f"node {node} does not have enough resources. needed: [mru: {mru}, sru: {sru}, "
            f"hru: 0], free: [mru: {mru // 2}, sru: {sru // 2}, hru: 0]"
            if fail == "no_capacity"
            else f"error waiting deployment: waiting for deployment {vm_contract} timed out"
        )
        log("WRN", "error happened while deploying. removing network")
        with state() as data:
            data["cancelled"].append(network_contract)
            if vm_contract is not None:
                data["cancelled"].append(vm_contract)
                data["deployments"][name] = [
                    e for e in data["deployments"][name] if e["ContractID"] != vm_contract
                ]
                if not data["deployments"][name]:
                    del data["deployments"][name]
        fatal(f"failed to deploy vm on node {node}: {reason}")
    if fail == "leave_contract":
        fatal(
            f"failed to deploy vm on node {node}: error sending deployment to node {node}: "
            f"connection reset by peer; error cancelling contract: rpc timeout; you must "
            f"cancel it manually (id: {vm_contract})"
        )

    with state() as data:
        for stored in data["deployments"][name]:
            if stored["ContractID"] == vm_contract:
                stored["healthy"] = True
                entry = stored
    vm = entry["vm"]
    if flags["ipv4"]:
        log("INF", f"vm ipv4: {vm['computedip']}")
    if flags["ipv6"]:
        log("INF", f"vm ipv6: {vm['computedip6']}")
    if flags["ygg"]:
        log("INF", f"vm planetary ip: {vm['planetary_ip']}")
    if flags["mycelium"]:
        log("INF", f"vm mycelium ip: {vm['mycelium_ip']}")


def make_entry(
    flags: dict[str, Any], node: int, network_contract: int, vm_contract: int | None, key: str
) -> dict[str, Any]:
    name = flags["name"]
    rng = random.Random(f"{name}:{vm_contract}")
    hexes = [f"{rng.getrandbits(16):x}" for _ in range(7)]
    vm = {
        "name": name,
        "flist": flags.get("flist", UBUNTU_FLIST),
        "computedip": "185.206.122.33/24" if flags["ipv4"] else "",
        "computedip6": "2a02:1802:5e:0:1000::f6/64" if flags["ipv6"] else "",
        "planetary_ip": "302:9e63:7d43:b742:" + ":".join(hexes[:4]) if flags["ygg"] else "",
        "mycelium_ip": f"{rng.randint(0x400, 0x5ff):x}:" + ":".join(hexes)
        if flags["mycelium"] else "",
        "ip": "10.20.2.2",
        "cpu": flags["cpu"],
        "memory": flags["memory"] * 1024,
        "rootfs_size": flags["rootfs"] * 1024,
        "entrypoint": flags.get("entrypoint", "/sbin/zinit init"),
        "mounts": [{"disk_name": f"{name}disk", "mount_point": "/data"}] if flags["disk"] else [],
        "env_vars": {"SSH_KEY": key},
        "network_name": f"{name}network",
    }
    return {
        "ContractID": vm_contract,
        "NetworkContractID": network_contract,
        "NodeID": node,
        "light": not (flags["ipv4"] or flags["ipv6"] or flags["ygg"]),
        "disk": flags["disk"],
        "vm": vm,
    }


def get_vm(args: list[str]) -> None:
    if len(args) != 1:
        cobra_error(f"accepts 1 arg(s), received {len(args)}", "tfcmd get vm")
    require_login()
    hang_if_asked("get")
    start_peer()
    name = args[0]
    with state() as data:
        entries = data["deployments"].get(name, [])
    if not entries:
        fatal(f"no vm with name {name} found")
    entry = entries[-1]
    vm = dict(entry["vm"])
    if not entry["healthy"]:
        vm["mycelium_ip"] = ""
        vm["planetary_ip"] = ""
    if entry["light"]:
        for key in ("computedip", "computedip6", "planetary_ip"):
            vm.pop(key, None)
    node = entry["NodeID"]
    disks = [{"name": f"{name}disk", "size": entry["disk"], "description": ""}] if entry["disk"] else []
    doc = {
        "Name": name,
        "NodeID": node,
        "SolutionType": f"vm/{name}",
        "SolutionProvider": None,
        "NetworkName": f"{name}network",
        "Disks": disks,
        "Zdbs": [],
        "Vms": [] if entry["light"] else [vm],
        "VmsLight": [vm] if entry["light"] else [],
        "QSFS": [],
        "Volumes": [],
        "NodeDeploymentID": {str(node): entry["ContractID"]},
        "ContractID": entry["ContractID"],
        "IPrange": "10.20.2.0/24",
    }
    log("INF", "vm:\n" + json.dumps(doc, indent="\t"))


def cancel(args: list[str]) -> None:
    if len(args) != 1:
        cobra_error(f"accepts 1 arg(s), received {len(args)}", "tfcmd cancel")
    require_login()
    hang_if_asked("cancel")
    start_peer()
    name = args[0]
    log("INF", "canceling contracts", **{"project name": name})
    with state() as data:
        entries = data["deployments"].pop(name, [])
        for entry in entries:
            data["cancelled"] += [entry["NetworkContractID"], entry["ContractID"]]
    if not entries:
        log("INF", "No contracts exist for the project name", **{"project name": name})
        return
    log("INF", "project is canceled", **{"project name": name})


def login(args: list[str]) -> None:
    sys.stdout.write("Please enter your mnemonics: ")
    words = sys.stdin.readline().split()
    if len(words) not in (12, 24):
        fatal("failed to validate mnemonics")
    sys.stdout.write("Please enter grid network (main,test): ")
    network = sys.stdin.readline().strip()
    if network not in ("dev", "qa", "test", "main"):
        fatal("invalid grid network, must be one of: dev, test, qa and main")
    with state() as data:
        data["network"] = network  # the fake never stores the mnemonic
    log("INF", "configuration saved")


def main(argv: list[str]) -> None:
    record_call(argv)
    if argv[:2] == ["deploy", "vm"]:
        deploy_vm(argv[2:])
    elif argv[:2] == ["get", "vm"]:
        get_vm(argv[2:])
    elif argv[:1] == ["cancel"]:
        cancel(argv[1:])
    elif argv[:1] == ["login"]:
        login(argv[1:])
    elif not argv:
        sys.stdout.write("A cli for interacting with Threefold Grid\n")
    else:
        cobra_error(f'unknown command "{argv[0]}" for "tfcmd"', "tfcmd")


if __name__ == "__main__":
    main(sys.argv[1:])
