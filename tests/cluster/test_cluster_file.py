"""Cluster build files: every hostile file in tests/data/cluster/bad exits 2 with one line naming
the file, the key and what was expected; the example checks; 1,024 nodes check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cluster_helpers import DATA, cluster_dict, make_cluster, report
from dlrig.cli import run

BAD = DATA / "bad"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

CASES = {
    "cluster.fabric-typo.toml": r"network\.fabric: unknown fabric 'ib-nrd'; did you mean 'ib-ndr'\?$",
    "cluster.fabric-intra-node.toml": r"network\.fabric: 'nvlink4' is a link inside a node; "
    r"expected a fabric between nodes: ib-ndr, ",
    "cluster.network-unknown-key.toml": r"network\.gpudirekt_rdma: unknown key; did you mean "
    r"'gpudirect_rdma'\?$",
    "cluster.count-string.toml": r"cluster\.nodes\[0\]\.count: expected an integer, got '4'; "
    r"write it without quotes$",
    "cluster.count-zero.toml": r"cluster\.nodes\[0\]\.count: expected at least 1, got 0$",
    "cluster.node-file-missing.toml": r"cluster\.nodes\[0\]\.build: \.\./missing-node\.toml: "
    r"file not found$",
    "cluster.build-and-inline.toml": r"cluster\.nodes\[0\]: give either build = .* not both$",
    "cluster.rack-out-of-range.toml": r"cluster\.nodes\[0\]\.rack: expected a rack index below "
    r"racks; racks = 2",
    "cluster.names-count.toml": r"cluster\.nodes\[0\]\.names: expected 2 names \(count\), got 3$",
    "cluster.nics-count.toml": r"network\.nics: expected 2 entries \(nics_per_node\), got 1$",
    "cluster.topology-typo.toml": r"network\.topology: expected .*got 'fat tree'; did you mean "
    r"'fat-tree'\?$",
    "cluster.inline-bad-gpu.toml": r"cluster\.nodes\[0\]\.node\.gpus\[0\]\.model: unknown GPU "
    r"'GeForce RTX 4909'; did you mean 'GeForce RTX 4090'",
    "cluster.oversubscription-below-one.toml": r"network\.oversubscription: expected at least 1, "
    r"got 0\.5$",
    "cluster.no-nodes.toml": r"cluster\.nodes: required key is missing$",
    "cluster.nic-gpu-negative.toml": r"network\.nics\[0\]\.gpus\[0\]: expected at least 0, got -1$",
}


def test_every_bad_file_has_a_case():
    assert {p.name for p in BAD.glob("*.toml")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_cluster_file_one_line_exit_2(name, capsys):
    code = run(["check", str(BAD / name)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"dlrig: error: {BAD / name}: ")
    assert re.search(CASES[name], lines[0]), lines[0]


def test_example_checks_with_the_reference_network(capsys):
    code = run(["check", str(EXAMPLES / "cluster-8x-h100.toml")])
    out, _ = capsys.readouterr()
    out = " ".join(out.split())  # the terminal wraps at 100 columns
    assert code == 0
    assert "8 x dgx-h100 (8 x H100 SXM)" in out
    assert "8 x InfiniBand NDR 400G (ConnectX-7) at 48 GB/s = 384 GB/s per node" in out
    for rule in (
        "cluster-allreduce",
        "cluster-nic-locality",
        "cluster-gpudirect",
        "cluster-storage",
    ):
        assert rule in out
    assert "Node kind dgx-h100 (8 nodes)" in out


@pytest.mark.parametrize("fmt", ["json", "markdown", "html"])
def test_example_other_formats(fmt, tmp_path):
    out = tmp_path / f"r.{fmt}"
    assert run(["check", str(EXAMPLES / "cluster-8x-h100.toml"), "-f", fmt, "-o", str(out)]) == 0
    text = out.read_text()
    assert "cluster-allreduce" in text
    if fmt == "json":
        import json

        data = json.loads(text)
        assert data["schema"] == "dlrig.cluster-check/1"
        assert data["nodes"] == 8 and data["gpus"] == 64
        assert data["node_kinds"][0]["check"]["schema"] == "dlrig.check/1"


def test_1024_nodes_one_kind_per_distinct_build():
    """1,024 groups naming the same build file, and 1,024 identical inline nodes: one kind each
    way, the single-node rules run once (timing: benchmarks/cluster_check_speed.py)."""
    by_file = {
        "cluster": {
            "racks": 32,
            "nodes": [{"count": 1, "build": "node.toml", "names": [f"n{i}"]} for i in range(1024)],
        },
        "network": {"fabric": "ib-ndr", "nics_per_node": 4, "gpudirect_rdma": True},
    }
    r = report(by_file)
    assert [(k.kind, k.count) for k in r.kinds] == [("node", 1024)]
    assert r.cluster.n_gpus == 4096
    assert sum(r.cluster.kinds[0].racks.values()) == 1024
    assert r.cluster.kinds[0].racks == dict.fromkeys(range(32), 32)
    inline = cluster_dict(nodes=1)
    inline["cluster"]["nodes"] = inline["cluster"]["nodes"] * 1024
    c = make_cluster(inline)
    assert [(k.count) for k in c.kinds] == [1024]


def test_example_node_build_checks_alone(capsys):
    assert run(["check", str(EXAMPLES / "cluster-8x-h100-node.toml")]) == 0
    assert "8 x H100 SXM" in capsys.readouterr().out
