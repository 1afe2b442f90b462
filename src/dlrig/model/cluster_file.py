"""Read a cluster build file: a TOML file with a `[cluster]` table (see model/cluster.py).

Validation is strict like a build file's (one `BuildFileError` naming file, key and what was
expected), then the cross-key checks pydantic cannot express: a node group gives a build file
or an inline node, `names` matches `count`, racks exist, the NIC list matches nics_per_node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dlrig.errors import BuildFileError
from dlrig.model.cluster import MAX_NODES, ClusterFile
from dlrig.model.messages import validation_error


def is_cluster(data: dict[str, Any]) -> bool:
    """A parsed TOML document is a cluster file when it has a [cluster] table."""
    return "cluster" in data


def parse_cluster(data: dict[str, Any], shown: str) -> ClusterFile:
    try:
        cf = ClusterFile.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, shown, root=ClusterFile) from None
    _cross_checks(cf, shown)
    return cf


def _cross_checks(cf: ClusterFile, shown: str) -> None:
    total = 0
    racks = cf.cluster.racks
    for i, g in enumerate(cf.cluster.nodes):
        key = f"cluster.nodes[{i}]"
        if (g.build is None) == (g.node is None):
            problem = (
                'give either build = "node.toml" (a build file) or an inline '
                f"[{'cluster.nodes.node'}] table, not both"
                if g.build is not None
                else 'expected build = "node.toml" (a build file) or an inline node table'
            )
            raise BuildFileError(shown, key, problem)
        if g.names is not None:
            if len(g.names) != g.count:
                raise BuildFileError(
                    shown, f"{key}.names", f"expected {g.count} names (count), got {len(g.names)}"
                )
            for j, name in enumerate(g.names):
                if not name or len(name) > 64 or not name.isprintable():
                    raise BuildFileError(
                        shown, f"{key}.names[{j}]", "expected 1 to 64 printable characters"
                    )
        if g.rack is not None and (racks is None or g.rack >= racks):
            have = f"racks = {racks} (0 to {racks - 1})" if racks else "no cluster.racks"
            raise BuildFileError(shown, f"{key}.rack", f"expected a rack index below racks; {have}")
        total += g.count
    if total > MAX_NODES:
        raise BuildFileError(
            shown, "cluster.nodes", f"expected at most {MAX_NODES} nodes, got {total}"
        )
    net = cf.network
    if net is not None and net.nics is not None and len(net.nics) != net.nics_per_node:
        raise BuildFileError(
            shown,
            "network.nics",
            f"expected {net.nics_per_node} entries (nics_per_node), got {len(net.nics)}",
        )
    if net is not None and net.storage_nics_per_node is not None and net.storage_fabric is None:
        raise BuildFileError(
            shown,
            "network.storage_fabric",
            "required with storage_nics_per_node: a networks.csv id",
        )


def node_path(cluster_path: str | Path, build: str) -> Path:
    """A node's build file, relative to the cluster file's folder."""
    p = Path(build)
    return p if p.is_absolute() else Path(cluster_path).parent / p
