#!/usr/bin/env python3
"""A fake `tfcmd` for the tests, made from the real one's source.

Follows threefoldtech/tfgrid-sdk-go at tag v0.15.14 (2024-09-02, the newest release), with the
texts of v0.14.6 (the last release whose `get vm` said "no vm with name X found") and of the
`development` branch (light VMs) where they differ; pick one with FAKE_TFCMD_VERSION
(`v0.15.14` default, `v0.14.6`, `development`). Files followed, all under that tag:

  grid-cli/cmd/root.go              zerolog console writer on stderr; cobra errors exit 1
  grid-cli/cmd/deploy_vm.go         flags, defaults, the node filter when --node is not given,
                                    the "vm ... ip:" lines
  grid-cli/internal/cmd/deploy.go   "deploying network" / "deploying vm", the wrapped errors, the
                                    network removed when the vm fails, project name "vm/<name>"
  grid-cli/cmd/get_vm.go, internal/cmd/get.go   "vm:\\n<json>", not-found text, exit 1
  grid-cli/cmd/cancel.go            three CancelByProjectName calls, exit 0 with nothing found
  grid-client/deployer/tf_plugin_client_projects.go  "canceling contracts" / "project is canceled"
  grid-client/deployer/tf_plugin_client.go  twin lookup errors (they embed the mnemonic)
  grid-client/deployer/deployer.go  contract creation, "you must cancel it manually", the
                                    4-minute no-progress wait timeout
  grid-client/deployer/node_filter.go  "could not find enough nodes with options: ..."
  grid-client/graphql/contracts.go  contracts listed through the indexer: Created/GracePeriod
                                    node contracts of the twin whose deployment data names the
                                    project

The fake plays the chain and its indexer. State lives in the JSON file $FAKE_TFCMD_STATE:
`chain` holds every contract as the chain has it, `contracts` what the indexer has seen (in
grid-proxy's contract JSON, `pkg/types/contracts.go`), `bills` contract billing reports.
`sandbox.gridproxy --contracts-file` serves `contracts` and `bills` from the same file.

Knobs, all environment variables:

  FAKE_TFCMD_FAIL        how `deploy vm` fails: no_capacity | no_nodes | node_down |
                         wait_timeout | leave_contract | low_balance | twin_lookup
  FAKE_TFCMD_FAIL_TIMES  fail only the first N deploy attempts (default: every attempt)
  FAKE_TFCMD_REFUSE_NODES  node ids whose contracts the chain refuses (NodeNotAvailableToDeploy)
  FAKE_TFCMD_INDEX_LAG   tfcmd runs before the indexer shows a contract change (default 0)
  FAKE_TFCMD_HANG        commands that hang forever, comma separated (deploy, get, cancel);
                         a hanging deploy has already created its contracts
  FAKE_TFCMD_PIDFILE     a hanging fake writes its pid here first
  FAKE_TFCMD_LOGGED_OUT  "1": behave as if `tfcmd login` was never run
  FAKE_TFCMD_COLOR       "1": colour the log like zerolog does on a terminal
"""

from __future__ import annotations

import fcntl
import hashlib
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
VERSION = os.environ.get("FAKE_TFCMD_VERSION", "v0.15.14")
VERSIONS = ("v0.14.6", "v0.15.14", "development")
UBUNTU_FLIST = "https://hub.grid.tf/tf-official-apps/threefoldtech-ubuntu-22.04.flist"
GB = 1024**3
# A valid BIP-39 test mnemonic: what `tfcmd login` stored, and what some errors print.
MNEMONIC = ("actress online cable another alter awake entire canal fence clap orange fuel "
            "grid glance toward")
TWIN = 192

VALUE_FLAGS = {
    "name": "string", "ssh": "string", "node": "uint32", "farm": "uint64", "cpu": "uint8",
    "memory": "uint64", "rootfs": "uint64", "disk": "uint64", "flist": "string",
    "entrypoint": "string", "gpus": "strings", "env": "stringToString",
}
if VERSION == "development":
    VALUE_FLAGS["volume"] = "uint64"
