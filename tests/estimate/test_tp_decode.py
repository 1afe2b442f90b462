"""Tensor-parallel decode: how each engine's GPUs meet (decode.tp_comm_s, perf.tp_comm) and
what `--tp` without `--engine` is priced as. Tiny cases are worked by hand in the comments."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dlrig.catalog.lookup import find_gpu, find_model
from dlrig.estimate import comm, explain, perf
from dlrig.estimate import decode as dec
from dlrig.estimate import memory as mem
from dlrig.estimate.comm import Link
from dlrig.estimate.job import shape, throughput
from estimate_helpers import job

# 10 GB/s and 10 us: a 2,000-byte message moves in 0.2 us
LINK = Link("test", 10.0, 10e-6)
ROOT = Path(__file__).resolve().parents[2]


def test_oneshot_allreduce_is_one_hop_and_reads_every_peer():
    # 4 ranks, 1,000 bytes, 1 GB/s, 1 us: 1 us + 3 x 1,000 B / 1e9 B/s = 4 us
    assert comm.oneshot_allreduce_s(1000, 4, Link("t", 1.0, 1e-6)) == pytest.approx(4e-6)
    assert comm.oneshot_allreduce_s(1000, 1, LINK) == 0.0


def test_twostage_allreduce_is_two_hops_at_a_rings_bytes():
    # 4 ranks, 1,000 bytes, 1 GB/s, 1 us: 2 x 1 us + 2 x 3/4 x 1,000 B / 1e9 B/s = 3.5 us
    assert comm.twostage_allreduce_s(1000, 4, Link("t", 1.0, 1e-6)) == pytest.approx(3.5e-6)


@pytest.mark.parametrize(
    ("n", "nbytes", "kernel"),
    [
        # vLLM csrc/custom_all_reduce.cuh: two GPUs always one-stage (below the 8 MiB buffer)
        (2, 4 * 2**20, "one"),
        # a 4-GPU mesh: one-stage below 512 KiB, two-stage from there
        (4, 512 * 1024 - 16, "one"),
        (4, 512 * 1024, "two"),
        # 6 or 8 GPUs: one-stage below 256 KiB
        (8, 256 * 1024 - 16, "one"),
        (8, 256 * 1024, "two"),
        # at or above custom_all_reduce.py's max_size = 8192 * 1024: NCCL's ring
        (8, 8 * 2**20, "ring"),
        (2, 8 * 2**20, "ring"),
    ],
)
def test_vllm_custom_allreduce_takes_the_kernel_vllm_takes(n, nbytes, kernel):
    link = Link("t", 100.0, 2e-6)
    expected = {
        "one": comm.oneshot_allreduce_s,
        "two": comm.twostage_allreduce_s,
        "ring": comm.allreduce_s,
    }[kernel](nbytes, n, link)
    assert comm.vllm_custom_allreduce_s(nbytes, n, link) == expected
    # 8 GPUs, 16 MiB (a 1,024-token prefill chunk of an 8,192-wide model in 16-bit): NCCL's ring
    # moves 2 x 7/8 of it, not the one-shot kernel's 7 x: 14 hops x 2 us + 1.75 x 16 MiB / 100 GB/s
    big = 16 * 2**20
    assert comm.vllm_custom_allreduce_s(big, 8, link) == pytest.approx(28e-6 + 1.75 * big / 100e9)


@pytest.mark.parametrize(
    ("mode", "matmuls", "expected_us"),
    [
        # 2 layers x 2 all-reduces x (2(n-1) = 2 steps x 10 us + 2(n-1)/n x 2,000 B = 0.2 us)
        (dec.TP_ALLREDUCE, 0, 4 * 20.2),
        # 2 layers x 2 x (one hop 10 us + (n-1) x 2,000 B = 0.2 us)
        (dec.TP_ONESHOT, 0, 4 * 10.2),
        # 2 layers x 2 x (10 us + both GPUs' 2 x 2,000 B = 0.4 us) through the host buffer
        (dec.TP_HOST, 0, 4 * 10.4),
        # 2 layers x 7 matmuls x 2 copies x (10 us + 1,000 x 4-byte F32 = 0.4 us)
        (dec.TP_ROW, 7, 28 * 10.4),
    ],
)
def test_each_tensor_parallel_mode_by_hand(mode, matmuls, expected_us):
    # one token (rows 1) of a 1,000-wide hidden state (2,000 bytes in 16-bit) over 2 GPUs
    tc = dec.TpComm(mode, LINK, matmuls)
    got = dec.tp_comm_s(1, 1000, 2, 2, tc, LINK)
    assert got == pytest.approx(expected_us * 1e-6)
    assert dec.tp_comm_s(1, 1000, 1, 2, tc, LINK) == 0.0  # one GPU meets no one


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="tensor-parallel mode"):
        dec.TpComm("magic")


def _tp(gpu: str, n: int, **kw):
    kw.setdefault("task", "infer")
    return job(gpu, n_gpus=n, tp=n, quant="int4", context=512, **kw)


def test_tp_without_an_engine_is_priced_by_every_tp_engine_and_says_so():
    m = find_model("llama-2-70b")
    unnamed = throughput(m, _tp("RTX 3090", 2))
    named = {e: throughput(m, _tp("RTX 3090", 2, engine=e)) for e in unnamed.engine_rates_tok_s}
    # the headline is one engine's estimate, whole; the interval spans every engine's
    head = named[unnamed.engine]
    assert unnamed.tokens_per_s == pytest.approx(head.tokens_per_s)
    assert unnamed.step_time_s == pytest.approx(head.step_time_s)
    assert unnamed.interval.low == min(t.interval.low for t in named.values())
    tops = [t.interval.high for t in named.values()]
    assert unnamed.interval.high == (None if None in tops else max(tops))
    assert {"vllm", "llama.cpp", "exllamav2"} <= set(named)
    said = explain.assumptions(shape(m, _tp("RTX 3090", 2)))
    line = next(a for a in said if "--tp 2 without --engine" in a)
    assert all(e in line for e in named)
    # a layer split without --tp keeps the pooled constants of the unnamed engine
    layers = job("RTX 3090", task="infer", n_gpus=2, quant="int4", context=512)
    assert perf.engine(layers) == perf.UNNAMED_ENGINE
    assert throughput(m, layers).engine_rates_tok_s is None


@pytest.mark.parametrize(
    ("gpu", "n", "interconnect", "mode"),
    [
        ("RTX 3090", 2, "auto", dec.TP_ALLREDUCE),  # GeForce: no P2P, so NCCL
        ("RTX 4090", 2, "auto", dec.TP_ALLREDUCE),  # no P2P and no NVLink at all
        ("RTX 3090", 2, "nvlink", dec.TP_ONESHOT),  # a bridged pair reaches P2P over NVLink
        ("A100 80GB PCIe", 2, "pcie", dec.TP_ONESHOT),  # a P2P pair
        ("A100 80GB PCIe", 4, "pcie", dec.TP_ALLREDUCE),  # vLLM refuses > 2 PCIe-only GPUs
        ("A100 80GB SXM", 8, "auto", dec.TP_ONESHOT),  # a full NVLink mesh
    ],
)
def test_vllm_uses_its_custom_allreduce_where_its_gate_allows(gpu, n, interconnect, mode):
    s = shape(find_model("llama-2-70b"), _tp(gpu, n, engine="vllm", interconnect=interconnect))
    assert perf.tp_comm(s).mode == mode


def test_llama_cpp_tp_is_its_row_split_with_two_peer_copies_per_matmul():
    m = find_model("llama-2-70b")  # 80 layers, gated MLP: q, k, v, o, gate, up, down
    assert perf.split_matmuls_per_layer(m) == 7
    j = _tp("RTX 3090", 2, engine="llama.cpp", batch_size=1)
    t = throughput(m, j)
    link = comm.peer_copy_link(find_gpu("RTX 3090"))
    assert link.latency_s == pytest.approx(14e-6)  # no P2P on a GeForce card
    # 80 layers x 7 matmuls x 2 copies of one token's F32 hidden state (8,192 x 4 bytes), and
    # at each of the 560 split matmuls the fitted wait of a tensor-parallel meeting
    copies_s = 80 * 7 * 2 * comm.p2p_s(8192 * 4, link)
    assert t.allreduce_time_s == pytest.approx(copies_s + 80 * 7 * perf.tp_sync_s())
    assert "row split" in t.link
    # attention and the KV cache stay on the main GPU: its KV read and its KV memory are the
    # whole cache, twice what one of vLLM's two ranks holds (8 KV heads split over 2)
    s = shape(m, j)
    vllm = shape(m, _tp("RTX 3090", 2, engine="vllm", batch_size=1))
    assert perf.decode_inputs(s).kv_bytes == pytest.approx(2 * perf.decode_inputs(vllm).kv_bytes)
    assert mem.kv_cache_bytes(s) == pytest.approx(2 * mem.kv_cache_bytes(vllm))
    one_gpu = shape(m, job("RTX 3090", task="infer", quant="int4", context=512, batch_size=1))
    assert mem.kv_cache_bytes(s) == pytest.approx(mem.kv_cache_bytes(one_gpu))


def test_exllamav2_tp_gathers_through_the_host_even_over_p2p():
    m = find_model("llama-2-70b")
    s = shape(m, _tp("A100 80GB PCIe", 2, engine="exllamav2", interconnect="pcie"))
    tc = perf.tp_comm(s)
    assert tc.mode == dec.TP_HOST
    assert tc.link is not None and tc.link.latency_s == pytest.approx(14e-6)


def test_exllamav2_tp_says_its_rate_is_an_upper_bound():
    """Its host's wait at each gather is not priced and the one published A/B ran its TP slower
    than its layer split: the estimate says so; other engines' TP lines do not."""
    m = find_model("llama-2-70b")
    said = explain.assumptions(shape(m, _tp("RTX 3090", 2, engine="exllamav2")))
    assert any("upper bound" in a and "13.06" in a for a in said)
    said = explain.assumptions(shape(m, _tp("RTX 3090", 2, engine="vllm")))
    assert not any("upper bound" in a for a in said)


