"""MoE prefill: llama.cpp's MMQ pads each expert's tokens to a tile sized against the whole
chunk (moe_tiles.py), and a llama.cpp row's quoted ubatch sets its chunk (points.py)."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate import decode as dec
from dlrig.estimate import moe_tiles as mt
from dlrig.estimate.perf import routed_tile_pad
from dlrig.estimate.points import job_of, llama_cpp_ubatch
from dlrig.estimate.shape import derive
from estimate_helpers import job


@pytest.mark.parametrize(
    ("ncols", "width"),
    [
        (512, 128),  # 4 tiles of the widest
        (128, 128),
        (100, 112),  # one tile: the first width >= 100 that the 16-step granularity allows
        (40, 40),  # below 48 widths step by 8
        (1, 8),
    ],
)
def test_mmq_tile_width_follows_mul_mat_q_case(ncols, width):
    assert mt.mmq_tile_width(ncols) == width


def test_dp4a_cards_stop_at_64_columns():
    assert mt.mmq_tile_width(512, mt.MMQ_X_MAX_DP4A, mma=False) == 64


@pytest.mark.parametrize(
    ("n", "q", "tile", "expected"),
    [
        (1, 0.5, 1, 0.5),  # X in {0, 1}: E[ceil(X)] = 1/2
        (2, 0.5, 1, 1.0),  # tile 1: E[X] = 1
        (3, 0.5, 2, 1.0),  # X = 0,1,2,3 w.p. 1,3,3,1 /8 -> tiles 0,1,1,2: (3+3+2)/8
        (5, 1.0, 2, 3.0),  # every token: ceil(5/2)
    ],
)
def test_expected_tiles_by_hand(n, q, tile, expected):
    assert mt.expected_tiles(n, q, tile) == pytest.approx(expected)


def test_pad_factor_every_expert_takes_every_token():
    # E = k = 4: each expert gets all 64 tokens, one 128-wide tile: 4·128 / (64·4) = 2
    assert mt.pad_factor(64, 4, 4, 128) == pytest.approx(2.0)


def test_pad_factor_gpt_oss_20b_pp512_and_pp128():
    # 32 experts, 4 per token: about 64 tokens each at pp512 (never over 128), 16 at pp128
    assert mt.pad_factor(512, 32, 4, 128) == pytest.approx(2.0, abs=1e-6)
    assert mt.pad_factor(128, 32, 4, 128) == pytest.approx(8.0, abs=1e-3)


def test_full_tiles_pad_less_the_more_tokens():
    # a mean of 128 per expert: about half the experts need a second tile
    at_mean = mt.pad_factor(2048, 128, 8, 128)
    assert 1.4 < at_mean < 1.55
    assert mt.pad_factor(16384, 128, 8, 128) < at_mean


def test_prefill_multiplies_only_the_experts_math():
    # 10 FLOPs per token, 6 of them routed; 2 tokens at 1 FLOP/s: 2·(4 + 6·3) s
    p = dec.prefill(
        2,
        10.0,
        peak_tflops=1e-12,
        efficiency=1.0,
        n_layers=1,
        hidden=1,
        routed_flops_per_token=6.0,
        routed_pad=3.0,
    )
    assert p.compute_s == pytest.approx(44.0)
    assert p.time_s == pytest.approx(44.0)


def _shape(engine="llama.cpp", quant="mxfp4", model="gpt-oss-20b", prompt=512, gpu="RTX 3090"):
    return derive(
        find_model(model),
        job(gpu=gpu, task="infer", quant=quant, engine=engine, prompt_tokens=prompt),
    )


def test_llama_cpp_pads_gpt_oss_experts_at_pp512():
    assert routed_tile_pad(_shape()) == pytest.approx(2.0, abs=1e-6)


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"engine": "vllm", "quant": "none"}, "another engine's kernel"),
        ({"prompt": 16}, "a chunk the matrix-vector kernels take"),
        ({"model": "qwen3-8b", "quant": "q4_0"}, "a dense model"),
        ({"quant": "none"}, "16-bit weights: per-expert cuBLAS GEMMs"),
    ],
)
def test_nothing_padded_off_llama_cpp_mmq(kw, why):
    assert routed_tile_pad(_shape(**kw)) == 1.0, why


def test_ubatch_read_from_a_quoted_llama_bench_column():
    row = {"engine": "llama.cpp", "task": "infer", "notes": "columns 'ngl 99 | n_ubatch 2048'"}
    assert llama_cpp_ubatch(row) == {"max_batched_tokens": 2048}
    row["notes"] = "'... | 2048 (n_ubatch) | 1 (fa)'"
    assert llama_cpp_ubatch(row) == {"max_batched_tokens": 2048}
    row["notes"] = "main: n_batch = 2048, n_ubatch = 1024"
    assert llama_cpp_ubatch(row) == {"max_batched_tokens": 1024}
    row["notes"] = "compare-llama-bench: 256 (Microbatch size)"
    assert llama_cpp_ubatch(row) == {"max_batched_tokens": 256}


def test_ubatch_left_at_the_default_when_ambiguous_or_not_llama_cpp():
    two = {"engine": "llama.cpp", "task": "infer", "notes": "n_ubatch 512 ... n_ubatch 2048"}
    assert llama_cpp_ubatch(two) == {}
    other = {"engine": "vllm", "task": "infer", "notes": "n_ubatch 2048"}
    assert llama_cpp_ubatch(other) == {}


def test_a_2048_ubatch_row_prefills_in_one_chunk():
    row = {
        "task": "infer",
        "gpu": "DGX Spark",
        "model": "qwen3-30b-a3b",
        "quant": "q8_0",
        "prompt_tokens": "2048",
        "engine": "llama.cpp",
        "notes": "llama-bench columns 'ngl 99 | n_ubatch 2048 | fa 1'",
    }
    j = job_of(row)
    assert j.max_batched_tokens == 2048
    assert derive(find_model("qwen3-30b-a3b"), j).prefill_tokens_in_flight == 2048


def test_the_estimate_says_the_experts_are_padded_and_by_how_much():
    from dlrig.estimate import explain

    said = " ".join(explain.assumptions(_shape()))
    assert "2x the experts' multiply-adds" in said
    assert "multiply-adds" not in " ".join(explain.assumptions(_shape(engine="vllm", quant="none")))
