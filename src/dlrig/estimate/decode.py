"""Prefill and per-token decode.

A decode step reads every weight the step uses (MoE: the experts the batch routes to) and the
KV cache once (transformers' generate() also copies its cache every step: hf_cache.py); at
small batch that read is the whole cost (bandwidth-bound), at large batch the 2 FLOPs per
weight per sequence catch up (compute-bound; the roofline takes the larger). The
achieved bandwidth is a fitted fraction of the card's DRAM bandwidth per engine, weight format
and architecture (calibration.py).

Several GPUs split the model by the job's parallel plan (shape.py):
- by layers (pipeline stages; llama.cpp's default `--split-mode layer`, ExLlamaV2's
  `gpu_split`, transformers' `device_map="auto"`): the stages take turns, so one token still
  reads every byte one stage after the other — more memory, no speed — plus one activation hop
  per stage boundary;
- by tensors (`--tp`): each GPU reads its 1/tp of the bytes and the GPUs meet to combine their
  parts, in one of three ways (`TpMode`), which is where the engines differ:
  - `allreduce` (vLLM/SGLang/TensorRT-LLM `--tensor-parallel-size`, gpt-fast; Megatron-style,
    Shoeybi et al. 2019): two all-reduces of the hidden state per layer per token (after
    attention and after the MLP): NCCL's ring at the link's per-step latency, or, for vLLM and
    SGLang where the GPUs reach each other over P2P (NVLink, or PCIe P2P with 2 GPUs: vLLM's
    custom_all_reduce.py refuses more than two PCIe-only GPUs), their custom all-reduce
    (comm.vllm_custom_allreduce_s: one-shot for a decode step's small tensors, two-stage or
    NCCL's ring for a prefill chunk's large ones, by vLLM's own size thresholds); without P2P
    (GeForce cards, gpus.csv p2p) vLLM's finalize_p2p finds `_can_p2p` false and disables it
    ("Custom allreduce is disabled because your platform lacks GPU P2P capability"), so NCCL's
    ring over host memory (SHM), at the no-P2P link's per-step latency;
  - `host` (ExLlamaV2's tensor parallelism, exllamav2/tensor_p.py): the same two meeting points
    per layer counted (its Python path, attn.py forward_tp_old and mlp.py, also all-gathers the
    attention output and the MLP's intermediate before their projections: two is a lower
    bound), but each is a gather of the GPUs' parts into a pinned host buffer and a broadcast
    back (ext_c.tp_gather / tp_broadcast), two hops through host memory whatever the link. The
    host waits at each one, which this does not price: the one published A/B found (2x RTX
    3090 on PCIe 4.0 x8, TabbyAPI, Mistral-Large-2407 2.75 bpw: gpu_split 14.38, TP 13.06 t/s,
    reddit.com/r/LocalLLaMA/comments/1fhaued, a model not in the catalog) says ExLlamaV2's TP
    can be no faster than its layer split, so its TP estimate is optimistic;
  - `row` (llama.cpp `--split-mode row`, ggml-cuda.cu's split-buffer matmul): only the matrix
    multiplications are split; before each one the main GPU copies its input to the others and
    after it copies their rows of the result back ("synchronize after every matrix
    multiplication ... results concatenated", ik_llama.cpp PR #1018; JohannesGaessler in
    llama.cpp PR #22729: "Splits only dense weights across GPUs"), so every layer pays two peer
    copies per matmul (q, k, v, o and the MLP's two or three), at the peer-copy latency
    (comm.peer_copy_link: 14 us without P2P, 1 us with it); attention, norms and the KV cache
    stay on the main GPU, so its KV cache is not split (shape.kv_split).

Besides the bytes, every step pays a fixed time per layer that no bandwidth buys back, a
fitted constant per engine (`layer_overhead_s`, calibration.py). It does not shrink with more
GPUs or fewer bytes, so it dominates small models:
- engines that replay the step as CUDA graphs or compiled kernels (llama.cpp, vLLM, SGLang,
  TensorRT-LLM, ExLlamaV2, gpt-fast) pay it on the GPU: each of the layer's dozen or so
  kernels has a start-up and a tail in which it moves no bytes, and the small ones (norms,
  rotary, residual adds, sampling) never reach the bandwidth. It adds to the read.
- eager engines (transformers; LitGPT's generate) pay it on the host: Python issues every op
  and its launch one after another. Launches are asynchronous, so the host runs ahead while
  the GPU reads: the step is the longer of the two (`overhead_overlaps`), and a small model
  waits on its host (HF transformers: about the same tokens/s for Qwen2.5 0.5B and 7B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlrig.estimate import comm
from dlrig.estimate.comm import Link

GBS = 1e9
TFLOPS = 1e12
ACT_BYTES = 2  # the hidden state crosses GPUs in 16-bit
ALLREDUCES_PER_LAYER = 2  # Megatron TP: after attention's output and after the MLP's down proj
# ggml keeps activations in F32: llama.cpp's row split copies F32 inputs and results
GGML_ACT_BYTES = 4
COPIES_PER_SPLIT_MATMUL = 2  # llama.cpp row split: input to the other GPUs, their rows back

TP_ALLREDUCE = "allreduce"
TP_ONESHOT = "oneshot"  # `allreduce` over vLLM's/SGLang's custom kernels (one-/two-stage)
TP_HOST = "host"
TP_ROW = "row"
TP_MODES = (TP_ALLREDUCE, TP_ONESHOT, TP_HOST, TP_ROW)


@dataclass(frozen=True)
class TpComm:
    """How the tensor-parallel GPUs meet (module docstring): the mode, the link its copies or
    collectives take, and for a row split the split matmuls per layer."""

    mode: str = TP_ALLREDUCE
    link: Link | None = None
    matmuls_per_layer: int = 0
    # the fitted time each meeting point adds beyond its link's latency and bytes (tp_sync_s)
    sync_s: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in TP_MODES:
            raise ValueError(f"tensor-parallel mode {self.mode!r}: expected one of {TP_MODES}")


def tp_comm_s(rows: float, hidden: int, tp: int, n_layers: int, tc: TpComm, link: Link) -> float:
    """GPU-to-GPU time of one forward pass over `rows` tokens split by tensors over `tp` GPUs
    (`link`: NCCL's link; `tc.link`: the copies' link where the mode copies instead), each
    meeting point (tp_meetings) plus the fitted time it waits beyond its link (`tc.sync_s`)."""
    if tp <= 1 or rows <= 0:
        return 0.0
    act = rows * hidden * ACT_BYTES
    sync_s = tp_meetings(n_layers, tc) * tc.sync_s
    if tc.mode == TP_ALLREDUCE:
        return ALLREDUCES_PER_LAYER * n_layers * comm.allreduce_s(act, tp, link) + sync_s
    if tc.mode == TP_ONESHOT:
        per = comm.vllm_custom_allreduce_s(act, tp, link)
        return ALLREDUCES_PER_LAYER * n_layers * per + sync_s
    copy = tc.link or link
    if tc.mode == TP_HOST:  # every GPU's part into the host buffer, the sum back to all
        return ALLREDUCES_PER_LAYER * n_layers * comm.p2p_s(tp * act, copy) + sync_s
    per_copy = comm.p2p_s(rows * hidden * GGML_ACT_BYTES, copy)
    return n_layers * tc.matmuls_per_layer * COPIES_PER_SPLIT_MATMUL * per_copy + sync_s


def tp_meetings(n_layers: int, tc: TpComm) -> int:
    """The points of one forward pass at which the tensor-parallel GPUs wait for one another:
    two all-reduces (or host gathers) per layer, or, in llama.cpp's row split, every split
    matmul (its results are copied back before the next op runs)."""
    if tc.mode == TP_ROW:
        return n_layers * tc.matmuls_per_layer
    return ALLREDUCES_PER_LAYER * n_layers


@dataclass(frozen=True)
class DecodeStep:
    memory_s: float  # reading weights and KV at the achieved bandwidth
    compute_s: float  # the batch's matmuls at the achieved FLOP rate
    comm_s: float  # GPU-to-GPU traffic on the critical path
    overhead_s: float  # what the per-layer time adds to the step (launches, host, small kernels)
    step_s: float
    bound: str  # "memory-bandwidth", "compute" or "communication"
    split: str  # "none", "layer" or "tensor"
    alloc_s: float = 0.0  # the caching allocator's cudaMalloc/cudaFree of fresh segments

    def tokens_per_s(self, batch: int) -> float:
        return batch / self.step_s


@dataclass(frozen=True)
class DecodeInputs:
    weight_bytes: float  # weights ONE GPU reads per step (its share; active experts for MoE)
    kv_bytes: float  # the batch's KV cache ONE GPU reads per step
    flops: float  # FLOPs of one step for the whole batch, whole model
    n_layers: int
    hidden: int
    batch: int
    # KV ONE GPU copies per step where the engine grows its cache by concatenation
    # (transformers' DynamicCache / legacy tuples: read the old cache, write the new one;
    # hf_cache.py): moved at the same achieved bandwidth as the reads
    kv_copy_bytes: float = 0.0
    # what ONE GPU's dequantisation kernels move per step where the batch's rows take an
    # engine's dequantise-then-GEMM path (perf.dequant_bytes_per_step): packed matrices read,
    # F16 copies written, then read by the GEMM in place of the packed weights' 16-bit size
    dequant_bytes: float = 0.0
    # segments ONE GPU's caching allocator maps afresh per step where transformers' cache
    # outgrows every cached block (hf_cache.fresh_bytes_per_step): not moved, but mapped
    fresh_alloc_bytes: float = 0.0

    @property
    def moved_bytes(self) -> float:
        """Bytes one GPU moves to and from DRAM in a step: weights, KV read, KV copied, and
        the dequantised copies of the weights where the engine makes them."""
        return self.weight_bytes + self.kv_bytes + self.kv_copy_bytes + self.dequant_bytes


def decode_step(
    x: DecodeInputs,
    *,
    mem_bw_gbs: float,
    bw_efficiency: float,
    peak_tflops: float,
    compute_efficiency: float,
    tp: int = 1,
    pp: int = 1,
    link: Link | None = None,
    layer_overhead_s: float = 0.0,
    overhead_overlaps: bool = False,
    tp_comm: TpComm = TpComm(),
    alloc_s_per_gb: float = 0.0,
) -> DecodeStep:
    """One decode step (one token for each of `batch` sequences) of one model replica. The
    caching allocator's time for the step's fresh segments (`alloc_s_per_gb` per GB mapped)
    adds to the step whatever else overlaps: its calls run on the host between launches and
    its releases wait for the device (hf_cache.py)."""
    rate = mem_bw_gbs * GBS * bw_efficiency
    flop_rate = peak_tflops * TFLOPS * compute_efficiency
    # The pp stages run one after another for a token: pp times one GPU's read.
    mem_s = pp * x.moved_bytes / rate
    comp_s = x.flops / tp / flop_rate
    comm_s = 0.0
    act = x.batch * x.hidden * ACT_BYTES
    if tp > 1:
        comm_s += tp_comm_s(x.batch, x.hidden, tp, x.n_layers, tp_comm, _need(link))
    if pp > 1:
        comm_s += (pp - 1) * comm.p2p_s(act, _need(link))
    split = "tensor" if tp > 1 else ("layer" if pp > 1 else "none")
    # Every layer runs once per step on some GPU (tp ranks in lockstep, pp stages in turn).
    per_layer_s = x.n_layers * layer_overhead_s
    work = max(mem_s, comp_s)
    if overhead_overlaps:  # the host issues the step while the GPU works: the longer wins
        step = max(work + comm_s, per_layer_s)
        overhead_s = max(0.0, step - work - comm_s)  # what the step waits on the host
    else:
        step = work + comm_s + per_layer_s
        overhead_s = per_layer_s
    # the stages' allocators map their segments in turn, as their reads take turns
    alloc_s = pp * x.fresh_alloc_bytes / GBS * alloc_s_per_gb
    bound = bound_of(mem_s, comp_s, comm_s, per_layer_s)
    if alloc_s > step:  # the allocator's time alone outlasts the rest of the step
        bound = "memory allocator"
    return DecodeStep(mem_s, comp_s, comm_s, overhead_s, step + alloc_s, bound, split, alloc_s)


def bound_of(read_s: float, compute_s: float, comm_s: float, per_layer_s: float) -> str:
    """What a decode step or a prefill waits on longest: the link, the engine's per-layer time,
    or the roofline's larger side (the same rule for both, so the two never disagree)."""
    work = max(read_s, compute_s)
    if comm_s > work and comm_s >= per_layer_s:
        return "communication"
    if per_layer_s > work:
        return "per-layer overhead"
    return "memory-bandwidth" if read_s >= compute_s else "compute"


