"""Throughput formulas on tiny hand-computable inputs and on well-known models."""

from __future__ import annotations

import pytest

from dlrig.catalog import load
from dlrig.catalog.lookup import find_gpu, find_model
from dlrig.estimate import params as p
from dlrig.estimate import throughput as tp
from dlrig.estimate.job import throughput
from dlrig.model.workload import ModelKind, ModelSpec
from estimate_helpers import job


def tiny(vocab: int = 10, tied: bool = False) -> ModelSpec:
    # 2 layers, h = 8, 2 heads of 4: attention_flops_fwd = 4 · L · (H·Q) · T = 64 · T.
    return ModelSpec(
        name="tiny",
        kind=ModelKind.DECODER,
        params_total=1000,
        n_layers=2,
        hidden_size=8,
        n_heads=2,
        n_kv_heads=2,
        head_dim=4,
        vocab_size=vocab,
        intermediate_size=16,
        gated_mlp=True,
        tied_embeddings=tied,
    )


def test_peaks_by_precision():
    g = find_gpu("RTX 4090")
    assert tp.peak(g, "bf16").tflops == 165.2  # dense, FP32 accumulate (GeForce halved)
    assert tp.peak(g, "tf32").tflops == pytest.approx(82.6)  # half the FP16 rate on Ada
    assert tp.peak(g, "fp32").tflops == g.fp32_tflops
    v100 = find_gpu("V100 SXM2")  # "V100" alone also fits the PCIe card
    assert tp.peak(v100, "tf32").warning  # Volta has no TF32: falls back to FP32 with a note
    assert tp.peak(v100, "fp8").warning


def test_palm_training_flops_per_token():
    m = tiny()
    n = 1000 - 10 * 8  # the untied input embedding is a lookup, not a matmul
    flops = tp.train_flops_per_token(m, job(), s=100)
    assert flops.model == 6 * n + 3 * 64 * 100  # 6N + 12·L·H·Q·T
    assert flops.recompute == 2 * n + 64 * 100
    lora = tp.train_flops_per_token(m, job(task="lora"), s=100)
    assert lora.model == 4 * n + 3 * 64 * 100  # no weight gradients for frozen matrices


def test_tied_embeddings_count_as_the_output_head():
    assert tp.compute_params(tiny(tied=True)) == 1000
    assert tp.compute_params(tiny(tied=False)) == 920


def test_training_time_is_flops_over_peak_times_mfu():
    m = find_model("gpt2")
    j = job("A100 80GB SXM", seq_len=1024, batch_size=8, mfu=0.5)
    t = throughput(m, j)
    flops = tp.train_flops_per_token(m, j, 1024).model
    assert t.compute_time_s == pytest.approx(flops * 8 * 1024 / (312e12 * 0.5))
    assert t.tokens_per_s == pytest.approx(8 * 1024 / t.step_time_s)
    assert t.allreduce_time_s == 0 and t.link.startswith("none")


def test_checkpointing_costs_one_forward_pass():
    m = find_model("llama-3-8b")
    # mfu_train_llm_datacenter was measured without full recomputation.
    off = throughput(m, job("H100 SXM", seq_len=2048, batch_size=1))
    on = throughput(m, job("H100 SXM", seq_len=2048, batch_size=1, checkpointing=True))
    assert on.compute_time_s / off.compute_time_s == pytest.approx(4 / 3, rel=0.02)
    # A user's --mfu is this job's MFU, recomputation included.
    given = throughput(m, job("H100 SXM", seq_len=2048, batch_size=1, mfu=0.4, checkpointing=True))
    plain = throughput(m, job("H100 SXM", seq_len=2048, batch_size=1, mfu=0.4))
    assert given.compute_time_s == pytest.approx(plain.compute_time_s)


def test_mfu_measured_with_checkpointing_is_not_charged_twice():
    m = find_model("llama-3-8b")
    on = throughput(m, job(task="lora", seq_len=2048, batch_size=2, checkpointing=True))
    off = throughput(m, job(task="lora", seq_len=2048, batch_size=2))
    # mfu_lora was measured with checkpointing: turning it off makes the job faster.
    assert off.step_time_s < on.step_time_s
    expected = p.value("mfu_lora")
    flops = tp.train_flops_per_token(m, job(task="lora"), 2048).model
    assert on.compute_time_s == pytest.approx(flops * 4096 / (165.2e12 * expected))


def test_ring_allreduce_over_pcie_with_and_without_p2p():
    m = find_model("llama-2-7b")
    a6000 = job("RTX A6000", task="train", n_gpus=2, interconnect="pcie")
    rtx3090 = job("RTX 3090", task="train", n_gpus=2, interconnect="pcie")
    link_p2p, link_host = tp.allreduce_link(a6000), tp.allreduce_link(rtx3090)
    pcie4_x16 = load.pcie_gens()[4].per_lane_gbs * 16
    assert link_p2p.busbw_gbs == pytest.approx(pcie4_x16 * p.value("allreduce_busbw_fraction_pcie"))
    assert link_host.busbw_gbs == pytest.approx(
        link_p2p.busbw_gbs * p.value("pcie_no_p2p_fraction")
    )
    # 2 GPUs: a ring all-reduce sends 2·(n-1)/n = 1 x the gradient bytes.
    grads = m.params_total * 2
    assert tp.comm_time_s(m, a6000, link_p2p) == pytest.approx(grads / (link_p2p.busbw_gbs * 1e9))
    assert "no P2P" in link_host.what


def test_zero3_moves_one_and_a_half_times_ddp_traffic():
    m = find_model("llama-2-7b")
    ddp = job("H100 SXM", n_gpus=8)
    fsdp = job("H100 SXM", n_gpus=8, zero=3)
    link = tp.allreduce_link(ddp)
    assert link.what.startswith("NVLink 450")
    assert tp.comm_time_s(m, fsdp, link) / tp.comm_time_s(m, ddp, link) == pytest.approx(1.5)


def test_decode_is_bandwidth_bound_at_batch_one():
    m = find_model("llama-2-7b")
    j = job(task="infer", context=128, batch_size=1)
    t = throughput(m, j)
    read = tp.decode_bytes_per_step(m, j, 1)
    assert t.bound == "memory-bandwidth"
    assert t.tokens_per_s == pytest.approx(1008e9 * p.value("efficiency_decode_bandwidth") / read)
    # Every fp16 weight but the input embedding (a lookup), plus 128 tokens of KV cache.
    weights = (m.params_total - 32000 * 4096) * 2
    assert read == pytest.approx(weights + 2 * 32 * 4096 * 2 * 128)


def test_moe_decode_reads_only_routed_experts():
    m = find_model("mixtral-8x7b")
    j1 = job("H100 SXM", task="infer", quant="int4", batch_size=1, context=512)
    j8 = job("H100 SXM", task="infer", quant="int4", batch_size=8, context=512)
    one = tp.decode_bytes_per_step(m, j1, 1) - 0
    eight = tp.decode_bytes_per_step(m, j8, 8)
    assert one < eight  # 2 of 8 experts vs all 8
    assert one / 1e9 < 0.5 * m.params_total * 4.2 / 8 / 1e9


def test_more_gpus_more_throughput_less_per_gpu_for_ddp_over_pcie():
    m = find_model("llama-2-7b")
    one = throughput(m, job("RTX 3090", task="lora", batch_size=1))
    four = throughput(m, job("RTX 3090", task="lora", batch_size=1, n_gpus=4))
    assert four.tokens_per_s > one.tokens_per_s
    assert four.tokens_per_s_per_gpu <= one.tokens_per_s_per_gpu
