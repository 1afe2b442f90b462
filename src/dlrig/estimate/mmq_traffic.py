"""DRAM traffic of one llama.cpp MMQ GEMM (quantized weights x a prompt chunk), tile by tile.

What the kernel does (ggml-org/llama.cpp ggml/src/ggml-cuda/mmq.cuh, read at commit
00cd208554e3f21e967084e9845c4de64dc761c0, 2026; the stream-k structure is PR #8018,
JohannesGaessler, 2024-06-19, "CUDA: stream-k decomposition for MMQ"):
- the output (weight rows x tokens) is cut into tiles of mmq_y weight rows by mmq_x tokens
  (get_mmq_y_host: 128 on NVIDIA Volta and newer, 64 before; mmq_x: moe_tiles.mmq_tile_width);
  each tile is one CUDA block's loop over K that reads its slab of weights (mmq_y rows x K,
  in the GGUF block format: bits/8 bytes a weight) and its slab of activations (mmq_x tokens
  x K, pre-quantized to block_q8_1_mmq: "static_assert(sizeof(block_q8_1_mmq) ==
  4*QK8_1 + 4*sizeof(half2))", 144 bytes per 128 values) and writes its F32 output once;
- on NVIDIA Volta and newer the kernel runs "stream-k" (mul_mat_q: "kbc == k block
  continuous, current index in continuous ijk space"; launch_mul_mat_q:
  block_nums_stream_k(nsm, 1, 1)): one CUDA block per SM, block b taking the contiguous run
  [b*T/nsm, (b+1)*T/nsm) of the T tiles in the order the kernel decodes kbc (`jt` = kbc /
  blocks_per_ne00 mod ntx, the row tile `it` the quotient): the token tile index is the
  fastest, so a block walks all token tiles of one row tile, re-reading its weight slab for
  each, while the other SMs' blocks do the same on their own row tiles;
- before Volta (and on AMD cards other than CDNA) the kernel tiles conventionally:
  block_nums_xy_tiling(nty, ntx, ...) with `it = blockIdx.x`, so blocks are issued row tile
  fastest and the blocks in flight share a token tile and walk the weights.
Later builds (PR #22298, 2026-04-23) launch one block per tile when that wastes at most 10 %
of a wave ("if it is <= 10% tiling is used"); that order is not modelled here (left to a
build-dated setting), the stream-k one is.

Which of those reads reach DRAM is l2_residency's rule (an LRU cache of the card's L2 size,
no partial credit): the GEMM is walked in steps in which every resident block does one tile
(equal progress: all tiles of a GEMM cost the same), each step a kernel of l2_residency that
reads the distinct slabs its tiles touch (blocks reading one slab in the same step fetch it
from DRAM once) and writes its tiles' outputs. A weight slab re-read by its block one step
later stays in L2 exactly when the step's distinct slabs fit in L2, which is what
separates a low-bandwidth card with a small L2 (the weights streamed once per token tile)
from one whose L2 holds the concurrent slabs (the weights read once).
"""

from __future__ import annotations

import math
from functools import cache

from dlrig.estimate import l2_residency as l2
from dlrig.model.workload import ModelSpec

# get_mmq_y_host: NVIDIA from Volta (cc 7.0) up 128 weight rows per tile, older cards 64.
MMQ_Y_VOLTA = 128
MMQ_Y_OLDER = 64
# block_q8_1_mmq: 128 int8 values + 4 half2 scales = 144 bytes per 128 activation values.
Q8_1_MMQ_BYTES_PER_VALUE = 144 / 128
# ggml's matmul output (dst) is F32: write_back stores the float sums.
DST_BYTES = 4