def test_row_split_copies_cost_more_without_p2p():
    m = find_model("llama-2-70b")
    kw = dict(engine="llama.cpp", batch_size=1)
    p2p = throughput(m, _tp("A100 80GB PCIe", 2, interconnect="pcie", **kw))
    no_p2p = throughput(m, _tp("A100 80GB PCIe", 2, interconnect="pcie-nop2p", **kw))
    waits_s = 80 * 7 * perf.tp_sync_s()  # the same meetings either way (tp_sync_s)
    assert no_p2p.allreduce_time_s - waits_s > 5 * (p2p.allreduce_time_s - waits_s)
    assert math.isfinite(no_p2p.tokens_per_s) and no_p2p.tokens_per_s < p2p.tokens_per_s


def test_the_saved_calibration_report_has_the_tensor_parallel_relation_lines():
    text = (ROOT / "benchmarks" / "results" / "calibration-after.txt").read_text()
    for label in (
        "--tp 2, no --engine (the median TP engine; the range spans every TP engine's)",
        "llama.cpp, --tp 2 (its --split-mode row)",
        "exllamav2, --tp 2 (its tensor_parallel)",
        "vllm, --tp 2",
        "2x RTX 3090 Ti, Llama-3.1-70B AWQ, vllm --tp 2",
        "2x RTX 4090, Llama-2-70B, llama.cpp --tp 2 = row split (Q4_0)",
    ):
        lines = [x for x in text.splitlines() if label in x]
        assert lines, label
        assert all("tok/s ±" in x for x in lines), label


