"""Padding of an MoE prefill's expert GEMMs to the engine's tile width.

A prompt chunk of T tokens, each routed to k of E experts, gives each expert about
M = T·k/E rows (tokens) to multiply by its weights: 16 of a 128-token chunk for gpt-oss-20b
(4 of 32 experts), 64 of 512. A tiled GEMM kernel covers an expert's rows in tiles of w
columns and does a whole tile's multiply-adds whatever part of it holds real tokens, so the
experts cost ceil(M/w)·w rows each where the math names M: the routed FLOPs times
`pad_factor`, at the rate the kernel reaches on full tiles.

llama.cpp's CUDA backend (ggml/src/ggml-cuda/mmq.cu, mmq.cuh) multiplies all experts of a
MUL_MAT_ID in one MMQ launch and picks its tile width mmq_x against ncols_max, the chunk's
token count, as if one expert could receive every token, not against the tokens an expert
gets: "For MUL_MAT_ID, mul_mat_q_case picks the tile width (mmq_x) by tiling over ncols_max,
which assumes every token can land in a single tile column range - the worst case of all
tokens routed to one expert. In practice each expert receives only about
ncols_dst / nchannels_y tokens, so at large ncols_max the selection lands on wide tiles
(e.g. mmq_x=128) that are mostly empty per expert" (AMD-Ecosystem/llama.cpp PR #39,
2026-07). Upstream changed this only for AMD RDNA3/RDNA4 (ggml-org/llama.cpp PR #24546 and
#28552, 2026-06/09: ncols_opt = ne12·n_expert_used/ne02 there, ne12 on every other card);
NVIDIA's own PR for Ampere, Ada and Blackwell (ggml-org/llama.cpp PR #26977, anavp-nvidia,
2026-08, open) says "Once the mean columns per expert reaches 43 (Blackwell) or 64
(Ampere/Ada) the formula returns 128, which is the width upstream already picks".

The tile width llama.cpp picks (mmq.cu, mul_mat_q_case): the smallest multiple of the
granularity (8, or 16 from 48 up on MMA cards: mmq_get_granularity_host) up to mmq_x_max
that needs the fewest tiles over ncols_max; mmq_x_max is 128 on cards with int8 MMA (Turing
and newer: get_mmq_x_max_host, turing_mma_available) and 64 on older ones (dp4a:
MMQ_DP4A_MAX_BATCH_SIZE). So a chunk of 128 tokens or more gets 128-wide tiles, and gpt-oss-20b
at pp512 pads each expert's 64 tokens to 128 (twice the work), at pp128 its 16 to 128 (8x);
Qwen3-30B-A3B at pp2048 (8 of 128 experts) gives each expert 128 and pads nothing.

How many tiles an expert needs depends on how many tokens it actually receives, not on the
mean: at a mean of 128 about half the experts receive more than 128 and take two tiles. The
count per expert is taken as binomial (uniform routing, the least imbalance a router can
have), so the factor is a lower bound where routers favour some experts.

Published: right-sizing the tiles gains far less than the padding ratio (PR #26977's table:
Qwen3-30B-A3B at ubatch 128, 8 tokens per expert, +12.9%), as it must if a tile's time is
mostly the fixed work of bringing its slab of the expert's weights through shared memory
(the same for a narrower tile): the padded tile costs about what a full one does, which is
what pricing the padded columns at the full-tile rate says."""

from __future__ import annotations

import math

# ggml-cuda mmq.cuh get_mmq_x_max_host: 128 with int8 tensor-core MMA (turing_mma_available),
# MMQ_DP4A_MAX_BATCH_SIZE = 64 on the dp4a path of older cards (ggml-org/llama.cpp, 2025-2026).
MMQ_X_MAX_MMA = 128
MMQ_X_MAX_DP4A = 64
# mmq_get_granularity_host: tile widths step by 16 from 48 up on MMA cards, by 8 below.
MMQ_GRANULARITY_STEP = 8
MMQ_WIDE_GRANULARITY = 16
MMQ_WIDE_FROM = 48


def mmq_tile_width(ncols: int, mmq_x_max: int = MMQ_X_MAX_MMA, mma: bool = True) -> int:
    """The MMQ tile width llama.cpp picks for `ncols` columns (mul_mat_q_case): the smallest
    allowed width that needs the fewest tiles (a strict improvement replaces the best, widths
    tried from 8 up)."""
    if ncols <= 0:
        return MMQ_GRANULARITY_STEP
    best_w, best_tiles = 0, math.inf
    for w in range(MMQ_GRANULARITY_STEP, mmq_x_max + 1, MMQ_GRANULARITY_STEP):
        if best_tiles <= 1:
            break
        granularity = MMQ_WIDE_GRANULARITY if (mma and w >= MMQ_WIDE_FROM) else MMQ_GRANULARITY_STEP
        if w % granularity:
            continue
        tiles = math.ceil(ncols / w)
        if tiles < best_tiles:
            best_w, best_tiles = w, tiles
    return best_w


def expected_tiles(chunk_tokens: int, route_p: float, tile: int) -> float:
    """E[ceil(X / tile)] for the tokens X one expert receives, X ~ Binomial(chunk_tokens,
    route_p): each token picks its k experts from E, so one expert is picked with p = k/E.
    Sum over j >= 0 of P(X > j·tile), from the binomial's probabilities (log space)."""
    n, q = chunk_tokens, route_p
    if n <= 0 or q <= 0.0 or tile <= 0:
        return 0.0
    if q >= 1.0:
        return float(math.ceil(n / tile))
    log_q, log_r = math.log(q), math.log1p(-q)
    lg_n1 = math.lgamma(n + 1)
    # P(X > j·tile) = 1 - CDF(j·tile): accumulate the pmf once, read the tail at each j·tile.
    tiles, cdf = 0.0, 0.0
    for x in range(n + 1):
        log_pmf = lg_n1 - math.lgamma(x + 1) - math.lgamma(n - x + 1)
        cdf += math.exp(log_pmf + x * log_q + (n - x) * log_r)
        if x % tile == 0:
            tail = max(1.0 - cdf, 0.0)
            tiles += tail
            if tail < TAIL_CUTOFF:
                break
    return tiles


# Below this tail probability the remaining tiles add nothing one would see.
TAIL_CUTOFF = 1e-9


def pad_factor(chunk_tokens: int, n_experts: int, experts_per_token: int, tile: int) -> float:
    """Tile columns the experts of one MoE layer run per routed (token, expert) pair: each of
    the E experts covers the tokens routed to it in ceil(X / tile) tiles of `tile` columns,
    X binomial over the chunk's T tokens with p = k/E (uniform routing: a trained router's
    skew only adds tiles), against the T·k pairs the math names. 1 where the tokens fill the
    tiles; 2 for gpt-oss-20b at pp512 (X about 64 of a 128-wide tile)."""
    if chunk_tokens <= 0 or n_experts <= 0 or experts_per_token <= 0 or tile <= 0:
        return 1.0
    pairs = chunk_tokens * experts_per_token
    p = min(experts_per_token / n_experts, 1.0)
    return n_experts * expected_tiles(chunk_tokens, p, tile) * tile / pairs
