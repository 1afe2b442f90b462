"""Eager attention in a prefill: its score matrices stream through DRAM (perf.eager_prefill)."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate import compute as cp
from dlrig.estimate import elementwise as ew
from dlrig.estimate import perf
from dlrig.estimate import shape as shapes
from dlrig.estimate.shape import derive
from estimate_helpers import job


def shape(attention: str, prompt: int = 4096, **kw):
    kw = dict(task="infer", engine="transformers", prompt_tokens=prompt, gen_tokens=1) | kw
    return derive(find_model("llama-2-7b"), job("A100 80GB SXM", attention=attention, **kw))


def test_scores_per_element_are_the_forward_half_of_training():
    # scale, mask add, softmax: read + write each (3 x 2), QK^T writes S, PV reads P (2): 8
    # accesses of 2 bytes
    assert ew.eager_score_prefill_bytes(1.0, 2) == 16.0
    # no mask (a ViT): one pass fewer
    assert ew.eager_score_prefill_bytes(1.0, 2, masked=False) == 12.0


def test_llama_2_7b_at_4096_tokens_streams_p_squared_scores_per_head_and_layer():
    # 32 layers x 32 heads x 4096 x 4096 scores x 16 bytes = 274.9 GB, one forward pass
    assert perf.eager_prefill_score_bytes_per_chunk(shape("eager")) == pytest.approx(
        32 * 32 * 4096 * 4096 * 16
    )
    assert perf.eager_prefill_score_bytes_per_chunk(shape("sdpa")) == 0.0
    assert perf.eager_prefill_score_bytes_per_chunk(shape("flash")) == 0.0


def test_a_batch_of_prompts_multiplies_the_scores():
    one = perf.eager_prefill_score_bytes_per_chunk(shape("eager", prompt=1000))
    two = perf.eager_prefill_score_bytes_per_chunk(shape("eager", prompt=1000, batch_size=2))
    assert two == pytest.approx(2 * one)


def test_eager_prefill_is_slower_and_more_so_for_long_prompts():
    def rate(attention, prompt):
        return perf.throughput_of(shape(attention, prompt)).prefill_tokens_per_s

    short = rate("eager", 256) / rate("sdpa", 256)
    long = rate("eager", 4096) / rate("sdpa", 4096)
    assert long < short <= 1.0 + 1e-9


def test_eager_score_gemms_are_priced_by_their_bytes_not_their_flops():
    eager, sdpa = shape("eager", prompt=2048), shape("sdpa", prompt=2048)
    assert perf.prefill_flops_per_token(eager) < perf.prefill_flops_per_token(sdpa)


def test_fp8_prefill_prices_attention_at_the_16_bit_rate():
    # H100 SXM: FP8's sustained rate over the 16-bit one scales attention's FLOPs
    kw = dict(task="infer", engine="vllm", prompt_tokens=4096, gen_tokens=1)
    m = find_model("llama-2-7b")
    fp8 = derive(m, job("H100 SXM", precision="fp8", **kw))
    bf16 = derive(m, job("H100 SXM", precision="bf16", **kw))
    ratio = cp.sustained_tflops(fp8.job.gpu, "fp8") / cp.sustained_tflops(fp8.job.gpu, "bf16")
    attention = shapes.attention_flops_fwd(m, perf.causal_attended(m, 4096))
    assert perf.fp8_attention_extra_flops(fp8, "fp8") == pytest.approx(attention * (ratio - 1))
    assert perf.fp8_attention_extra_flops(bf16, "bf16") == 0.0
