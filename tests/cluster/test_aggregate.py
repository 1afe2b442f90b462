"""Aggregation without a cluster: nccl-tests' bus bandwidth, outliers and findings over 512
synthetic nodes, the reports, and the cluster build file `check` reads back."""

from __future__ import annotations

import json
import tomllib

import pytest

from dlrig.cli import run
from dlrig.model.cluster import BusPoint, CollectiveSeries, Fault, NodeFigures, RankFigures
from dlrig.probe.cluster import aggregate as agg
from dlrig.report import cluster as report


def test_bus_bandwidth_definitions():
    # nccl-tests doc/PERFORMANCE.md: 2(n-1)/n for all-reduce, (n-1)/n for gather/scatter
    assert agg.bus_factor("all_reduce", 8) == pytest.approx(1.75)
    assert agg.bus_factor("all_gather", 4) == pytest.approx(0.75)
    assert agg.bus_factor("reduce_scatter", 2) == pytest.approx(0.5)
    assert agg.bus_factor("send_recv", 16) == 1.0
    p = agg.bus_point("all_reduce", 4, 1 << 30, 0.1)  # 1 GiB in 0.1 s
    assert p.algbw_gbs == pytest.approx(10.737418, rel=1e-6)
    assert p.busbw_gbs == pytest.approx(10.737418 * 1.5, rel=1e-6)
    assert agg.message_sizes(1024, 1 << 30)[:3] == [1024, 2048, 4096]
    assert len(agg.message_sizes(1024, 1 << 30)) == 21  # 1 KiB .. 1 GiB
    with pytest.raises(ValueError):
        agg.bus_factor("alltoallv", 2)


def _node(i: int, **over: float) -> NodeFigures:
    base = dict(
        node=f"n{i:03d}",
        ranks=[8 * i + k for k in range(8)],
        gpus=8,
        gpu_tflops=600.0 + (i % 7),  # a few percent of honest spread
        pcie_width_min=16,
        pcie_gen_min=5,
        disk_read_mbs=6800.0 + 10 * (i % 5),
        memory_bandwidth_gbs=300.0 + (i % 3),
        sm_clock_pct=97.0 + (i % 2),
        throttled_gpus=0,
        nic_gbs=400.0,
        intra_busbw_gbs=360.0 + (i % 4),
    )
    return NodeFigures(**(base | over))


def _synthetic(n: int = 512) -> list[NodeFigures]:
    nodes = [_node(i) for i in range(n)]
    nodes[17] = _node(17, gpu_tflops=410.0)  # a slow GPU
    nodes[99] = _node(99, pcie_width_min=8)  # a degraded link
    nodes[250] = _node(250, throttled_gpus=2, sm_clock_pct=71.0)  # thermal trouble
    nodes[511] = _node(511, disk_read_mbs=900.0)  # a failing disk
    nodes[300] = _node(300, intra_busbw_gbs=150.0)  # an NVLink down
    return nodes


def test_outliers_at_512_nodes_are_exactly_the_bad_ones():
    found = {(o.node, o.metric) for o in agg.find_outliers(_synthetic())}
    assert found == {
        ("n017", "gpu_tflops"),
        ("n099", "pcie_width_min"),
        ("n250", "throttled_gpus"),
        ("n250", "sm_clock_pct"),
        ("n511", "disk_read_mbs"),
        ("n300", "intra_busbw_gbs"),
    }


def test_no_outliers_among_alike_nodes_or_too_few_nodes():
    assert agg.find_outliers([_node(i) for i in range(512)]) == []
    assert agg.find_outliers([_node(0), _node(1, gpu_tflops=100.0)]) == []  # needs 3


def test_a_fast_node_is_not_an_outlier():
    nodes = [_node(i) for i in range(20)] + [_node(20, gpu_tflops=900.0)]
    assert agg.find_outliers(nodes) == []


def _result(nodes, faults=(), status=None):
    series = CollectiveSeries(
        op="all_reduce",
        scope="all",
        backend="nccl",
        ranks=8 * len(nodes),
        points=[BusPoint(size_bytes=1 << 30, time_us=1.0, algbw_gbs=200.0, busbw_gbs=350.0)],
        bound_gbs=400.0,
        bound_what="the slowest node's NIC ports (400 GB/s)",
    )
    ranks = [
        RankFigures(rank=r, node=n.node, local_rank=r % 8, device="cuda")
        for n in nodes[:4]
        for r in n.ranks
    ]
    return agg.assemble(
        world_size=8 * len(nodes),
        backend="nccl",
        nodes=nodes,
        ranks=ranks,
        collectives=[series],
        faults=list(faults),
        status=status,
    )