# deploy_vm.go init(): ygg defaults to true up to v0.15.x, false on development.
BOOL_FLAGS = {"ipv4": False, "ipv6": False, "ygg": VERSION != "development", "mycelium": True}
SHORTHANDS = {"n": "name", "e": "env"}
UINT_BITS = {"uint8": 8, "uint32": 32, "uint64": 64}
DEFAULTS = {"farm": 1, "cpu": 1, "memory": 1, "rootfs": 2, "disk": 0, "volume": 0}


# -- output: zerolog's ConsoleWriter on stderr (grid-cli/cmd/root.go) ----------------------------

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
    """`log.Fatal().Err(err).Send()`: one FTL line with the error field, exit status 1."""
    log("FTL", "", error=error)
    sys.exit(1)


def cobra_error(message: str, usage: str) -> NoReturn:
    sys.stderr.write(f"Error: {message}\nUsage:\n  {usage} [flags]\n\n")
    sys.exit(1)


# -- state: the chain and its indexer ---------------------------------------------------------

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
        for key, default in (("next_contract", 100063), ("twin", TWIN), ("step", 0),
                             ("chain", []), ("contracts", []), ("vms", {}), ("bills", {}),
                             ("deploy_attempts", 0), ("calls", [])):
            data.setdefault(key, default)
        yield data
        tmp = STATE_PATH + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, STATE_PATH)


def _index_lag() -> int:
    return int(os.environ.get("FAKE_TFCMD_INDEX_LAG", "0") or 0)


def advance_indexer(data: dict[str, Any]) -> None:
    """One tfcmd run later: the indexer shows every chain change whose lag has passed."""
    data["step"] += 1
    seen = {c["contract_id"]: c for c in data["contracts"]}
    for contract in data["chain"]:
        if contract["index_at"] <= data["step"]:
            seen[contract["contract_id"]] = {k: v for k, v in contract.items() if k != "index_at"}
    data["contracts"] = sorted(seen.values(), key=lambda c: c["contract_id"])


def create_contract(data: dict[str, Any], node: int, kind: str, name: str, project: str) -> int:
    """A node contract as grid-proxy lists it (pkg/types/contracts.go Contract/NodeContractDetails);
    its deployment data is grid-client's workloads.DeploymentData JSON."""
    contract_id = data["next_contract"]
    data["next_contract"] += 1
    deployment_data = json.dumps(
        {"version": 0, "type": kind, "name": name, "projectName": project}, separators=(",", ":"))
    data["chain"].append({
        "contract_id": contract_id,
        "twin_id": data["twin"],
        "state": "Created",
        "created_at": int(time.time()),
        "type": "node",
        "details": {
            "nodeId": node,
            "deployment_data": deployment_data,
            "deployment_hash": hashlib.md5(deployment_data.encode()).hexdigest(),
            "number_of_public_ips": 0,
            "farm_name": f"farm{node // 10}",
            "farm_id": node // 10,
        },
        "index_at": data["step"] + _index_lag(),
    })
    return contract_id


def cancel_contracts(data: dict[str, Any], contract_ids: list[int]) -> None:
    for contract in data["chain"]:
        if contract["contract_id"] in contract_ids and contract["state"] != "Deleted":
            contract["state"] = "Deleted"
            contract["index_at"] = data["step"] + _index_lag()
            data["vms"].pop(str(contract["contract_id"]), None)


def project_contracts(data: dict[str, Any], project: str) -> list[dict[str, Any]]:
    """graphql/contracts.go ListContractsOfProjectName: the twin's Created/GracePeriod node
    contracts, as the indexer has them, whose deployment data names `project`."""
    found = []
    for contract in data["contracts"]:
        if contract["twin_id"] != data["twin"] or contract["state"] not in ("Created", "GracePeriod"):
            continue
        meta = json.loads(contract["details"]["deployment_data"])
        if meta.get("projectName") == project:
            found.append(contract)
    return found


def record_call(argv: list[str]) -> None:
    with state() as data:
        data["calls"].append(argv)
        advance_indexer(data)