@cache
def gemm_dram_bytes(
    rows: int,
    k: int,
    cols: int,
    weight_bytes_per_value: float,
    *,
    mmq_x: int,
    mmq_y: int,
    n_sm: int,
    l2_bytes: float,
    stream_k: bool = True,
) -> float:
    """DRAM bytes of one MMQ GEMM: `rows` weight rows of length `k` times `cols` tokens
    (module docstring). `n_sm`: the CUDA blocks resident at once (one per SM); `stream_k`
    False: the conventional tiling of older cards. The lower bound (each weight and
    activation byte read once, each output byte written once) is reached when L2 holds
    what the blocks in flight share."""
    if min(rows, k, cols, mmq_x, mmq_y, n_sm) <= 0:
        return 0.0
    nty, ntx = math.ceil(rows / mmq_y), math.ceil(cols / mmq_x)
    n_tiles = nty * ntx
    blocks = min(n_sm, n_tiles)

    def slab(it: int) -> l2.Access:
        return (f"x{it}", min(mmq_y, rows - it * mmq_y) * k * weight_bytes_per_value)

    def act(jt: int) -> l2.Access:
        return (f"y{jt}", min(mmq_x, cols - jt * mmq_x) * k * Q8_1_MMQ_BYTES_PER_VALUE)

    def out(it: int, jt: int) -> l2.Access:
        n = min(mmq_y, rows - it * mmq_y) * min(mmq_x, cols - jt * mmq_x)
        return (f"d{it}.{jt}", n * DST_BYTES)

    steps: list[list[tuple[int, int]]] = []
    if stream_k:
        starts = [b * n_tiles // blocks for b in range(blocks + 1)]
        for s in range(max(starts[b + 1] - starts[b] for b in range(blocks))):
            tiles = [starts[b] + s for b in range(blocks) if starts[b] + s < starts[b + 1]]
            steps.append([(t // ntx, t % ntx) for t in tiles])
    else:  # blockIdx.x = it fastest, blocks issued in that order, `blocks` at a time
        for first in range(0, n_tiles, blocks):
            ids = range(first, min(first + blocks, n_tiles))
            steps.append([(i % nty, i // nty) for i in ids])
    # blocks reading one slab in the same step: one DRAM fetch (dict.fromkeys keeps one)
    kernels = [
        l2.Kernel(
            reads=tuple(dict.fromkeys([slab(i) for i, _ in tiles] + [act(j) for _, j in tiles])),
            writes=tuple(out(i, j) for i, j in tiles),
        )
        for tiles in steps
    ]
    return sum(l2.billed_bytes(kernels, l2_bytes))


def lower_bound_bytes(rows: int, k: int, cols: int, weight_bytes_per_value: float) -> float:
    """Each weight and activation byte read once and each output byte written once: what
    gemm_dram_bytes gives when L2 holds everything the blocks in flight share."""
    return (
        rows * k * weight_bytes_per_value
        + cols * k * Q8_1_MMQ_BYTES_PER_VALUE
        + (rows * cols * DST_BYTES)
    )


Gemm = tuple[int, int]  # (weight rows, K): one weight matrix a layer multiplies the chunk by


def dense_layer_gemms(m: ModelSpec) -> tuple[tuple[Gemm, ...], tuple[Gemm, ...]]:
    """The weight matrices MMQ multiplies a chunk by in one layer, as llama.cpp's graph holds
    them (one MUL_MAT each: wq, wk, wv, wo, then ffn_gate, ffn_up, ffn_down): the dense
    layers' and the MoE layers' (attention and shared experts; the routed experts are one
    MUL_MAT_ID over a few tokens per expert, moe_tiles.py, and the router is F32). Empty for
    shapes whose attention this list does not describe (MLA) or that lack dimensions."""
    h, heads = m.hidden_size, m.n_heads
    if not h or not heads or m.kv_lora_rank or m.q_lora_rank:
        return (), ()
    hd = m.head_dim or h // heads
    kv = (m.n_kv_heads or heads) * hd
    attention: tuple[Gemm, ...] = ((heads * hd, h), (kv, h), (kv, h), (h, heads * hd))

    def ffn(width: int) -> tuple[Gemm, ...]:
        up = ((width, h), (width, h)) if m.gated_mlp else ((width, h),)
        return (*up, (h, width))

    dense = attention + (ffn(m.intermediate_size) if m.intermediate_size else ())
    routed = m.moe_intermediate_size or m.intermediate_size or 0
    shared = (m.n_shared_experts or 0) * (m.shared_expert_intermediate_size or routed)
    moe = attention + (ffn(shared) if shared else ())
    return dense, moe


def prefill_extra_bytes(
    m: ModelSpec,
    tokens: int,
    weight_bytes_per_value: float,
    *,
    mmq_x: int,
    mmq_y: int,
    n_sm: int,
    l2_bytes: float,
    stream_k: bool,
    layers: float,
) -> float:
    """DRAM bytes a chunk of `tokens` moves through its dense MMQ GEMMs beyond reading each
    weight once (what the prefill's roofline already counts): the weight slabs re-read per
    token tile, the activations and the F32 outputs (gemm_dram_bytes), over `layers` layers
    (one GPU's share), MoE layers with their own list."""
    dense, moe = dense_layer_gemms(m)
    n_moe = max(m.total_layers - m.first_dense_layers, 0) if m.n_experts else 0
    per_kind = ((dense, m.total_layers - n_moe), (moe, n_moe))
    total = 0.0
    for gemms, count in per_kind:
        if not count:
            continue
        per_layer = sum(
            gemm_dram_bytes(
                rows,
                k,
                tokens,
                weight_bytes_per_value,
                mmq_x=mmq_x,
                mmq_y=mmq_y,
                n_sm=n_sm,
                l2_bytes=l2_bytes,
                stream_k=stream_k,
            )
            - rows * k * weight_bytes_per_value
            for rows, k in gemms
        )
        total += per_layer * count
    return total * layers / m.total_layers if m.total_layers else 0.0
