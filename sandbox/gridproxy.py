"""A local stand-in for ThreeFold's gridproxy (`GET /nodes`, `GET /nodes/{id}`, `GET /ping`).

It serves nodes shaped like the real gridproxy's JSON and filters them the way it does:
uint parameters that do not parse are refused with HTTP 400 and `{"error": "..."}`, booleans
other than "true"/"false" and unknown parameters are ignored, `farm_ids` is a comma-separated
list, results are ordered by node id and paged with `page`/`size` (`ret_count=true` adds the
`count`, `size` and `pages` headers).

Run it alone with `python -m sandbox.gridproxy --port 8085 [--nodes nodes.json]`.
Imports nothing of gridshop: it speaks HTTP like the real service.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from typing import Any

from aiohttp import web

GB = 1024**3
SSD_OVERPROVISION_FACTOR = 2  # the real proxy counts free SSD as total * 2 - used

NODES_KEY = web.AppKey("nodes", list)


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
    rented: bool = False,
    dedicated: bool = False,
) -> dict[str, Any]:
    """One node in the shape of gridproxy's `types.Node`; sizes given in GB, served in bytes."""
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
        "total_resources": {
            "cru": cru, "sru": total_sru_gb * GB, "hru": total_hru_gb * GB, "mru": total_mru_gb * GB,
        },
        "used_resources": {
            "cru": cru // 4, "sru": used_sru_gb * GB, "hru": 0, "mru": used_mru_gb * GB,
        },
        "location": {"country": country, "city": city, "longitude": 3.72, "latitude": 51.05},
        "publicConfig": {"domain": "", "gw4": "", "gw6": "", "ipv4": ipv4, "ipv6": ""},
        "status": status,
        "certificationType": "Diy",
        "dedicated": dedicated,
        "inDedicatedFarm": dedicated,
        "rentContractId": 0,
        "rented": rented,
        "rentable": not rented and dedicated,
        "rentedByTwinId": 0,
        "serialNumber": f"SN-{node_id:06d}",
        "power": {"state": "Up" if status == "up" else "Down", "target": "Up"},
        "num_gpu": 0,
        "extraFee": 0,
        "healthy": healthy,
        "dmi": {"bios": {}, "baseboard": {}, "processor": [], "memory": []},
        "speed": {"upload": 0, "download": 0},
        "cpu_benchmark": {"single_threaded": 0, "multi_threaded": 0, "threads": 0, "workloads": 0},
        "gpus": [],
        "price_usd": 12.5,
        "farm_free_ips": 1 if ipv4 else 0,
        "features": ["zmount", "zdb", "volume", "ipv4", "ip", "gateway-name-proxy",
                     "gateway-fqdn-proxy", "qsfs", "zlogs", "zmachine-light", "network-light"],
    }


def default_nodes() -> list[dict[str, Any]]:
    """A small grid: roomy and tight nodes in farms 1-3, one down, one unhealthy."""
    return [
        node_json(11, 1, total_mru_gb=64, used_mru_gb=8, total_sru_gb=1024, used_sru_gb=100),
        node_json(12, 1, total_mru_gb=16, used_mru_gb=14, total_sru_gb=512, used_sru_gb=900),
        node_json(21, 2, total_mru_gb=128, used_mru_gb=16, total_sru_gb=2048, used_sru_gb=200,
                  country="Egypt", city="Cairo", ipv4="185.206.122.1/24"),
        node_json(22, 2, status="down"),
        node_json(23, 2, healthy=False),
        node_json(31, 3, total_mru_gb=8, used_mru_gb=6, total_sru_gb=256, used_sru_gb=0),
    ]


class BadRequest(Exception):
    pass


_UINT_PARAMS = {
    "free_mru": lambda n, v: _free(n, "mru") >= v,
    "free_sru": lambda n, v: _free(n, "sru") >= v,
    "free_hru": lambda n, v: _free(n, "hru") >= v,
    "free_ips": lambda n, v: n["farm_free_ips"] >= v,
    "total_mru": lambda n, v: n["total_resources"]["mru"] >= v,
    "total_sru": lambda n, v: n["total_resources"]["sru"] >= v,
    "total_hru": lambda n, v: n["total_resources"]["hru"] >= v,
    "total_cru": lambda n, v: n["total_resources"]["cru"] >= v,
    "node_id": lambda n, v: n["nodeId"] == v,
    "twin_id": lambda n, v: n["twinId"] == v,
    "rented_by": lambda n, v: n["rentedByTwinId"] == v,
    "available_for": lambda n, v: not n["rented"] or n["rentedByTwinId"] == v,
}
_STR_PARAMS = {
    "status": lambda n, v: n["status"] in v.split(","),
    "country": lambda n, v: n["country"].lower() == v.lower(),
    "country_contains": lambda n, v: v.lower() in n["country"].lower(),
    "city": lambda n, v: n["city"].lower() == v.lower(),
    "city_contains": lambda n, v: v.lower() in n["city"].lower(),
    "farm_name": lambda n, v: n["farmName"].lower() == v.lower(),
    "farm_name_contains": lambda n, v: v.lower() in n["farmName"].lower(),
}
_BOOL_PARAMS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "ipv4": lambda n: bool(n["publicConfig"]["ipv4"]),
    "ipv6": lambda n: bool(n["publicConfig"]["ipv6"]),
    "domain": lambda n: bool(n["publicConfig"]["domain"]),
    "dedicated": lambda n: n["dedicated"],
    "rentable": lambda n: n["rentable"],
    "rented": lambda n: n["rented"],
    "healthy": lambda n: n["healthy"],
    "has_gpu": lambda n: n["num_gpu"] > 0,
}