@dataclass(frozen=True)
class Prefill:
    time_s: float  # the batch's prompts (the first token of each comes out of it)
    tokens_per_s: float
    comm_s: float
    compute_s: float = 0.0  # the matmuls and attention at the achieved FLOP rate
    read_s: float = 0.0  # reading the weights once per chunk at the achieved bandwidth
    overhead_s: float = 0.0  # what the per-layer time adds (launches, small kernels, host)
    dequant_s: float = 0.0  # dequantising the weights to F16 once per chunk (a kernel of its own)
    bound: str = "compute"  # bound_of: compute, memory-bandwidth, communication, per-layer overhead
    activation_s: float = 0.0  # the engine's element-wise kernels' activations (ggml_activations)


def prefill_chunks(tokens: int, chunk_tokens: int) -> int:
    """How many forward passes a prefill of `tokens` takes in chunks of `chunk_tokens` (0: one
    pass over all of them)."""
    return math.ceil(tokens / chunk_tokens) if chunk_tokens and tokens else 1


def prefill(
    prompt_tokens: int,
    flops_per_token: float,
    *,
    peak_tflops: float,
    efficiency: float,
    n_layers: int,
    hidden: int,
    tp: int = 1,
    pp: int = 1,
    link: Link | None = None,
    batch: int = 1,
    weight_bytes: float = 0.0,
    mem_bw_gbs: float = 0.0,
    bw_efficiency: float = 1.0,
    chunk_tokens: int = 0,
    layer_overhead_s: float = 0.0,
    overhead_overlaps: bool = False,
    routed_flops_per_token: float = 0.0,
    routed_weight_bytes: float = 0.0,
    routed_pad: float = 1.0,
    dequant_bytes: float = 0.0,
    activation_bytes: float = 0.0,
    pipelined: bool = False,
    tp_comm: TpComm = TpComm(),
) -> Prefill:
    """The batch's prompts (`batch` x `prompt_tokens`), processed in chunks of `chunk_tokens`
    (0: all at once; vLLM's chunked prefill, llama.cpp's ubatch).

    A chunk is one forward pass over its tokens, so it is a roofline like a decode step
    (Williams et al. 2009): its matmuls' FLOPs at the achieved rate, or reading every weight
    of the step once (`weight_bytes`, one GPU's share: for an MoE the experts the chunk's
    tokens route to) at the achieved bandwidth, whichever is longer. Long prompts are
    compute-bound; a short one is not: 128 tokens of a 16-bit model on an A100 are 2·128
    FLOPs per 2 bytes read, below the card's 312 TFLOPS / 2.04 TB/s ≈ 153 FLOPs per byte.
    Each chunk also runs every layer's kernels once and pays the engine's fixed time per
    layer (launch, tails, small kernels: decode.py's module docstring; on the host for eager
    engines, where it overlaps the GPU's work). The first generated token comes out of the
    prefill's last position (its logits), so the time to first token is this time.

    Tensor parallelism divides the math and the weights, and its GPUs meet as the engine has
    them meet (`tp_comm`: all-reduces, gathers through the host, or llama.cpp's copies around
    every split matmul) over the chunk's hidden states; pipeline stages do their share one
    after another (one prompt does not pipeline).

    An MoE's routed experts (`routed_flops_per_token`, `routed_weight_bytes`: parts of the
    totals) run as their own grouped GEMMs, each expert over the few tokens routed to it
    (tokens·k/E: 32 of a 512-token chunk for Qwen3-30B-A3B), so they have their own roofline
    and cannot use the attention GEMMs' spare bandwidth or FLOPs: the chunk is the dense
    part's roofline plus the experts'. `routed_pad`: the tile columns the experts' kernel runs
    per routed token where it pads each expert's few tokens to its tile width
    (moe_tiles.pad_factor: llama.cpp's MMQ sizes expert tiles against the whole chunk); it
    multiplies the experts' math, not their weight reads.

    `dequant_bytes`: what one GPU's dequantisation kernels move per chunk where an engine
    turns quantized weights into F16 matrices for a 16-bit GEMM (llama.cpp's cuBLAS path;
    bitsandbytes 4-bit, ExLlamaV2/AutoGPTQ's GPTQ and EXL2 kernels, AutoAWQ and vLLM's AWQ
    kernel above their row thresholds: perf.dequant_min_rows, perf.dequant_bytes_per_chunk).
    It is a kernel of its own before each GEMM, so it adds to the chunk's time at the
    streaming bandwidth rather than hiding under the math.

    `activation_bytes`: what one GPU's element-wise kernels (norms, the matmuls' input
    quantisation, RoPE, adds, the GLU) move per chunk where the engine runs them as kernels
    of their own over F32 activations (llama.cpp: ggml_activations.py); like the
    dequantisation, they add to the chunk's time at the streaming bandwidth.

    `pipelined`: the pipeline stages work on different chunks at once (llama.cpp's pipeline
    parallelism, slaren's PR #6017, 2024-03: with -sm layer a batch's ubatches flow through
    the GPUs one after another), so c chunks over p equal stages take c + p - 1 stage-times
    instead of c·p: 2 chunks over 2 GPUs take 3/4 of the serial time, one chunk gains nothing."""
    tokens = batch * prompt_tokens
    chunks = prefill_chunks(tokens, chunk_tokens)
    flop_rate = tp * peak_tflops * TFLOPS * efficiency
    byte_rate = mem_bw_gbs * GBS * bw_efficiency / (chunks * pp) if mem_bw_gbs else 0.0
    parts = ((flops_per_token - routed_flops_per_token, weight_bytes - routed_weight_bytes),)
    if routed_flops_per_token or routed_weight_bytes:
        parts += ((routed_flops_per_token * routed_pad, routed_weight_bytes),)
    compute = read = work = 0.0
    for part_flops, part_bytes in parts:
        c_s = tokens * part_flops / flop_rate
        r_s = part_bytes / byte_rate if byte_rate else 0.0
        compute, read, work = compute + c_s, read + r_s, work + max(c_s, r_s)
    nbytes = tokens * hidden * ACT_BYTES
    c = 0.0
    if tp > 1:
        c += chunks * tp_comm_s(tokens / chunks, hidden, tp, n_layers, tp_comm, _need(link))
    if pp > 1:
        c += chunks * (pp - 1) * comm.p2p_s(nbytes / chunks, _need(link))
    dequant = dequant_bytes / byte_rate if byte_rate and dequant_bytes else 0.0
    act = activation_bytes / byte_rate if byte_rate and activation_bytes else 0.0
    work += dequant + act
    per_layer = chunks * n_layers * layer_overhead_s
    if pipelined and pp > 1:  # every part is spread over the stages alike
        f = (chunks + pp - 1) / (chunks * pp)
        compute, read, dequant, act, work, c, per_layer = (
            x * f for x in (compute, read, dequant, act, work, c, per_layer)
        )
    # an eager engine's host issues the layers while the GPU works: the longer wins
    total = max(work + c, per_layer) if overhead_overlaps else work + c + per_layer
    overhead = total - work - c
    rate = tokens / total if total > 0 else 0.0
    bound = bound_of(read + dequant + act, compute, c, per_layer)
    return Prefill(total, rate, c, compute, read, overhead, dequant, bound, act)


def request_tokens_per_s(gen_tokens: int, prefill_s: float, step_s: float, batch: int = 1) -> float:
    """Generated tokens per second of a whole request, prefill included ("with prompt")."""
    return batch * gen_tokens / (prefill_s + gen_tokens * step_s)


def _need(link: Link | None) -> Link:
    if link is None:
        raise ValueError("several GPUs need the link between them")
    return link