def test_vllm_on_a_geforce_pair_pays_nccls_ring_through_host_memory():
    # 2x RTX 3090 (PCIe 4.0 x16 = 31.5 GB/s, no P2P), Llama-2-70B, vLLM --tp 2: custom
    # all-reduce off, so 80 layers x 2 NCCL ring all-reduces of one token's 8,192 x 2 bytes,
    # each 2 steps x latency_us_pcie_nop2p_hop + 16,384 B at 31.5 x 0.78 x 0.4 GB/s (~9.5 us;
    # NCCL's own tuner: 6.6 + 2 x 1.0 = 8.6 us), about 1.5 ms per token
    from dlrig.estimate import params as p

    s = shape(find_model("llama-2-70b"), _tp("RTX 3090", 2, engine="vllm"))
    tc = perf.tp_comm(s)
    link = comm.intra_node_link(find_gpu("RTX 3090"))
    busbw = 31.5 * p.value("allreduce_busbw_fraction_pcie") * p.value("pcie_no_p2p_fraction") * 1e9
    one = 2 * p.value("latency_us_pcie_nop2p_hop") * 1e-6 + 16384 / busbw
    got = dec.tp_comm_s(1, 8192, 2, 80, tc, link)
    assert tc.mode == dec.TP_ALLREDUCE
    # plus the fitted wait at each of the 160 meetings (tp_sync_s)
    assert tc.sync_s == perf.tp_sync_s()
    assert got == pytest.approx(160 * (one + tc.sync_s), rel=1e-3)
    assert 1.0e-3 < got - 160 * tc.sync_s < 2.0e-3
