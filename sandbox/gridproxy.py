"""A local stand-in for ThreeFold's gridproxy: `GET /nodes`, `/nodes/{id}`, `/contracts`,
`/contracts/{id}/bills`, `/ping`.

Follows tfgrid-sdk-go v0.15.14 grid-proxy (the newest release, 2024-09-02):

- `internal/explorer/param_parser.go` + gorilla/schema v1.4.1: query keys are decoded into
  the endpoint's filter and `types.Limit`; an unknown key, a uint or bool that does not parse
  (strconv: "1", "t", "true", "TRUE", "0", "f", "false", ...) is HTTP 400
  `{"error": "failed to decode params: schema: ..."}`; empty values are ignored; list keys
  (`status`, `farm_ids`, `state`) are comma separated.
- `pkg/types/limit.go`: `size` (default 50), `page` (default 1), `ret_count` adds the `count`,
  `size` and `pages` headers (`helpers.go createResponse`), `sort_by` must name a sort field of
  the type, `sort_order` asc/desc.
- `internal/explorer/db/setup.sql`: the reserves kept back from every node count as used:
  memory max(total / 10, 2 GiB), SSD 20 GiB; free = total - used, SSD not doubled.
- `internal/explorer/db/postgres.go`: the node filters (`available_for`: rented by that twin,
  or not rented, not in a dedicated farm and no extra fee; nodes rented by it first), ordered
  by node id; contracts by twin, state, type, node, name.
- `pkg/types/nodes.go`, `contracts.go`: the JSON field names and casing.

Run it alone with `python -m sandbox.gridproxy --port 8085 [--nodes nodes.json]
[--contracts-file state.json]` (a JSON object with "contracts" and "bills", re-read on every
request, so another process can play the chain). Imports nothing of gridshop.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

GB = 1024**3
MEMORY_RESERVE_MIN = 2 * GB  # setup.sql: GREATEST(mru / 10, 2147483648)
SSD_RESERVE = 20 * GB  # setup.sql: 21474836480

NODES_KEY = web.AppKey("nodes", list)
CONTRACTS_KEY = web.AppKey("contracts", list)
BILLS_KEY = web.AppKey("bills", dict)
CONTRACTS_FILE_KEY = web.AppKey("contracts_file", str)


def memory_reserve(total_mru: int) -> int:
    return max(total_mru // 10, MEMORY_RESERVE_MIN)


def node_json(
    node_id: int,
    farm_id: int,
    *,
    total_mru_gb: int = 64,
    used_mru_gb: int = 8,
    total_sru_gb: int = 1024,
    used_sru_gb: int = 100,
    total_hru_gb: int = 0,
    cru: int = 16,
    status: str = "up",
    healthy: bool = True,
    country: str = "Belgium",
    city: str = "Ghent",
    ipv4: str = "",
    rented_by: int = 0,
    dedicated_farm: bool = False,
    extra_fee: int = 0,
    free_ips: int = 0,
) -> dict[str, Any]:
    """One node in the shape of gridproxy's `types.Node`. `used_*_gb` is what contracts booked;
    the served `used_resources` add the reserves, as gridproxy does."""
    total_mru, total_sru = total_mru_gb * GB, total_sru_gb * GB
    return {
        "id": f"0-{node_id}",
        "nodeId": node_id,
        "farmId": farm_id,
        "farmName": f"farm{farm_id}",
        "twinId": 1000 + node_id,
        "country": country,
        "gridVersion": 3,
        "city": city,
        "uptime": 864000,
        "created": 1680000000,
        "farmingPolicyId": 1,
        "updatedAt": 1764100000,
        "total_resources": {"cru": cru, "sru": total_sru, "hru": total_hru_gb * GB, "mru": total_mru},
        "used_resources": {
            "cru": cru // 4,
            "sru": used_sru_gb * GB + SSD_RESERVE,
            "hru": 0,
            "mru": used_mru_gb * GB + memory_reserve(total_mru),
        },
        "location": {"country": country, "city": city, "longitude": 3.72, "latitude": 51.05},
        "publicConfig": {"domain": "", "gw4": "", "gw6": "", "ipv4": ipv4, "ipv6": ""},
        "status": status,
        "certificationType": "Diy",
        "dedicated": dedicated_farm or bool(rented_by),
        "inDedicatedFarm": dedicated_farm,
        "rentContractId": 7000 + node_id if rented_by else 0,
        "rented": bool(rented_by),
        "rentable": dedicated_farm and not rented_by,
        "rentedByTwinId": rented_by,
        "serialNumber": f"SN-{node_id:06d}",
        "power": {"state": "Up" if status == "up" else "Down", "target": "Up"},
        "num_gpu": 0,
        "extraFee": extra_fee,
        "healthy": healthy,
        "dmi": {"bios": {}, "baseboard": {}, "processor": [], "memory": []},
        "speed": {"upload": 0, "download": 0},
        "gpus": [],
        "price_usd": 12.5,
        # not served: the free public IPs of the node's farm (public_ips_cache)
        "_free_ips": free_ips,
    }


def default_nodes() -> list[dict[str, Any]]:
    """A small grid: roomy and tight nodes in farms 1-3, one down, one unhealthy, one rented
    by someone else, one in a dedicated farm."""
    return [
        node_json(11, 1, total_mru_gb=64, used_mru_gb=8, total_sru_gb=1024, used_sru_gb=100),
        node_json(12, 1, total_mru_gb=16, used_mru_gb=10, total_sru_gb=512, used_sru_gb=400),
        node_json(21, 2, total_mru_gb=128, used_mru_gb=16, total_sru_gb=2048, used_sru_gb=200,
                  country="Egypt", city="Cairo", ipv4="185.206.122.1/24", free_ips=1),
        node_json(22, 2, status="down"),
        node_json(23, 2, healthy=False),
        node_json(24, 2, rented_by=4242),
        node_json(31, 3, total_mru_gb=8, used_mru_gb=2, total_sru_gb=256, used_sru_gb=0),
        node_json(41, 4, dedicated_farm=True, total_mru_gb=256, used_mru_gb=0),
    ]


class BadRequest(Exception):
    pass


# -- query decoding: gorilla/schema as param_parser.go uses it ---------------------------------

def _uint(text: str) -> int | None:
    return int(text) if text.isdigit() and int(text) < 2**64 else None


_TRUE = ("1", "t", "T", "TRUE", "true", "True")  # strconv.ParseBool
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _bool(text: str) -> bool | None:
    return True if text in _TRUE else False if text in _FALSE else None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


_CONVERT: dict[str, Callable[[str], Any]] = {
    "uint": _uint, "bool": _bool, "float": _float, "str": lambda text: text,
}
LIMIT_KEYS = {"size": "uint", "page": "uint", "ret_count": "bool", "randomize": "bool",
              "sort_by": "str", "sort_order": "str", "balance": "float"}
NODE_KEYS = {
    "status": "strs", "free_mru": "uint", "free_hru": "uint", "free_sru": "uint",
    "total_mru": "uint", "total_hru": "uint", "total_sru": "uint", "total_cru": "uint",
    "country": "str", "country_contains": "str", "city": "str", "city_contains": "str",
    "region": "str", "farm_name": "str", "farm_name_contains": "str", "farm_ids": "uints",
    "free_ips": "uint", "ipv4": "bool", "ipv6": "bool", "domain": "bool", "dedicated": "bool",
    "in_dedicated_farm": "bool", "rentable": "bool", "owned_by": "uint", "rented": "bool",
    "rented_by": "uint", "available_for": "uint", "node_id": "uint", "node_ids": "uints",
    "twin_id": "uint", "certification_type": "str", "has_gpu": "bool", "num_gpu": "uint",
    "gpu_device_id": "str", "gpu_device_name": "str", "gpu_vendor_id": "str",
    "gpu_vendor_name": "str", "gpu_available": "bool", "healthy": "bool", "price_min": "float",
    "price_max": "float", "excluded": "uints", "has_ipv6": "bool",
}
CONTRACT_KEYS = {
    "contract_id": "uint", "twin_id": "uint", "node_id": "uint", "type": "str", "state": "strs",
    "name": "str", "number_of_public_ips": "uint", "deployment_data": "str",
    "deployment_hash": "str", "farm_name": "str", "farm_id": "uint",
}
# the `sort` tags of types.Node (nested capacity as total_/used_ + field) and types.Contract
NODE_SORT = {"node_id", "farm_id", "twin_id", "country", "city", "uptime", "created",
             "updated_at", "status", "dedicated_farm", "rent_contract_id", "rented", "rentable",
             "num_gpu", "extra_fee", "price_usd", "free_cru",
             *(f"{p}_{r}" for p in ("total", "used") for r in ("cru", "sru", "hru", "mru"))}
CONTRACT_SORT = {"contract_id", "twin_id", "state", "created_at", "type"}


def decode(query: dict[str, list[str]], keys: dict[str, str], *, strict: bool = True) -> dict[str, Any]:
    """Decode a query the way gorilla/schema does into `keys` (and the limit keys); raises
    BadRequest with schema's text. `strict=False` ignores unknown keys (an endpoint that only
    decodes `types.Limit`, like the bills)."""
    errors: list[str] = []
    out: dict[str, Any] = {}
    for key, values in query.items():
        values = [v for v in values if v != ""]  # ignoreEmptyParams
        if not values:
            continue
        kind = keys.get(key) or LIMIT_KEYS.get(key)
        if kind is None:
            if strict:
                errors.append(f"schema: invalid path {json.dumps(key)}")
            continue
        if kind in ("strs", "uints"):
            items: list[Any] = []
            for index, value in enumerate(values):
                for part in value.split(","):
                    if kind == "strs":
                        items.append(part)
                        continue
                    number = _uint(part)
                    if number is None:
                        errors.append(f"schema: error converting value for index {index} of "
                                      f"{json.dumps(key)}")
                        break
                    items.append(number)
            out[key] = items
            continue
        converted = _CONVERT[kind](values[-1])
        if converted is None:
            errors.append(f"schema: error converting value for {json.dumps(key)}")
        out[key] = converted
    if errors:
        first = errors[0]
        more = len(errors) - 1
        suffix = "" if not more else " (and 1 other error)" if more == 1 else f" (and {more} other errors)"
        raise BadRequest(f"failed to decode params: {first}{suffix}")
    return out


def check_limit(params: dict[str, Any], sort_fields: set[str], type_name: str) -> None:
    """types.Limit.Valid."""
    sort_by = params.get("sort_by")
    if sort_by and sort_by not in sort_fields:
        raise BadRequest(f"{json.dumps(sort_by)} is not a sort field for {type_name} type")
    order = params.get("sort_order")
    if order and order.upper() not in ("ASC", "DESC"):
        raise BadRequest(f"{json.dumps(order)} is not a valid sort order")


# -- nodes ------------------------------------------------------------------------------------

def free(node: dict[str, Any], resource: str) -> int:
    """resources_cache.free_*: total minus used, the reserves being part of used."""
    return int(node["total_resources"][resource] - node["used_resources"][resource])


def _available_for(node: dict[str, Any], twin: int) -> bool:
    if node["rentedByTwinId"]:
        return bool(node["rentedByTwinId"] == twin)
    return not node["inDedicatedFarm"] and node["extraFee"] == 0


_NODE_TESTS: dict[str, Callable[[dict[str, Any], Any], bool]] = {
    "status": lambda n, v: n["status"] in v,
    "free_mru": lambda n, v: free(n, "mru") >= v,
    "free_sru": lambda n, v: free(n, "sru") >= v,
    "free_hru": lambda n, v: free(n, "hru") >= v,
    "total_mru": lambda n, v: n["total_resources"]["mru"] >= v,
    "total_sru": lambda n, v: n["total_resources"]["sru"] >= v,
    "total_hru": lambda n, v: n["total_resources"]["hru"] >= v,
    "total_cru": lambda n, v: n["total_resources"]["cru"] >= v,
    "country": lambda n, v: n["country"].lower() == v.lower(),
    "country_contains": lambda n, v: v.lower() in n["country"].lower(),
    "city": lambda n, v: n["city"].lower() == v.lower(),
    "city_contains": lambda n, v: v.lower() in n["city"].lower(),
    "farm_name": lambda n, v: n["farmName"].lower() == v.lower(),
    "farm_name_contains": lambda n, v: v.lower() in n["farmName"].lower(),
    "farm_ids": lambda n, v: n["farmId"] in v,
    "free_ips": lambda n, v: n.get("_free_ips", 0) >= v,
    "ipv4": lambda n, v: bool(n["publicConfig"]["ipv4"]) == v,
    "ipv6": lambda n, v: bool(n["publicConfig"]["ipv6"]) == v,
    "domain": lambda n, v: bool(n["publicConfig"]["domain"]) == v,
    "in_dedicated_farm": lambda n, v: n["inDedicatedFarm"] == v,
    "dedicated": lambda n, v: n["dedicated"] == v,
    "rentable": lambda n, v: n["rentable"] == v,
    "rented": lambda n, v: n["rented"] == v,
    "rented_by": lambda n, v: n["rentedByTwinId"] == v,
    "available_for": _available_for,
    "node_id": lambda n, v: n["nodeId"] == v,
    "node_ids": lambda n, v: n["nodeId"] in v,
    "twin_id": lambda n, v: n["twinId"] == v,
    "healthy": lambda n, v: n["healthy"] == v,
    "has_gpu": lambda n, v: (n["num_gpu"] > 0) == v,
    "num_gpu": lambda n, v: n["num_gpu"] >= v,
    "excluded": lambda n, v: n["nodeId"] not in v,
    "certification_type": lambda n, v: n["certificationType"].lower() == v.lower(),
}


def _sort_key(field: str) -> Callable[[dict[str, Any]], Any]:
    if field.startswith(("total_", "used_")):
        part, resource = field.split("_", 1)
        return lambda n: n[f"{part}_resources"][resource]
    if field == "free_cru":
        return lambda n: n["total_resources"]["cru"] - n["used_resources"]["cru"]
    names = {"node_id": "nodeId", "farm_id": "farmId", "twin_id": "twinId", "updated_at": "updatedAt",
             "dedicated_farm": "inDedicatedFarm", "rent_contract_id": "rentContractId",
             "extra_fee": "extraFee"}
    key = names.get(field, field)
    return lambda n: n.get(key, 0)


def filter_nodes(nodes: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """postgres.go GetNodes: every filter given, ordered by node id (or `sort_by`), with the
    nodes rented by the `available_for` twin first."""
    matched = [n for n in nodes
               if all(test(n, params[key]) for key, test in _NODE_TESTS.items() if key in params)]
    sort_by = params.get("sort_by") or "node_id"
    matched.sort(key=_sort_key(sort_by), reverse=str(params.get("sort_order", "")).upper() == "DESC")
    if "available_for" in params:
        matched.sort(key=lambda n: 0 if n["rentedByTwinId"] else 1)
    return matched


def served(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if not k.startswith("_")}


def page(request: web.Request, items: list[Any], params: dict[str, Any]) -> web.Response:
    """Limit/offset paging and, with ret_count, the count/size/pages headers."""
    size = params.get("size", 50)
    number = max(params.get("page", 1), 1)
    headers = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "*"}
    if params.get("ret_count"):
        pages = math.ceil(len(items) / size) if size else 0
        headers.update(count=str(len(items)), size=str(size), pages=str(pages))
    start = (number - 1) * size
    return web.json_response(items[start:start + size], headers=headers)


Handler = Callable[[web.Request], Awaitable[web.Response]]


def answers_400(handler: Handler) -> Handler:
    """mw/action.go AsHandlerFunc with mw.BadRequest: HTTP 400, `{"error": "<text>"}`."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except BadRequest as exc:
            return web.json_response({"error": str(exc)}, status=400)

    return wrapped


