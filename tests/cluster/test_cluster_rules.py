"""Cluster rules on hand-computable clusters (node: 100 W CPU + 4 x 450 W RTX 4090 + 100 W
other = 2,000 W DC, 2,353 W at the wall at the default 85 % PSU efficiency)."""

from __future__ import annotations

import pytest

from cluster_helpers import NODE, cluster_dict, make_cluster, one, report
from dlrig.catalog.resolve_cluster import _rack_counts
from dlrig.model.finding import Severity
from dlrig.rules.cluster import node_network_busbw

WALL_W = 2000 / 0.85
LLAMA = {"model": "llama-3.1-8b", "task": "lora", "precision": "bf16", "batch_size": 1}


def test_network_figure_from_table_oversubscription_and_measured():
    net = {"fabric": "roce-100", "nics_per_node": 2, "oversubscription": 2.0}
    c = make_cluster(cluster_dict(network=net))
    gbs, what = node_network_busbw(c)
    assert gbs == pytest.approx(2 * 12 / 2)  # networks.csv roce-100: 12 GB/s per NIC
    assert "2:1 oversubscription" in what
    measured = make_cluster(cluster_dict(network=net), measured=7.5)
    assert node_network_busbw(measured)[0] == 7.5


def test_allreduce_hierarchical_by_hand():
    """4 nodes x 4 GPUs, one 10 GbE NIC each: reduce-scatter inside the node, all-reduce of a
    quarter between the nodes (each GPU a quarter of the NIC), all-gather inside the node;
    ring steps at nccl-tests' bus bandwidth plus one latency per step."""
    from dlrig.estimate import comm
    from dlrig.estimate.job import memory
    from dlrig.rules.workload import job_for

    data = cluster_dict(network={"fabric": "eth-10", "nics_per_node": 1}, nodes=4)
    data["workload"] = LLAMA
    f = one(report(data), "cluster-allreduce")
    kind = make_cluster(data).kinds[0]
    job = job_for(kind.build)
    grads = memory(kind.build.model_spec, job).trainable_params * 4  # LoRA: fp32 adapters
    intra = comm.intra_node_link(job.gpu)  # the estimator's PCIe link for these GPUs
    b_inter, lat_inter = 0.75 / 4, 25e-6  # networks.csv eth-10: 0.75 GB/s, 25 us; 4 GPUs/NIC
    k, nodes = 4, 4
    rs = (k - 1) * intra.latency_s + (k - 1) / k * grads / (intra.busbw_gbs * 1e9)
    ar = 2 * (nodes - 1) * lat_inter + 2 * (nodes - 1) / nodes * (grads / k) / (b_inter * 1e9)
    assert f.numbers["allreduce_s"].value == pytest.approx(rs + ar + rs, rel=1e-3)
    assert f.numbers["network_per_gpu_gbs"].value == pytest.approx(b_inter)
    assert f.numbers["network_gbs"].value == pytest.approx(0.75)


def test_allreduce_warns_when_communication_bound_and_measured_changes_it():
    data = cluster_dict(network={"fabric": "eth-10", "nics_per_node": 1}, nodes=4)
    data["workload"] = {**LLAMA, "task": "train", "zero": 3, "checkpointing": True}
    slow = one(report(data), "cluster-allreduce")
    assert slow.severity == Severity.WARNING
    fast = one(report(data, measured=400.0), "cluster-allreduce")
    assert fast.numbers["network_gbs"].value == 400.0
    assert fast.numbers["allreduce_s"].value < slow.numbers["allreduce_s"].value


def test_allreduce_skips_without_network_or_workload():
    r = report(cluster_dict())
    assert "cluster-allreduce" in {s.rule for s in r.skipped}


def test_time_to_train():
    data = cluster_dict(network={"fabric": "ib-ndr", "nics_per_node": 4}, train_tokens=1e9)
    data["workload"] = LLAMA
    f = one(report(data), "cluster-time-to-train")
    assert f.severity == Severity.INFO
    assert f.numbers["hours"].value * 3600 * f.numbers["tokens_per_s"].value == pytest.approx(
        1e9, rel=1e-3
    )


