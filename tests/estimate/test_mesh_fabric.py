"""AMD's Infinity Fabric between the 8 OAMs of an MI300X-class platform (gpu_fabrics.csv,
comm.intra_node_link): a switchless full mesh, so a group of n GPUs all-reduces over the n-1
links each has into it. Numbers worked by hand from the MI300X row: 7 links of 64 GB/s at
0.75 usable = 48 GB/s each, 336 GB/s for all seven, 5 us a hop."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_gpu, find_model
from dlrig.estimate import comm, perf
from dlrig.estimate import decode as dec
from dlrig.estimate.comm import Link
from dlrig.estimate.job import shape, throughput
from estimate_helpers import job

MI300X = find_gpu("Instinct MI300X")
GB = 1e9


def test_an_mi300x_platform_links_its_gpus_over_the_mesh_not_pcie():
    link = comm.intra_node_link(MI300X)
    assert link.busbw_gbs == pytest.approx(7 * 48.0)
    assert link.latency_s == pytest.approx(5e-6)
    assert link.mesh_links == 7
    assert "Infinity Fabric" in link.what
    assert comm.has_p2p(MI300X)


def test_asking_for_pcie_on_an_mi300x_gets_pcie():
    link = comm.intra_node_link(MI300X, "pcie")
    assert link.mesh_links == 0 and link.what.startswith("PCIe 5.0 x16")


@pytest.mark.parametrize(("n", "gbs"), [(2, 48.0), (4, 144.0), (8, 336.0), (16, 336.0)])
def test_a_mesh_group_of_n_gpus_runs_on_n_minus_1_links(n, gbs):
    assert comm.intra_node_link(MI300X).rate_gbs(n) == pytest.approx(gbs)


def test_a_switched_link_has_one_rate_for_every_group():
    nvlink = comm.intra_node_link(find_gpu("H100 SXM"))
    assert nvlink.mesh_links == 0
    assert nvlink.rate_gbs(2) == nvlink.rate_gbs(8) == nvlink.busbw_gbs


def test_a_ring_allreduce_over_2_and_over_8_mi300x():
    link = comm.intra_node_link(MI300X)
    # 2 GPUs, 1 GB: 2 x 1 hop x 5 us + 2 x 1/2 x 1 GB / 48 GB/s = 10 us + 20.833 ms
    assert comm.allreduce_s(GB, 2, link) == pytest.approx(10e-6 + 1 / 48)
    # 8 GPUs: 14 hops x 5 us + 2 x 7/8 x 1 GB / 336 GB/s = 70 us + 5.208 ms
    assert comm.allreduce_s(GB, 8, link) == pytest.approx(70e-6 + 1.75 / 336)


def test_a_peer_copy_keeps_the_mesh():
    copy = comm.peer_copy_link(MI300X)
    assert copy.mesh_links == 7
    # one peer over one link: 1 GB / 48 GB/s plus the P2P copy latency
    assert comm.p2p_s(GB, copy) == pytest.approx(copy.latency_s + 1 / 48)


def test_a_link_refuses_a_negative_mesh():
    with pytest.raises(ValueError):
        Link("bad", 10.0, 1e-6, mesh_links=-1)


def _vllm_tp8(interconnect: str = "auto"):
    return job(
        "Instinct MI300X",
        task="infer",
        n_gpus=8,
        tp=8,
        engine="vllm",
        batch_size=1,
        context=2176,
        interconnect=interconnect,
    )


def test_vllm_on_an_mi300x_mesh_takes_its_custom_allreduce():
    s = shape(find_model("llama-3.1-70b"), _vllm_tp8())
    assert perf.tp_comm(s).mode == dec.TP_ONESHOT
    s_pcie = shape(find_model("llama-3.1-70b"), _vllm_tp8("pcie"))
    assert perf.tp_comm(s_pcie).mode == dec.TP_ALLREDUCE


def test_tensor_parallel_decode_on_the_mesh_is_faster_than_over_pcie():
    m = find_model("llama-3.1-70b")
    mesh, pcie = throughput(m, _vllm_tp8()), throughput(m, _vllm_tp8("pcie"))
    assert mesh.allreduce_time_s < pcie.allreduce_time_s
    assert mesh.tokens_per_s > pcie.tokens_per_s
    assert "Infinity Fabric" in (mesh.link or "")