def list_params(request: web.Request, keys: dict[str, str], sort_fields: set[str],
                type_name: str) -> dict[str, Any]:
    """parseQueryParams(filter, limit) then limit.Valid, as every list endpoint does."""
    params = decode(_query(request), keys)
    check_limit(params, sort_fields, type_name)
    return params


@answers_400
async def list_nodes(request: web.Request) -> web.Response:
    params = list_params(request, NODE_KEYS, NODE_SORT, "Node")
    matched = filter_nodes(request.app[NODES_KEY], params)
    return page(request, [served(n) for n in matched], params)


async def get_node(request: web.Request) -> web.Response:
    node_id = int(request.match_info["node_id"])  # the route only matches digits
    for node in request.app[NODES_KEY]:
        if node["nodeId"] == node_id:
            nested = {k: v for k, v in served(node).items()
                      if k not in ("total_resources", "used_resources")}
            nested["capacity"] = {
                "total_resources": node["total_resources"],
                "used_resources": node["used_resources"],
            }
            return web.json_response(nested)
    return web.json_response({"error": "node not found"}, status=404)


# -- contracts --------------------------------------------------------------------------------

def _chain(app: web.Application) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    path = app.get(CONTRACTS_FILE_KEY)
    if not path:
        return app[CONTRACTS_KEY], app[BILLS_KEY]
    try:
        data = json.loads(Path(path).read_text())
    except (FileNotFoundError, ValueError):
        return [], {}
    return list(data.get("contracts", [])), dict(data.get("bills", {}))