def _free(node: dict[str, Any], resource: str) -> int:
    total = node["total_resources"][resource]
    if resource == "sru":
        total *= SSD_OVERPROVISION_FACTOR
    return int(total - node["used_resources"][resource])


def _parse_uint(param: str, value: str) -> int:
    if not value.isdigit() or int(value) >= 2**64:
        reason = "invalid syntax" if not value.isdigit() else "value out of range"
        raise BadRequest(
            f'couldn\'t parse {param} strconv.ParseUint: parsing "{value}": {reason}: bad request'
        )
    return int(value)


def filter_nodes(nodes: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """Apply gridproxy's node filters; raises BadRequest for values it would refuse."""
    query = {k: v for k, v in query.items() if v != ""}
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for param, test in _UINT_PARAMS.items():
        if param in query:
            value = _parse_uint(param, query[param])
            checks.append(lambda n, t=test, v=value: t(n, v))
    for param, test in _STR_PARAMS.items():
        if param in query:
            checks.append(lambda n, t=test, v=query[param]: t(n, v))
    for param, getter in _BOOL_PARAMS.items():
        if query.get(param) in ("true", "false"):
            wanted = query[param] == "true"
            checks.append(lambda n, g=getter, w=wanted: g(n) == w)
    if "farm_ids" in query:
        farms = {_parse_uint("farm_ids", item) for item in query["farm_ids"].split(",")}
        checks.append(lambda n: n["farmId"] in farms)
    matched = [n for n in nodes if all(check(n) for check in checks)]
    return sorted(matched, key=lambda n: n["nodeId"])


async def list_nodes(request: web.Request) -> web.Response:
    query = dict(request.query)
    try:
        page = _parse_uint("page", query.get("page") or "1")
        size = _parse_uint("size", query.get("size") or "50")
        matched = filter_nodes(request.app[NODES_KEY], query)
    except BadRequest as exc:
        return web.json_response({"error": str(exc)}, status=400)
    start = (max(page, 1) - 1) * size
    headers = {"Access-Control-Allow-Origin": "*"}
    if query.get("ret_count") == "true":
        pages = math.ceil(len(matched) / size) if size else 0
        headers.update(count=str(len(matched)), size=str(size), pages=str(pages))
    return web.json_response(matched[start:start + size], headers=headers)


async def get_node(request: web.Request) -> web.Response:
    raw = request.match_info["node_id"]
    if not raw.isdigit():
        return web.json_response(
            {"error": f'invalid node id 0: strconv.Atoi: parsing "{raw}": invalid syntax: '
                      "bad gateway"},
            status=502,
        )
    for node in request.app[NODES_KEY]:
        if node["nodeId"] == int(raw):
            nested = {k: v for k, v in node.items() if k not in ("total_resources", "used_resources")}
            nested["capacity"] = {
                "total_resources": node["total_resources"],
                "used_resources": node["used_resources"],
            }
            return web.json_response(nested)
    return web.json_response({"error": "node not found"}, status=404)


async def ping(request: web.Request) -> web.Response:
    return web.json_response({"ping": "pong"})


def make_app(nodes: list[dict[str, Any]] | None = None) -> web.Application:
    """The stand-in as an aiohttp app; mutate `app[NODES_KEY]` to change the grid live."""
    app = web.Application()
    app[NODES_KEY] = list(default_nodes() if nodes is None else nodes)
    app.router.add_get("/nodes", list_nodes)
    app.router.add_get("/nodes/{node_id}", get_node)
    app.router.add_get("/ping", ping)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local stand-in for ThreeFold's gridproxy")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--nodes", help="JSON file with a list of gridproxy-shaped nodes")
    args = parser.parse_args(argv)
    nodes = None
    if args.nodes:
        with open(args.nodes) as f:
            nodes = json.load(f)
    web.run_app(make_app(nodes), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
