"""llama.cpp MMQ prefill GEMMs: their DRAM traffic tile by tile (mmq_traffic.py), by hand on
tiny GEMMs, and how much of it reaches the prefill roofline (perf.mmq_extra_bytes_per_chunk)."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate import mmq_traffic as mq
from dlrig.estimate.perf import mmq_extra_bytes_per_chunk
from dlrig.estimate.shape import derive
from estimate_helpers import job

# 512 weight rows x K 128 at 1 byte a weight, 256 tokens; 128 x 128 tiles, 2 SMs:
# 4 row tiles x 2 token tiles. A weight slab 128·128·1 = 16384 B, an activation slab
# 128·128·1.125 = 18432 B, an F32 output tile 128·128·4 = 65536 B (8 tiles: 524288 B).
TINY = dict(rows=512, k=128, cols=256, weight_bytes_per_value=1.0)
SLAB_X, SLAB_Y, OUT = 16384, 18432, 8 * 65536


def tiny(l2_bytes: float, stream_k: bool = True) -> float:
    return mq.gemm_dram_bytes(
        **TINY, mmq_x=128, mmq_y=128, n_sm=2, l2_bytes=l2_bytes, stream_k=stream_k
    )


def test_lower_bound_reads_everything_once():
    assert mq.lower_bound_bytes(**TINY) == 4 * SLAB_X + 2 * SLAB_Y + OUT
    assert tiny(1e12) == mq.lower_bound_bytes(**TINY)


def test_without_l2_every_tile_step_reads_its_slabs():
    # stream-k: block 0 runs tiles 0-3, block 1 tiles 4-7, token tile fastest: each of 4
    # steps reads two weight slabs and one activation slab (both blocks on one token tile)
    assert tiny(0) == 4 * (2 * SLAB_X + SLAB_Y) + OUT


def test_stream_k_keeps_a_blocks_slab_between_its_token_tiles():
    # L2 400000 B: a block's slab re-read one step later (distance 2 slabs + 2 activation
    # slabs + 4 output tiles = 331776 B) hits; an activation slab two steps later (495616 B)
    # misses. Billed: steps 0..3 read 51200, 18432, 32768 + 18432, 18432 B.
    reads = (2 * SLAB_X + SLAB_Y) + SLAB_Y + (2 * SLAB_X + SLAB_Y) + SLAB_Y
    assert tiny(400_000) == reads + OUT


def test_conventional_tiling_walks_the_weights_per_token_tile():
    # blockIdx.x = row tile fastest: steps (0,0)(1,0) | (2,0)(3,0) | (0,1)(1,1) | (2,1)(3,1);
    # a slab comes back two steps later (495616 B > 400000 B: re-read), an activation slab
    # one step later (346112 B: kept)
    reads = (2 * SLAB_X + SLAB_Y) + 2 * SLAB_X + (2 * SLAB_X + SLAB_Y) + 2 * SLAB_X
    assert tiny(400_000, stream_k=False) == reads + OUT
    assert tiny(400_000, stream_k=False) > tiny(400_000)


def test_a_big_gemm_on_a_small_l2_reads_its_weights_once_per_token_tile():
    # 82 SMs x a 128 x 4096 slab at Q4_0 (0.5625 B) = 24 MB of slabs in flight, over 6 MB
    x = 11008 * 4096 * 0.5625
    got = mq.gemm_dram_bytes(
        11008, 4096, 512, 0.5625, mmq_x=128, mmq_y=128, n_sm=82, l2_bytes=6 * 2**20
    )
    assert got >= 4 * x  # 4 token tiles of 128
    held = mq.gemm_dram_bytes(
        11008, 4096, 512, 0.5625, mmq_x=128, mmq_y=128, n_sm=82, l2_bytes=96 * 2**20
    )
    assert held == mq.lower_bound_bytes(11008, 4096, 512, 0.5625)


def test_a_layers_gemms_as_llama_cpp_holds_them():
    m = find_model("llama-2-7b")
    dense, moe = mq.dense_layer_gemms(m)
    h, i = 4096, 11008
    assert dense == ((h, h), (h, h), (h, h), (h, h), (i, h), (i, h), (h, i))
    assert moe == dense[:4]


def infer_job(gpu: str, model: str = "llama-2-7b", **kw):
    kw = dict(task="infer", engine="llama.cpp", quant="q4_0", prompt_tokens=512, gen_tokens=1) | kw
    return derive(find_model(model), job(gpu, **kw))


def test_the_prefill_counts_the_re_reads_where_l2_cannot_hold_the_slabs():
    m = find_model("llama-2-7b")
    dense_weights = sum(r * k for r, k in mq.dense_layer_gemms(m)[0]) * 4.5 / 8 * 32
    # RTX 3090: 6 MB of L2 for 82 SMs' slabs: the weights come back for each of 4 token tiles
    assert mmq_extra_bytes_per_chunk(infer_job("RTX 3090")) >= 3 * dense_weights
    # RTX 4090: 72 MB holds 128 SMs' slabs of the K = 4096 matrices: far fewer re-reads
    assert mmq_extra_bytes_per_chunk(infer_job("RTX 4090")) < 2 * dense_weights


def test_no_re_reads_priced_without_a_sourced_l2_or_off_the_mmq_path():
    assert mmq_extra_bytes_per_chunk(infer_job("DGX Spark")) == 0.0  # no sourced L2 size
    assert mmq_extra_bytes_per_chunk(infer_job("RTX 3090", prompt_tokens=16)) == 0.0  # MMVQ
    assert mmq_extra_bytes_per_chunk(infer_job("RTX 3090", quant="none")) == 0.0  # cuBLAS F16


@pytest.mark.parametrize("gpu", ["RTX 3090", "RTX 4090", "A100 80GB SXM"])
def test_extra_traffic_is_never_negative(gpu):
    assert mmq_extra_bytes_per_chunk(infer_job(gpu, prompt_tokens=2048)) >= 0.0