_CONTRACT_TESTS: dict[str, Callable[[dict[str, Any], Any], bool]] = {
    "contract_id": lambda c, v: c["contract_id"] == v,
    "twin_id": lambda c, v: c["twin_id"] == v,
    "node_id": lambda c, v: c["details"].get("nodeId") == v,
    "type": lambda c, v: c["type"] == v,
    "state": lambda c, v: c["state"] in v,
    "name": lambda c, v: c["details"].get("name") == v,  # name contracts only
    "deployment_data": lambda c, v: c["details"].get("deployment_data") == v,
    "deployment_hash": lambda c, v: c["details"].get("deployment_hash") == v,
    "farm_id": lambda c, v: c["details"].get("farm_id") == v,
    "farm_name": lambda c, v: c["details"].get("farm_name") == v,
    "number_of_public_ips": lambda c, v: c["details"].get("number_of_public_ips", 0) >= v,
}


@answers_400
async def list_contracts(request: web.Request) -> web.Response:
    params = list_params(request, CONTRACT_KEYS, CONTRACT_SORT, "Contract")
    contracts, _ = _chain(request.app)
    matched = [c for c in contracts
               if all(test(c, params[key]) for key, test in _CONTRACT_TESTS.items() if key in params)]
    sort_by = params.get("sort_by") or "contract_id"
    matched.sort(key=lambda c: c.get(sort_by, 0),
                 reverse=str(params.get("sort_order", "")).upper() == "DESC")
    return page(request, matched, params)