def require_login() -> None:
    """internal/config/config.go GetUserConfig, wrapped by the command's log.Fatal."""
    if os.environ.get("FAKE_TFCMD_LOGGED_OUT") == "1":
        path = os.path.expanduser("~/.config/.tfgridconfig")
        fatal(
            "failed to load configuration try to login again using tf-grid login: could not "
            f"read configuration file {path}: open {path}: no such file or directory"
        )


def start_peer() -> None:
    """deployer.NewTFPluginClient: the twin lookup (its error embeds the mnemonic,
    tf_plugin_client.go), then the RMB peer logs its session."""
    if os.environ.get("FAKE_TFCMD_FAIL") == "twin_lookup":
        fatal(f"failed to get twin for the given mnemonic/seed {MNEMONIC}: "
              "failed to query twin id: context deadline exceeded")
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


# -- flags: cobra/pflag's texts ---------------------------------------------------------------

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


# -- commands ---------------------------------------------------------------------------------

def _refused(node: int) -> bool:
    refused = os.environ.get("FAKE_TFCMD_REFUSE_NODES", "")
    return str(node) in [n.strip() for n in refused.split(",") if n.strip()]


def deploy_vm(args: list[str]) -> None:
    flags = parse_deploy_flags(args)
    name = flags["name"]
    try:
        with open(flags["ssh"]) as f:
            ssh_key = f.read()
    except OSError as exc:
        fatal(f"open {flags['ssh']}: {exc.strerror.lower()}")
    require_login()
    start_peer()

    with state() as data:
        data["deploy_attempts"] += 1
        attempt = data["deploy_attempts"]
        twin = data["twin"]
    fail = os.environ.get("FAKE_TFCMD_FAIL", "")
    fail_times = os.environ.get("FAKE_TFCMD_FAIL_TIMES")
    if fail and fail_times is not None and attempt > int(fail_times):
        fail = ""

    # deploy_vm.go (development): no public IP and no yggdrasil means a light VM.
    light = VERSION == "development" and not (flags["ipv4"] or flags["ipv6"] or flags["ygg"])
    mru, sru = flags["memory"] * GB, (flags["rootfs"] + flags["disk"]) * GB
    if "node" not in flags:
        if fail == "no_nodes":
            # node_filter.go FilterNodes: serializeOptions prints the filter's schema keys.
            fatal(
                f"could not find enough nodes with options: status: up, free_mru: {mru}, "
                f"free_sru: {sru}, free_ips: 0, farm_ids: {flags['farm']}, rented: false, "
                f"available_for: {twin}, healthy: true"
            )
    node = flags.get("node") or flags["farm"] * 10 + 1
    project = name if VERSION == "v0.14.6" else f"vm/{name}"

    log("INF", "deploying network")
    if fail == "node_down":
        fatal(
            f"failed to deploy network on node {node}: failed to get node client: failed to "
            f"get node {node}: context deadline exceeded"
        )
    if fail == "low_balance":
        # deployer.go: CreateNodeContract's error, wrapped; the text is substrate's.
        fatal(
            f"failed to deploy network on node {node}: failed to create contract on node "
            f"{node}: Inability to pay some fees (e.g. account balance too low)"
        )
    if _refused(node):
        fatal(
            f"failed to deploy network on node {node}: failed to create contract on node "
            f"{node}: NodeNotAvailableToDeploy"
        )
    with state() as data:
        network_contract = create_contract(data, node, "network", f"{name}network", project)
    log("INF", "deploying vm")
    with state() as data:
        vm_contract = create_contract(data, node, "vm", name, project)
        data["vms"][str(vm_contract)] = make_entry(flags, node, network_contract, vm_contract,
                                                   ssh_key, light, healthy=False)
    hang_if_asked("deploy")

    if fail in ("no_capacity", "wait_timeout", "leave_contract"):
        if fail == "no_capacity":
            reason = (
                f"node {node} does not have enough resources. needed: [mru: {mru}, sru: {sru}, "
                f"hru: 0], free: [mru: {mru // 2}, sru: {sru // 2}, hru: 0]"
            )
        elif fail == "wait_timeout":
            reason = f"error waiting deployment: waiting for deployment {vm_contract} timed out"
        else:
            # deployer.go: the contract stays when cancelling it after a failed send fails too.
            reason = (
                f"error cancelling contract: rpc timeout; you must cancel it manually "
                f"(id: {vm_contract}): error sending deployment to node {node}: connection "
                "reset by peer"
            )
        with state() as data:
            if fail != "leave_contract":
                cancel_contracts(data, [vm_contract])
        log("WRN", "error happened while deploying. removing network")
        with state() as data:
            cancel_contracts(data, [network_contract])
        fatal(f"failed to deploy vm on node {node}: {reason}")

    with state() as data:
        entry = data["vms"][str(vm_contract)]
        entry["healthy"] = True
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
    flags: dict[str, Any], node: int, network_contract: int, vm_contract: int, key: str,
    light: bool, healthy: bool,
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
        "light": light,
        "disk": flags["disk"],
        "healthy": healthy,
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
        if VERSION == "v0.14.6":
            # graphql/contracts.go GetNodeContractsByTypeAndName, v0.14.6
            contracts = [c for c in project_contracts(data, name)
                         if json.loads(c["details"]["deployment_data"])["type"] == "vm"]
            if not contracts:
                fatal(f"no vm with name {name} found")
        else:
            # internal/cmd/get.go GetVM: old project name "<name>", then "vm/<name>"
            contracts = project_contracts(data, name) or project_contracts(data, f"vm/{name}")
            if not contracts:
                fatal(f"couldn't find any contracts with name {name}")
        entries = [data["vms"][str(c["contract_id"])] for c in contracts
                   if str(c["contract_id"]) in data["vms"]]
    if not entries:
        node = contracts[-1]["details"]["nodeId"]
        fatal(f"failed to get deployment {contracts[-1]['contract_id']} of node {node}: "
              "deployment not found")
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
        "QSFS": [],
        "NodeDeploymentID": {str(node): entry["ContractID"]},
        "ContractID": entry["ContractID"],
        "IPrange": "10.20.2.0/24",
    }
    if VERSION == "development":
        doc["VmsLight"] = [vm] if entry["light"] else []
        doc["Volumes"] = []
    log("INF", "vm:\n" + json.dumps(doc, indent="\t"))