def test_findings_complete_and_partial():
    r = _result(_synthetic())
    assert r.complete and r.status == "complete"
    ids = {f.id for f in r.findings}
    assert "cluster-outlier-gpu-tflops" in ids and "cluster-partial" not in ids
    busbw = next(f for f in r.findings if f.id == "cluster-busbw-all")
    assert busbw.severity.value == "ok"  # 350 of 400 GB/s = 88 %
    partial = _result(
        [_node(i) for i in range(8)],
        [Fault(rank=9, node="n001", what="died", phase="all_reduce all 1 KiB")],
        "partial: x",
    )
    assert not partial.complete and partial.status == "partial: x"
    f = next(f for f in partial.findings if f.id == "cluster-partial")
    assert f.severity.value == "error" and "n001 (rank 9) died" in f.message
    # a fault always makes the result partial, whatever the status says
    assert not _result(
        [_node(i) for i in range(8)], [Fault(rank=1, node="a", what="stuck")], "complete"
    ).complete


@pytest.mark.parametrize("kind", ["terminal", "json", "markdown", "html", "build"])
def test_reports_of_512_nodes(kind):
    text = report.render(_result(_synthetic()), kind)
    assert "n017" in text
    if kind == "json":
        data = json.loads(text)
        assert data["schema"] == "dlrig.cluster/1" and data["complete"] is True
        assert len(data["nodes"]) == 512
    if kind == "html":
        assert "chart-cluster-heatmap" in text and "chart-cluster-busbw" in text
        assert "<script" not in text


def test_node_figures_from_a_probe_result():
    probe = {
        "schema": "dlrig.probe/1",
        "gpus": [
            {"name": "NVIDIA H100 80GB HBM3", "pcie_width_current": 16, "pcie_gen_max": 5,
             "sm_clock_max_mhz": 1980, "throttle_reasons": ["gpu_idle"]},
            {"name": "NVIDIA H100 80GB HBM3", "pcie_width_current": 8, "pcie_gen_max": 5,
             "sm_clock_max_mhz": 1980, "throttle_reasons": ["hw_thermal_slowdown"]},
        ],
        "torch": {"sustained_sm_clock_min_mhz": 1485.0, "sustained_sm_clock_max_mhz": 1980.0},
        "disk": {"read_mbs": 3000.0},
        "memory": {"bandwidth_gbs": 250.0},
    }  # fmt: skip
    ranks = [RankFigures(rank=0, node="a", local_rank=0, device="cuda:0", matmul_tflops=700.0),
             RankFigures(rank=1, node="a", local_rank=1, device="cuda:1", matmul_tflops=650.0)]  # fmt: skip
    fig = agg.node_figures("a", ranks, probe, nic_gbs=400.0)
    assert (fig.gpus, fig.gpu_tflops, fig.pcie_width_min, fig.pcie_gen_min) == (2, 650.0, 8, 5)
    assert fig.sm_clock_pct == 75.0  # 1485 / 1980
    assert fig.throttled_gpus == 1  # idle is not a slowdown
    assert (fig.disk_read_mbs, fig.memory_bandwidth_gbs) == (3000.0, 250.0)
    missing = agg.node_figures("b", ranks[:1], None, probe_error="probe failed: boom")
    assert missing.unavailable["probe"] == "probe failed: boom"


def test_probe_build_file_is_a_cluster_file_check_accepts(tmp_path):
    from dlrig.probe.result import CpuInfo, DiskInfo, MemoryInfo, ProbeResult

    probe = ProbeResult(
        quick=True,
        duration_s=1.0,
        cpu=CpuInfo(model="AMD Ryzen 9 7950X 16-Core Processor", cores_physical=16, threads=32),
        memory=MemoryInfo(total_gb=128.0),
        disk=DiskInfo(path="/data", kind="nvme", read_mbs=5000.0),
        gpu_status="unavailable: no NVIDIA GPU",
    ).to_json_dict()
    nodes = [
        NodeFigures(
            node=f"h{i}",
            ranks=[i],
            probe=probe,
            nics=["mlx5_0/1 400 Gb/sec (4X NDR)"],
            nic_gbs=50.0,
        )
        for i in range(3)
    ]
    text = report.render(_result(nodes), "build")
    data = tomllib.loads(text)
    assert data["cluster"]["nodes"][0]["count"] == 3
    assert data["network"] == {"fabric": "ib-ndr", "nics_per_node": 1}
    path = tmp_path / "probed.toml"
    path.write_text(text)
    assert run(["check", str(path), "-f", "json", "-o", str(tmp_path / "r.json")]) in (0, 1)
    checked = json.loads((tmp_path / "r.json").read_text())
    assert checked["nodes"] == 3 and checked["node_kinds"][0]["count"] == 3
