"""Cluster test helpers: a cluster from a dict (inline nodes), its check report, findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlrig.catalog.resolve_cluster import resolve_cluster
from dlrig.model.cluster import Cluster, ClusterCheckReport
from dlrig.model.cluster_file import parse_cluster
from dlrig.model.finding import Finding
from dlrig.rules.cluster import check_cluster

DATA = Path(__file__).resolve().parent / "data" / "cluster"
SHOWN = str(DATA / "test-cluster.toml")  # node build paths resolve next to it

# 100 W CPU + 4 x 450 W RTX 4090 + 100 W other = 2,000 W DC; no PSU rating: 85 % efficiency.
NODE: dict[str, Any] = {
    "cpu": {"cores": 16, "pcie_lanes": 64, "pcie_gen": 4, "tdp_w": 100.0},
    "memory": {"size_gb": 256.0},
    "gpus": [{"model": "GeForce RTX 4090", "count": 4}],
    "power": {"other_w": 100.0},
}


def cluster_dict(nodes: int = 4, network: dict[str, Any] | None = None, **cluster: Any) -> dict:
    data: dict[str, Any] = {
        "name": "test",
        "cluster": {"nodes": [{"count": nodes, "node": NODE}], **cluster},
    }
    if network is not None:
        data["network"] = network
    return data


def make_cluster(data: dict[str, Any], measured: float | None = None) -> Cluster:
    return resolve_cluster(
        parse_cluster(data, SHOWN), SHOWN, measured, "test" if measured else None
    )


def report(data: dict[str, Any], measured: float | None = None) -> ClusterCheckReport:
    return check_cluster(make_cluster(data, measured))


def one(r: ClusterCheckReport, rule_id: str) -> Finding:
    found = [f for f in r.findings if f.id == rule_id]
    assert len(found) == 1, (rule_id, found, r.skipped)
    return found[0]