def test_rack_power_and_cooling():
    rack_w = 2 * WALL_W  # 4 nodes in 2 racks
    over = report(cluster_dict(racks=2, rack_power_kw=5.0, rack_cooling_kw=5.0))
    p = one(over, "cluster-rack-power")
    assert p.severity == Severity.ERROR  # 4.71 kW > 80 % of 5 kW
    assert p.numbers["rack_kw"].value == pytest.approx(rack_w / 1000, rel=1e-3)
    assert p.numbers["limit_kw"].value == pytest.approx(4.0)
    assert one(over, "cluster-rack-cooling").severity == Severity.WARNING  # 94 %
    fine = report(cluster_dict(racks=2, rack_power_kw=6.0, rack_cooling_kw=10.0))
    assert one(fine, "cluster-rack-power").severity == Severity.OK
    assert one(fine, "cluster-rack-cooling").severity == Severity.OK
    hot = report(cluster_dict(racks=1, rack_cooling_kw=9.0))
    assert one(hot, "cluster-rack-cooling").severity == Severity.ERROR  # 9.41 kW of heat


def test_racks_fill_in_file_order():
    assert _rack_counts([(10, 0, None)], 3) == [{0: 4, 1: 4, 2: 2}]
    assert _rack_counts([(2, 0, 2), (4, 1, None)], 3) == [{2: 2}, {0: 2, 1: 2}]


def test_locality_and_numa():
    net = {
        "fabric": "ib-hdr",
        "nics_per_node": 2,
        "nics": [{"numa_node": 0, "gpus": [0]}, {"numa_node": 0, "gpus": [1, 3]}],
        "gpu_numa": [0, 0, 1, 1],
    }
    f = one(report(cluster_dict(network=net)), "cluster-nic-locality")
    assert f.severity == Severity.WARNING
    assert "GPU(s) 2 share a PCIe switch with no NIC" in f.message
    assert "NIC 1 (NUMA 0) serves GPU(s) 3 on another NUMA node" in f.message
    good = {**net, "nics": [{"gpus": [0, 1]}, {"gpus": [2, 3]}], "gpu_numa": None}
    assert one(report(cluster_dict(network=good)), "cluster-nic-locality").severity == Severity.OK
    wrong = {**net, "nics": [{"gpus": [0, 9]}, {"gpus": [1]}]}
    assert one(report(cluster_dict(network=wrong)), "cluster-nic-locality").severity == (
        Severity.ERROR
    )


def test_gpudirect_and_tcp_ethernet():
    off = {"fabric": "ib-ndr", "nics_per_node": 4, "gpudirect_rdma": False}
    assert one(report(cluster_dict(network=off)), "cluster-gpudirect").severity == Severity.WARNING
    tcp = {"fabric": "eth-100", "nics_per_node": 1, "gpudirect_rdma": True}
    f = one(report(cluster_dict(network=tcp)), "cluster-gpudirect")
    assert f.severity == Severity.WARNING and "no RDMA" in f.message
    on = {**off, "gpudirect_rdma": True}
    assert one(report(cluster_dict(network=on)), "cluster-gpudirect").severity == Severity.OK


def test_oversubscription():
    net = {"fabric": "ib-ndr", "nics_per_node": 4, "oversubscription": 2.0, "topology": "fat-tree"}
    f = one(report(cluster_dict(network=net)), "cluster-oversubscription")
    assert f.severity == Severity.WARNING and "2:1" in f.message


def test_storage_sum_of_all_gpus():
    node = {**NODE, "workload": {"batch_size": 10, "sample_bytes": 1e6, "step_time_s": 0.1}}
    data = {
        "cluster": {"nodes": [{"count": 4, "node": node}]},
        "network": {"fabric": "ib-hdr", "nics_per_node": 1, "shared_fs_read_gbs": 1.0},
    }
    f = one(report(data), "cluster-storage")
    # 10 x 1 MB / 0.1 s = 100 MB/s per GPU x 16 GPUs = 1.6 GB/s against 1 GB/s
    assert f.numbers["required_gbs"].value == pytest.approx(1.6)
    assert f.severity == Severity.ERROR
    data["network"]["shared_fs_read_gbs"] = 10.0
    assert one(report(data), "cluster-storage").severity == Severity.OK


def test_node_rules_run_once_per_distinct_kind():
    other = {**NODE, "gpus": [{"model": "GeForce RTX 3090", "count": 2}]}
    data = {
        "cluster": {
            "nodes": [
                {"count": 3, "node": NODE, "kind": "a"},
                {"count": 2, "node": other, "kind": "b"},
                {"count": 5, "node": NODE},
            ]
        }
    }
    r = report(data)
    assert [(k.kind, k.count) for k in r.kinds] == [("a", 8), ("b", 2)]
    assert r.cluster.n_gpus == 8 * 4 + 2 * 2