def cancel_project(project: str) -> None:
    """tf_plugin_client_projects.go CancelByProjectName: cancels what the indexer lists (nothing
    is no error), logging before and after."""
    log("INF", "canceling contracts", **{"project name": project})
    with state() as data:
        ids = [c["contract_id"] for c in project_contracts(data, project)]
        cancel_contracts(data, ids)
    log("INF", "project is canceled", **{"project name": project})


def cancel(args: list[str]) -> None:
    if len(args) != 1:
        cobra_error(f"accepts 1 arg(s), received {len(args)}", "tfcmd cancel")
    require_login()
    hang_if_asked("cancel")
    start_peer()
    name = args[0]
    if VERSION == "v0.14.6":
        cancel_project(name)
        return
    for project in (f"vm/{name}", f"kubernetes/{name}", name):  # cmd/cancel.go
        cancel_project(project)


def login(args: list[str]) -> None:
    """internal/cmd/login.go."""
    sys.stdout.write("Please enter your mnemonics: ")
    words = sys.stdin.readline().split()
    if len(words) not in (12, 15, 18, 21, 24):
        fatal("failed to validate mnemonics")
    sys.stdout.write("Please enter grid network (main,test): ")
    network = sys.stdin.readline().strip()
    if network not in ("dev", "qa", "test", "main"):
        fatal("invalid grid network, must be one of: dev, test, qa and main")
    with state() as data:
        data["network"] = network  # the fake never stores the mnemonic
    log("INF", "configuration saved")


def main(argv: list[str]) -> None:
    if VERSION not in VERSIONS:
        fatal(f"FAKE_TFCMD_VERSION must be one of {VERSIONS}")
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
