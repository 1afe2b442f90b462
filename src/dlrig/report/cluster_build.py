"""A cluster probe as a cluster build file that `dlrig check` reads: nodes whose probes give
the same node build are one `[[cluster.nodes]]` group with an inline node (the node build is
what `dlrig probe -o` writes for one machine)."""

from __future__ import annotations

import json
import tomllib
from typing import Any

from dlrig.model.cluster import ClusterProbeResult, NodeFigures

# InfiniBand port rates (Gb/s) -> networks.csv ids. RoCE ports report the same rates: the
# written file says the fabric is a guess from the rate.
IB_BY_RATE = {400: "ib-ndr", 200: "ib-hdr", 100: "ib-edr"}


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return _q(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(type(v).__name__)


def emit_table(prefix: str, table: dict[str, Any], lines: list[str]) -> None:
    """Scalars of `table` under the current header, then its sub-tables and arrays of tables."""
    subs = []
    for key, v in table.items():
        if isinstance(v, dict) or (
            isinstance(v, list) and v and all(isinstance(x, dict) for x in v)
        ):
            subs.append((key, v))
        else:
            lines.append(f"{key} = {_value(v)}")
    for key, v in subs:
        name = f"{prefix}.{key}"
        items = v if isinstance(v, list) else [v]
        for item in items:
            lines += ["", f"[[{name}]]" if isinstance(v, list) else f"[{name}]"]
            emit_table(name, item, lines)


def _node_build(n: NodeFigures) -> dict[str, Any]:
    from dlrig.probe.result import ProbeResult
    from dlrig.probe.to_build import to_build_toml

    if n.probe is None:
        return {"name": "unprobed node"}
    data = {k: v for k, v in n.probe.items() if k != "schema"}
    try:
        result = ProbeResult.model_validate(data)
    except ValueError:
        return {"name": "unprobed node"}
    build = tomllib.loads(to_build_toml(result, host="cluster node"))
    build.pop("name", None)
    return build


def _network(result: ClusterProbeResult) -> list[str]:
    ports = {tuple(sorted(n.nics)) for n in result.nodes}
    rates = {n.nic_gbs for n in result.nodes}
    if len(result.nodes) < 2 or None in rates or len(rates) != 1:
        return [
            "# [network] was not written: give the fabric (an id of networks.csv, e.g. ib-ndr),",
            "# nics_per_node, gpudirect_rdma and topology for the cluster rules.",
        ]
    first = sorted(result.nodes[0].nics)
    per_port = {
        float(p.split()[1])
        for p in first
        if len(p.split()) > 1 and p.split()[1].replace(".", "").isdigit()
    }
    fabric = IB_BY_RATE.get(int(per_port.pop())) if len(per_port) == 1 else None
    if fabric is None:
        return [f"# [network]: ports {', '.join(first)}; no fabric id matches their rate"]
    note = "same ports on every node" if len(ports) == 1 else "port names differ between nodes"
    return [
        "[network]",
        f"fabric = {_q(fabric)}   # guessed from the port rate ({note}); RoCE ports read the same",
        f"nics_per_node = {len(first)}",
    ]


def cluster_toml(result: ClusterProbeResult) -> str:
    groups: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for n in result.nodes:
        build = _node_build(n)
        key = json.dumps(build, sort_keys=True)
        groups.setdefault(key, (build, []))[1].append(n.node)
    state = "" if result.complete else " (PARTIAL: " + result.status + ")"
    lines = [
        f"# Written by `dlrig probe --cluster`{state}: {len(result.nodes)} nodes, "
        f"{result.world_size} ranks.",
        "# Not measurable, so left out: racks and their power, the storage network, [workload].",
        _q_name(len(result.nodes)),
        "",
        "[cluster]",
    ]
    for i, (build, names) in enumerate(groups.values(), start=1):
        lines += ["", "[[cluster.nodes]]", f"kind = {_q(f'kind-{i}')}", f"count = {len(names)}"]
        lines.append(f"names = {_value(names)}")
        lines += ["", "[cluster.nodes.node]"]
        emit_table("cluster.nodes.node", build, lines)
    lines += ["", *_network(result)]
    return "\n".join(lines).rstrip("\n") + "\n"


def _q_name(nodes: int) -> str:
    return f"name = {_q(f'probed cluster ({nodes} nodes)')}"
