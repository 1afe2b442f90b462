"""llama.cpp's F32 activations between its prefill GEMMs (ggml_activations.py), by hand on a
toy layer, and their place in the prefill (decode.prefill: a kernel of their own at the
streaming bandwidth, llama.cpp only)."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate import decode as dec
from dlrig.estimate import ggml_activations as ga
from dlrig.estimate.perf import activation_bytes_per_chunk
from dlrig.estimate.shape import derive
from estimate_helpers import job, toy_decoder

# h = q = kv = 4 (one head of 4), FFN 8 (gated). Per token, in bytes:
# norms 2·8·4 = 64; Q/K/V input quantisation 3·5.125·4 = 61.5; RoPE 8·(4 + 4) = 64;
# K and V into the F16 cache 2·6·4 = 48; flash attention's Q in and output out 8·4 = 32;
# the output matmul's input 5.125·4 = 20.5; two residual adds 2·12·4 = 96 -> 386.
# FFN: gate and up inputs 2·5.125·4 = 41, SwiGLU 12·8 = 96, down's input 5.125·8 = 41 -> 178.
ATTENTION, FFN = 386.0, 178.0


def toy(**extra):
    return toy_decoder(
        params_total=1000, hidden=4, heads=1, kv_heads=1, head_dim=4, vocab=16, ffn=8, **extra
    )


def test_a_dense_layers_bytes_by_hand():
    m = toy()
    assert ga.attention_bytes(m) == ATTENTION
    assert ga.layer_bytes_per_token(m, moe=False) == ATTENTION + FFN
    # 10 tokens over both layers
    assert ga.prefill_bytes(m, 10, 2) == 10 * 2 * (ATTENTION + FFN)


def test_an_moe_layer_runs_each_routed_copy_and_sums_them_in_one_fused_add():
    # 2 of 4 experts of width 8: 2 FFNs, the weighting (read and write 2·4 values: 64 B) and
    # the fused sum of the 2 outputs (read 2, write 1: 4·3·4 = 48 B)
    m = toy(n_experts=4, experts_per_token=2, moe_intermediate_size=8)
    assert ga.layer_bytes_per_token(m, moe=True) == ATTENTION + 2 * FFN + 64 + 48


def test_a_shape_without_widths_moves_nothing_counted():
    m = toy().model_copy(update={"hidden_size": None})
    assert ga.prefill_bytes(m, 10, 2) == 0.0


def test_the_activations_add_to_the_chunk_at_the_streaming_bandwidth():
    kw = dict(peak_tflops=100.0, efficiency=0.5, n_layers=2, hidden=4, mem_bw_gbs=100.0)
    base = dec.prefill(1000, 1e9, **kw)
    with_act = dec.prefill(1000, 1e9, activation_bytes=50e9, **kw)
    # 50 GB at 100 GB/s: half a second more, a kernel of its own (not under the FLOPs)
    assert with_act.time_s == pytest.approx(base.time_s + 0.5)
    assert with_act.activation_s == pytest.approx(0.5)
    assert with_act.bound == "memory-bandwidth"


def infer_job(engine: str, **kw):
    kw = dict(task="infer", engine=engine, quant="q4_0", prompt_tokens=512, gen_tokens=1) | kw
    return derive(find_model("llama-2-7b"), job("RTX 4090", **kw))


def test_llama_cpp_alone_pays_for_its_f32_activations():
    m = find_model("llama-2-7b")
    # one 512-token chunk (llama.cpp's default ubatch) over 32 layers
    assert activation_bytes_per_chunk(infer_job("llama.cpp")) == pytest.approx(
        ga.prefill_bytes(m, 512, 32)
    )
    assert activation_bytes_per_chunk(infer_job("vllm", quant="awq")) == 0.0
