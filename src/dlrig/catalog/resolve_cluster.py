"""Turn a validated `ClusterFile` into a `Cluster`: read each node build once, resolve each
distinct node kind once, look fabrics up in networks.csv and place nodes in racks."""

from __future__ import annotations

import json
import math

from dlrig.catalog import load
from dlrig.catalog.resolve import resolve
from dlrig.errors import BuildFileError
from dlrig.errors import close_matches as _close  # the same "did you mean" as build files
from dlrig.model.build import BuildFile
from dlrig.model.cluster import Cluster, ClusterFile, NetworkSpec, NodeKind
from dlrig.model.cluster_file import node_path
from dlrig.model.load import read_build_file


def fabric(name: str, shown: str, key: str) -> NetworkSpec:
    """An inter-node fabric of networks.csv by id, or a `BuildFileError` with close ids."""
    table = load.networks()
    between = [i for i, n in table.items() if n.scope == "inter-node"]
    spec = table.get(name.strip().lower())
    if spec is None:
        close = _close(name, between)
        return_ids = "" if close else f"; expected one of: {', '.join(between)}"
        raise BuildFileError(shown, key, f"unknown fabric '{name}'{return_ids}", close)
    if spec.scope != "inter-node":
        problem = f"'{name}' is a link inside a node; expected a fabric between nodes: "
        raise BuildFileError(shown, key, problem + ", ".join(between))
    return spec


def _rack_counts(sizes: list[tuple[int, int, int | None]], racks: int) -> list[dict[int, int]]:
    """rack -> nodes for each group, (count, index, fixed rack): fixed groups where they say,
    the rest filling racks in file order, ceil(nodes / racks) per rack."""
    per_rack = math.ceil(sum(c for c, _, _ in sizes) / racks)
    used = [0] * racks
    out: list[dict[int, int]] = [{} for _ in sizes]
    for count, i, rack in sizes:
        if rack is not None:
            out[i][rack] = out[i].get(rack, 0) + count
            used[rack] += count
    r = 0
    for count, i, rack in sizes:
        if rack is not None:
            continue
        left = count
        while left:
            while r < racks - 1 and used[r] >= per_rack:
                r += 1
            take = left if r == racks - 1 else min(left, per_rack - used[r])
            out[i][r] = out[i].get(r, 0) + take
            used[r] += take
            left -= take
    return out


def resolve_cluster(
    cf: ClusterFile,
    shown: str,
    measured_busbw_gbs: float | None = None,
    measured_source: str | None = None,
) -> Cluster:
    files: dict[str, BuildFile] = {}
    kinds: dict[str, NodeKind] = {}
    racks = cf.cluster.racks or 1
    places = _rack_counts([(g.count, i, g.rack) for i, g in enumerate(cf.cluster.nodes)], racks)
    for i, g in enumerate(cf.cluster.nodes):
        key = f"cluster.nodes[{i}]"
        if g.build is not None:
            path = node_path(shown, g.build)
            ident = f"file:{path.resolve()}"
            if ident not in files:
                try:
                    files[ident] = read_build_file(path)
                except BuildFileError as exc:
                    if exc.key:  # a problem inside the node's build file: that file names it
                        raise
                    where = f"{key}.build"
                    raise BuildFileError(shown, where, f"{g.build}: {exc.problem}") from None
            node_file, where, label = files[ident], str(path), g.kind or path.stem
        else:
            assert g.node is not None
            node_file, where, label = g.node, shown, g.kind or f"node-{i}"
            ident = "inline:" + json.dumps(g.node.model_dump(mode="json"), sort_keys=True)
        if cf.workload is not None:
            node_file = node_file.model_copy(update={"workload": cf.workload})
        if ident in kinds:
            k = kinds[ident]
            merged = dict(k.racks)
            for rack, n in places[i].items():
                merged[rack] = merged.get(rack, 0) + n
            kinds[ident] = k.model_copy(update={"count": k.count + g.count, "racks": merged})
            continue
        try:
            build = resolve(node_file, where)
        except BuildFileError as exc:
            if g.node is None:
                raise
            inner = f"{key}.node.{exc.key}" if exc.key else f"{key}.node"
            raise BuildFileError(
                shown, inner, exc.problem, exc.suggestions, more=exc.more
            ) from None
        kinds[ident] = NodeKind(kind=label, count=g.count, build=build, racks=places[i])
    net = cf.network
    return Cluster(
        name=cf.name,
        kinds=list(kinds.values()),
        network=net,
        fabric=fabric(net.fabric, shown, "network.fabric") if net else None,
        storage_fabric=fabric(net.storage_fabric, shown, "network.storage_fabric")
        if net and net.storage_fabric
        else None,
        racks=racks,
        rack_power_kw=cf.cluster.rack_power_kw,
        rack_cooling_kw=cf.cluster.rack_cooling_kw,
        train_tokens=cf.cluster.train_tokens,
        measured_busbw_gbs=measured_busbw_gbs,
        measured_source=measured_source,
    )