@answers_400
async def contract_bills(request: web.Request) -> web.Response:
    """server.go getContractBills decodes only types.Limit, so other keys are ignored."""
    params = decode(_query(request), {}, strict=False)
    _, bills = _chain(request.app)
    items = list(bills.get(request.match_info["contract_id"], []))
    return page(request, items, params)


async def ping(request: web.Request) -> web.Response:
    return web.json_response({"ping": "pong"})


def _query(request: web.Request) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for key, value in request.query.items():
        query.setdefault(key, []).append(value)
    return query


def make_app(
    nodes: list[dict[str, Any]] | None = None,
    contracts: list[dict[str, Any]] | None = None,
    *,
    contracts_file: str | None = None,
) -> web.Application:
    """The stand-in as an aiohttp app; mutate `app[NODES_KEY]` / `app[CONTRACTS_KEY]` to change
    the grid live, or name a `contracts_file` another process keeps ("contracts", "bills")."""
    app = web.Application()
    app[NODES_KEY] = list(default_nodes() if nodes is None else nodes)
    app[CONTRACTS_KEY] = list(contracts or [])
    app[BILLS_KEY] = {}
    if contracts_file:
        app[CONTRACTS_FILE_KEY] = contracts_file
    app.router.add_get("/nodes", list_nodes)
    app.router.add_get("/nodes/{node_id:[0-9]+}", get_node)
    app.router.add_get("/contracts", list_contracts)
    app.router.add_get("/contracts/{contract_id:[0-9]+}/bills", contract_bills)
    app.router.add_get("/ping", ping)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local stand-in for ThreeFold's gridproxy")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--nodes", help="JSON file with a list of gridproxy-shaped nodes")
    parser.add_argument("--contracts-file", help='JSON file with "contracts" and "bills"')
    args = parser.parse_args(argv)
    nodes = None
    if args.nodes:
        with open(args.nodes) as f:
            nodes = json.load(f)
    web.run_app(make_app(nodes, contracts_file=args.contracts_file), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
