"""Inference memory as each engine allocates it (read by memory.parts through one hook).

The generic inference model (memory.py) counts what a request holds: the weights, the KV cache
of the tokens held and one layer's prefill working set. Engines allocate differently, and
"will this model run on my card?" depends on how:

- llama.cpp (and Ollama on it) allocates its buffers once, at start: the model buffer (every
  offloaded tensor as stored in the GGUF, but the token embedding stays in host memory), the
  KV cache for the whole --ctx-size at the cache type (f16, q8_0, q4_0) and a compute buffer
  sized by ggml's graph allocator for the worst ubatch (n_ubatch tokens against the full
  context, every token an output: the logits are n_vocab x n_ubatch fp32). No caching allocator.
- vLLM and SGLang take a fixed share of the GPU (vLLM --gpu-memory-utilization, SGLang
  --mem-fraction-static) whatever the model, and fill what the weights, the profiled
  activation peak and the memory outside PyTorch leave with KV-cache blocks: "fits" means at
  least the requested sequences at the context fit in that pool, and what users need to know
  is the pool's size in tokens (max concurrent sequences at the context).
- TensorRT-LLM takes kv_cache_free_gpu_memory_fraction (0.9) of the memory still free after
  the engine's weights and activation buffers are loaded.
- ExLlamaV2 and AutoAWQ's fused modules preallocate their KV cache for max_seq_len x batch.
- transformers' generate() grows its cache with the tokens held (the generic model) and, with
  eager attention, materialises one layer's prompt x prompt scores during prefill.
- gpt-fast and the unnamed default engine (`optimized`) keep the generic model.

Each figure is per GPU. Every constant below names the engine's source file and version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from dlrig.estimate import hf_cache
from dlrig.estimate import params as p
from dlrig.estimate.shape import FP32_BYTES, Shape, kv_split
from dlrig.model.choices import LLAMA_CPP_ENGINES, POOL_ENGINES
from dlrig.model.workload import Attention, DecodeEngine, Job, KvCache, ModelSpec, Task

GIB = 2**30
FP16_BYTES = 2

# --- llama.cpp -------------------------------------------------------------------------------
# Default context: common/common.h (ggml-org/llama.cpp, 2024-2025) `int32_t n_ctx = 4096; //
# context size`; the physical batch (n_ubatch, 512) is params.LLAMA_CPP_UBATCH_TOKENS.
LLAMA_CPP_DEFAULT_CTX = 4096
LLAMA_CPP_UBATCH = p.LLAMA_CPP_UBATCH_TOKENS
# The KQ mask llama.cpp builds for a ubatch is an f32 input of n_kv x n_tokens, cast to f16 for
# flash attention (llama.cpp 2024-25, llm_build_inp_KQ_mask: `cparams.flash_attn ?
# ggml_cast(ctx0, lctx.inp_KQ_mask, GGML_TYPE_F16) : lctx.inp_KQ_mask`): 2 more bytes with it.
LLAMA_CPP_MASK_BYTES = 2

# --- Ollama (llama.cpp's allocation, Ollama's defaults) ------------------------------------
# Read in github.com/ollama/ollama at its tags; dlrig prices the defaults of v0.15.5 (2026-02-05)
# to v0.33 (2026-08-21, the newest read), what an Ollama installed today runs:
# - num_ctx: server/routes.go (v0.15.5+, commit 0334ffa "server: use tiered VRAM-based default
#   context length"): `case totalVRAM >= 47*format.GibiByte: s.defaultNumCtx = 262144 / case
#   totalVRAM >= 23*format.GibiByte: s.defaultNumCtx = 32768 / default: s.defaultNumCtx =
#   4096`, totalVRAM the sum over the GPUs of `gpu.TotalMemory - envconfig.GpuOverhead()`
#   ("Use slightly lower thresholds (47/23 GiB vs. 48/24 GiB) to account for small
#   differences"); llm/server.go then caps it at the model's: `if opts.NumCtx > int(trainCtx)
#   ... opts.NumCtx = int(trainCtx)`. Earlier defaults: api/types.go `NumCtx: 2048` (v0.1-
#   v0.5), OLLAMA_CONTEXT_LENGTH 2048 (v0.5.13-v0.6.6), 4096 (v0.6.7, 2025-04-30, to v0.15.4).
# - num_batch: api/types.go `NumBatch: 512` (every version); v0.30+ passes it as both `-b` and
#   `-ub` (llm/llama_server.go appendBatchArgs): llama.cpp's ubatch of 512, as llama.cpp's own.
# - num_parallel: envconfig `NumParallel = Uint("OLLAMA_NUM_PARALLEL", 1)` (v0.10.0, 2025-07,
#   "Reduce default parallelism to 1"; before it 0 = auto, 4 where memory allowed, server/
#   sched.go `defaultParallel = 4`); the KV cache is for num_ctx x num_parallel (llm/server.go
#   v0.12.5 `KvSize: opts.NumCtx * numParallel`; v0.30+ `"-c", NumCtx * numParallel, "-np",
#   numParallel`): dlrig's --batch-size concurrent sequences.
# - KV cache type: OLLAMA_KV_CACHE_TYPE, "Quantization type for the K/V cache (default: f16)";
#   a quantized one only with flash attention on (v0.14 "OLLAMA_FLASH_ATTENTION must be
#   enabled to use a quantized OLLAMA_KV_CACHE_TYPE").
# - flash attention: v0.30+ passes `--flash-attn auto` unless OLLAMA_FLASH_ATTENTION is set
#   (llm/llama_server.go LlamaServerFlashAttention): llama.cpp's own default. (v0.12.x turned it
#   on only for gpt-oss and qwen3 (fs/ggml/ggml.go FlashAttention()), gemma3 from v0.12.6.)
# - GPU reserve and split: OLLAMA_GPU_OVERHEAD ("Reserve a portion of VRAM per GPU (bytes)",
#   default 0). v0.30+ launches llama-server without -ngl ("NumGPU == -1 (default): don't pass
#   -ngl, let llama-server auto-detect"), whose --fit places the layers on the GPUs leaving its
#   fit target free on each: 1024 MiB (llama.cpp common/common.h fit_params_target, as quoted by
#   downstream launchers: "--fit-target's default 1024 MiB") [R]; before v0.30 Ollama placed
#   them itself, keeping `info.MinimumMemory = 457 * format.MebiByte` free on each CUDA GPU
#   (discover/gpu.go v0.12.5). Either way layers (never rows) are split across GPUs and what
#   does not fit stays in host memory: Ollama does not run out of memory, it slows down.
OLLAMA_CTX_TIERS_GIB = ((47, 262144), (23, 32768))
OLLAMA_SMALL_CTX = 4096
OLLAMA_FIT_TARGET_BYTES = 1024 * 2**20


def ollama_default_context(job: Job, m: ModelSpec) -> int:
    """Ollama's num_ctx with nothing set: its VRAM tier (the GPUs' total), capped at the
    model's trained context (OLLAMA_CTX_TIERS_GIB above). memory_gb is the card's nominal
    size (24 for a 24 GB card), which the 23/47 GiB thresholds were chosen to admit."""
    total_gib = job.gpu.memory_gb * job.n_gpus
    ctx = next((c for gib, c in OLLAMA_CTX_TIERS_GIB if total_gib >= gib), OLLAMA_SMALL_CTX)
    return min(ctx, m.max_seq_len) if m.max_seq_len else ctx


# --- vLLM ------------------------------------------------------------------------------------
# vllm/config.py CacheConfig: gpu_memory_utilization = 0.9 ("The fraction of GPU memory to be
# used for the model executor ... 0.9 by default").
VLLM_DEFAULT_UTILIZATION = 0.9
# `vllm serve` (UsageContext.OPENAI_API_SERVER) batch defaults, vllm/engine/arg_utils.py
# EngineArgs.get_batch_defaults (v0.9-v0.11): GPUs with >= 70 GiB that are not an A100
# (H100, H200, MI300X) 8192 batched tokens and 1024 sequences, every other GPU 2048 and 256.
VLLM_LARGE_GPU_GIB = 70
VLLM_TOKENS = {True: 8192, False: 2048}
VLLM_SEQS = {True: 1024, False: 256}
# The memory profile's sampler run takes the last position of min(max_num_seqs, tokens) dummy
# requests with top-k = vocab - 1 and top-p < 1 (vllm/v1/worker/gpu_model_runner.py
# _dummy_sampler_run, v0.8-v0.11; V0's profile_run: SamplingParams(top_p=0.99,
# top_k=vocab_size - 1), vllm/worker/model_runner.py v0.2-v0.7), so it runs the sort path of
# top-k/top-p. Alive together per logit (vllm/v1/sample/ops/topk_topp_sampler.py
# apply_top_k_top_p, PyTorch path): the model-dtype logits compute_logits returned, their fp32
# copy (vllm/v1/sample/sampler.py: logits.to(torch.float32)), the sorted values (fp32) and their
# int64 indices (`logits.sort(dim=-1)`), the top-k boolean mask, the soft-max of the sorted
# values (fp32; cumsum written into it) and the top-p boolean mask: e + 4 + 4 + 8 + 1 + 4 + 1.
SAMPLER_SORT_BYTES_PER_LOGIT = FP32_BYTES + FP32_BYTES + 8 + 1 + FP32_BYTES + 1

# --- the memory a pool engine takes its share of -------------------------------------------
# vLLM takes gpu_memory_utilization of the total torch.cuda.mem_get_info() reports
# (vllm/worker/worker.py determine_num_available_blocks, v0.2-v0.6: `free_gpu_memory,
# total_gpu_memory = torch.cuda.mem_get_info()`; vllm/v1/worker/gpu_worker.py
# determine_available_memory, v0.8+: `_, total_gpu_memory = torch.cuda.mem_get_info()`); SGLang
# (get_available_gpu_memory) and TensorRT-LLM (free memory) read the same cudaMemGetInfo. That
# total is the card's memory less what the driver and, on GDDR6 cards with ECC on, the ECC
# check bits take: below the nominal size. As printed (GiB, the total vLLM or PyTorch reports):
USABLE_MEMORY_GIB = {
    # vllm-project/vllm#10517 (2024-12): "total_gpu_memory=23.58GiB"; vllm#14447 (2025-04):
    # "total_gpu_memory (23.58GiB)", RTX 3090s [V]
    "GeForce RTX 3090": 23.58,
    # zai-org/CogVideo#36 (2023-05), RTX 4090: "23.68 GiB total capacity" (PyTorch OOM) [V]
    "GeForce RTX 4090": 23.68,
    # vllm-project/vllm#10511 and #12126 (H100 80 GB): "total_gpu_memory 79.22GiB" [V]
    "H100 SXM": 79.22,
    # PyTorch's OOM message on A100-SXM4-80GB, "79.15 GiB total capacity", as quoted in public
    # logs (e.g. the Megatron/TRL issue threads); [R] not checked on one named issue
    "A100 80GB SXM": 79.15,
    # QwenLM/Qwen3-VL#2097 (2026-06), one L40: "GPU 0 has a total capacity of 44.40 GiB" [V]
    "L40": 44.40,
    # L40S: the same 48 GB GDDR6 with ECC as the L40 (46068 MiB in nvidia-smi on both; the L40S
    # figure in ollama/ollama#8597: "the GPU limit (46068 MiB)") [R]
    "L40S": 44.40,
}

# --- SGLang ----------------------------------------------------------------------------------
# python/sglang/srt/server_args.py (v0.4.x) __post_init__: mem_fraction_static 0.88 at TP 1,
# 0.87 at TP >= 2, 0.85 at >= 4, 0.81 at >= 8, 0.79 at >= 16; chunked_prefill_size 8192, or
# 2048 on a GPU with less than 25,000 MB (`if gpu_mem is not None and gpu_mem < 25_000:
# self.chunked_prefill_size = 2048`). gpu_mem is get_device_memory_capacity(): nvidia-smi's
# memory.total with --format=csv,noheader,nounits, in MiB [R: sglang/srt/utils.py
# get_nvgpu_memory_capacity, recalled]: a 24 GB card reports 24,564-24,576 MiB, so every 24 GB
# card (RTX 3090, 4090, L4, A10) takes 2048-token chunks; the nominal size in GiB x 1024 is that
# MiB figure.
SGLANG_FRACTION_BY_TP = ((16, 0.79), (8, 0.81), (4, 0.85), (2, 0.87), (1, 0.88))
SGLANG_SMALL_GPU_MB = 25_000
SGLANG_CHUNK = {True: 2048, False: 8192}

# --- TensorRT-LLM ----------------------------------------------------------------------------
# tensorrt_llm.llmapi.KvCacheConfig(free_gpu_memory_fraction=0.9): "TensorRT LLM will try to
# allocate 90% of free GPU memory for KV cache" (nvidia.github.io/TensorRT-LLM/examples/
# kvcacheconfig.html); the engine's activation memory is precomputed at build time for its
# max_num_tokens (reference/memory.html), 8192 by default (trtllm-build / LLM API BuildConfig).
TRTLLM_DEFAULT_FRACTION = 0.9
TRTLLM_MAX_NUM_TOKENS = 8192

# --- ExLlamaV2 / AutoAWQ ---------------------------------------------------------------------
# exllamav2/cache.py ExLlamaV2CacheBase: K and V of shape (batch_size, max_seq_len,
# num_key_value_heads, head_dim) per layer, max_seq_len -1 = config.max_seq_len (the model's
# maximum); prompts are run in chunks of config.max_input_len = 2048 tokens.
EXLLAMAV2_CHUNK = 2048
# AutoAWQ awq/models/auto.py from_quantized(max_seq_len=2048, batch_size=1, fuse_layers=True);
# awq/modules/fused/cache.py WindowedCache: K and V (batch, max_seq_len, n_kv_heads, head_dim)
# in float16 per layer, allocated when the model loads.
AUTOAWQ_DEFAULT_MAX_SEQ_LEN = 2048

# The share a fix may propose: vLLM's maintainers' own "we should change the percentage to 0.95"
# (vllm-project/vllm#2031), what users set on a card that runs nothing else.
HIGH_SHARE = 0.95
SHARE_SUGGESTED = frozenset({DecodeEngine.VLLM, DecodeEngine.SGLANG})
# Engines with an allocation of their own (others keep memory.py's generic inference model).
MODELLED = POOL_ENGINES | {
    DecodeEngine.LLAMA_CPP,
    DecodeEngine.OLLAMA,
    DecodeEngine.EXLLAMAV2,
    DecodeEngine.AUTOAWQ,
    DecodeEngine.TRANSFORMERS,
}


@dataclass(frozen=True)
class EngineAllocation:
    """Bytes one GPU holds under the engine's own allocation (inference only)."""

    engine: str
    weights: float
    activations: float  # the prefill working set (pool engines: the profiled peak)
    logits: float
    kv_cache: float  # KV allocated: the preallocated context, or a pool engine's whole pool
    kv_needed: float  # KV the requested sequences need at the context
    buffers: float  # the engine's own work buffers (llama.cpp's compute buffer)
    pytorch: bool  # a PyTorch caching allocator holds the tensors (its slack applies)
    pool: bool  # KV pool sized from a memory budget
    held_back: float  # memory a pool engine leaves unused by its setting
    context_tokens: int  # tokens per sequence the allocation is for
    kv_capacity_tokens: float | None  # tokens the pool holds (pool engines)


def _fixed(
    engine: str,
    ctx: int,
    kv: float,
    *,
    weights: float,
    activations: float,
    logits: float,
    buffers: float = 0.0,
    pytorch: bool = True,
) -> EngineAllocation:
    """An engine that allocates the requested KV itself (no pool sized from a budget): what it
    holds is what the sequences need."""
    return EngineAllocation(
        engine=engine,
        weights=weights,
        activations=activations,
        logits=logits,
        kv_cache=kv,
        kv_needed=kv,
        buffers=buffers,
        pytorch=pytorch,
        pool=False,
        held_back=0.0,
        context_tokens=ctx,
        kv_capacity_tokens=None,
    )


def applies(shape: Shape) -> bool:
    """Inference of a language model under an engine with an allocation of its own."""
    job = shape.job
    return job.task == Task.INFER and job.engine in MODELLED and shape.model.is_language_model


def context_unstated(job: Job) -> bool:
    """The job gives no length (no --context, prompt or generation): an engine then allocates
    its own default context (engine_default_context)."""
    return not (job.context or job.prompt_tokens or job.gen_tokens)


def allocated_context(shape: Shape) -> int:
    """Tokens per sequence the engine allocates for: --context when given (llama.cpp
    --ctx-size per sequence, vLLM --max-model-len, ExLlamaV2/AutoAWQ max_seq_len), else the
    request's prompt + generated tokens, else the engine's own default."""
    job = shape.job
    if not context_unstated(job):
        return shape.seq
    if job.engine == DecodeEngine.OLLAMA:
        return ollama_default_context(job, shape.model)
    return engine_default_context(job.engine, shape.model) or shape.seq


def engine_default_context(engine: DecodeEngine, m: ModelSpec) -> int | None:
    """The context the engine allocates when nothing is given (explain.py states it; Ollama's
    depends on the GPUs as well: ollama_default_context)."""
    match engine:
        case DecodeEngine.LLAMA_CPP:
            return LLAMA_CPP_DEFAULT_CTX
        case DecodeEngine.AUTOAWQ:
            return AUTOAWQ_DEFAULT_MAX_SEQ_LEN
        case (
            DecodeEngine.EXLLAMAV2
            | DecodeEngine.VLLM
            | DecodeEngine.SGLANG
            | DecodeEngine.TENSORRT_LLM
        ):
            # max_seq_len / vLLM's max_model_len / trtllm-build max_seq_len: the model's
            return m.max_seq_len
    return None


def kv_type_text(job: Job) -> str:
    """The KV cache type in Ollama's words (OLLAMA_KV_CACHE_TYPE: f16, q8_0, q4_0)."""
    return "f16" if job.kv_dtype.value == "fp16" else job.kv_dtype.value


def kv_bytes_per_token_gpu(shape: Shape) -> float:
    """One sequence's KV per token on one GPU (all its layers, its share of the KV heads)."""
    return shape.kv_bytes_per_token / kv_split(shape.model, shape.plan, shape.job)


def prefill_working_bytes(m: ModelSpec, tokens: int, e: int) -> float:
    """One layer's widest moment over `tokens` prompt tokens (memory.inference_working_bytes:
    the MLP's gate, up and product, or attention's Q, K, V and output)."""
    from dlrig.estimate.memory import inference_working_bytes

    return inference_working_bytes(m, tokens, e)


def llama_cpp_compute_bytes(
    m: ModelSpec, n_ctx_cells: int, *, flash: bool, n_ubatch: int = LLAMA_CPP_UBATCH, tp: int = 1
) -> float:
    """The CUDA compute buffer ggml's graph allocator reserves for the worst ubatch: n_ub =
    min(n_ubatch, n_ctx) tokens attending to all n_ctx cells, every token an output
    (llama_context's reserve graph). ggml-alloc reuses a tensor's memory once its last
    consumer ran, so the buffer is the largest moment of the graph, in f32 (ggml's
    activations). Alive through every layer: the residual stream (the layer's input and its
    current output, 2 x n_ub x h) and the KQ mask n_kv x n_ub (an f32 input, with flash
    attention also its f16 cast). On top, the largest of: attention without flash attention
    (Q and the KQ scores n_head x n_kv x n_ub, the soft-max writing in place), attention with
    it (Q and the kernel's output), the FFN (gate and up, 2 x n_ub x n_ff); or, after the last
    layer (the mask and residual freed), the logits n_vocab x n_ub and the normed hidden state.
    Checked by hand against llama.cpp's printed "CUDA0 compute buffer size":
    Mistral-7B-Instruct-v0.2 at n_ctx 32768, n_ubatch 512, no flash attention: 16 + 64 + 8 +
    2048 = 2136 MiB against 2144 MiB, at n_ctx 2048: 156 against 164 MiB
    (fedora-copr/logdetective#106, llama-cpp-python, 2025-01); Qwen2.5-3B at n_ctx 4096:
    logits 151936 x 512 x 4 + hidden 2048 x 512 x 4 = 300.75 MiB, as printed
    (SciSharp/LLamaSharp#1099, build 4701); Llama 3 8B at n_ctx 1024: 250.5 + 8 = 258.5 MiB,
    as printed (abetlen/llama-cpp-python#1815, its CPU compute buffer: the same graph)."""
    h = m.hidden_size or 0
    n_ub = max(min(n_ubatch, n_ctx_cells), 1)
    mask_bytes = FP32_BYTES + (LLAMA_CPP_MASK_BYTES if flash else 0)
    live = 2 * n_ub * h * FP32_BYTES + n_ctx_cells * n_ub * mask_bytes
    q = n_ub * m.q_width / tp * FP32_BYTES
    scores = (m.n_heads or 0) / tp * n_ctx_cells * n_ub * FP32_BYTES
    attention = 2 * q if flash else q + scores  # flash: Q and the kernel's output
    ffn = 2 * n_ub * m.token_mlp_width / tp * FP32_BYTES
    vocab = (m.vocab_size or 0) if m.has_vocab_head else 0
    output = n_ub * vocab * FP32_BYTES + n_ub * h * FP32_BYTES
    return max(live + attention, live + ffn, output)


def _llama_cpp(shape: Shape, ctx: int, kv: float) -> EngineAllocation:
    """llama.cpp with every layer offloaded (-ngl 99). The input layer stays in host memory:
    src/llama-model.cpp "there is very little benefit to offloading the input layer, so always
    keep it on the CPU" (the token embedding; a tied output matrix is loaded to the GPU as its
    own copy). The output matrix is on the GPU at its stored type."""
    m, plan = shape.model, shape.plan
    untied_input = 0.0
    if m.vocab_size and m.hidden_size and not m.tied_embeddings:
        untied_input = m.vocab_size * m.hidden_size * shape.embedding_bits / 8
    weights = shape.weight_bytes_per_gpu - untied_input / (plan.tp * plan.pp)
    flash = shape.job.attention != Attention.EAGER
    cells = ctx * shape.micro_batch  # -c is the total over the -np slots
    n_ubatch = shape.job.max_batched_tokens or LLAMA_CPP_UBATCH  # -ub (Ollama: num_batch)
    compute = llama_cpp_compute_bytes(m, cells, flash=flash, n_ubatch=n_ubatch, tp=plan.tp)
    alloc = _fixed(
        shape.job.engine.value,
        ctx,
        kv,
        weights=max(weights, 0.0),
        activations=0.0,
        logits=0.0,  # inside the compute buffer; the output buffer is host memory
        buffers=compute,
        pytorch=False,
    )
    if shape.job.engine != DecodeEngine.OLLAMA:
        return alloc
    # Ollama keeps its fit target free on each GPU when it places the layers: not memory
    # nvidia-smi shows, but memory a full offload needs (memory.Breakdown.need).
    return replace(alloc, held_back=OLLAMA_FIT_TARGET_BYTES)


def _preallocated(shape: Shape, ctx: int, kv: float, engine: str) -> EngineAllocation:
    """ExLlamaV2 / AutoAWQ fused: the KV cache for max_seq_len x batch, allocated at load.
    ExLlamaV2 runs the prompt in chunks of max_input_len and computes the last position's
    logits; AutoAWQ's fused model returns every prompt position's logits through the
    transformers causal-LM head of its era (upcast to fp32, as LlamaForCausalLM.forward did
    before transformers 4.45's logits_to_keep)."""
    m, job = shape.model, shape.job
    e = shape.act_bytes
    b = shape.micro_batch
    vocab = (m.vocab_size or 0) if m.has_vocab_head else 0
    if job.engine == DecodeEngine.EXLLAMAV2:
        tokens = min(shape.prompt_tokens * b, EXLLAMAV2_CHUNK)
        logits = b * vocab * (e + FP32_BYTES)
    else:
        tokens = shape.prompt_tokens * b
        logits = tokens * vocab * (e + FP32_BYTES)
    tp = shape.plan.tp
    return _fixed(
        engine,
        ctx,
        kv,
        weights=shape.weight_bytes_per_gpu,
        activations=prefill_working_bytes(m, tokens, e) / tp,
        logits=logits / tp,
    )


def _transformers(shape: Shape, ctx: int, kv: float) -> EngineAllocation:
    """generate(): the cache grows with the tokens held (DynamicCache), the last position's
    logits (transformers >= 4.45 passes logits_to_keep=1 in generate; the legacy cache's
    releases returned every prompt position's, in the prefill's moment), one layer's prefill
    working set; with eager attention that layer's scores too: b x heads x p x p in the
    compute dtype, the fp32 soft-max (eager_attention_forward: softmax(dtype=torch.float32))
    and its cast back, alive together (2e + 4 bytes per score).

    The peak is the larger of two moments: the prefill (the prompt's cache, p of the ctx
    tokens, and the working set) and the last decode step (the whole cache and the old copy
    torch.cat has not yet released: one layer's K with the dynamic cache, the whole old cache
    with the legacy one; hf_cache.py). The copy is reported as the engine's buffer, the rest of
    the prefill's moment as activations."""
    m, job = shape.model, shape.job
    e = shape.act_bytes
    b = shape.micro_batch
    p = shape.prompt_tokens
    tp = shape.plan.tp
    working = prefill_working_bytes(m, shape.prefill_tokens_in_flight, e)
    if job.attention == Attention.EAGER:
        working += b * (m.n_heads or 0) * p * p * (2 * e + FP32_BYTES)
    logits = b * (m.vocab_size or 0) * (e + FP32_BYTES) if m.has_vocab_head else 0.0
    if hf_cache.transformers_cache(job) == KvCache.LEGACY:
        # Before 4.45's logits_to_keep, the prefill's forward returned every prompt
        # position's logits, the head's output and its fp32 copy alive together
        # (LlamaForCausalLM.forward: `logits = self.lm_head(hidden_states); logits =
        # logits.float()`), and generate() kept them while it read the last row. The legacy
        # cache is transformers < 4.42, so its jobs ran that head. After the layers, so the
        # larger of the two, not their sum; the decode steps' logits stay one position's.
        working = max(working, p * logits)
    working /= tp
    layers = (m.n_layers or 0) / shape.plan.pp
    groups = hf_cache.kv_groups(m) if hf_cache.repeats_kv(job, m) else 1
    copy = hf_cache.transient_bytes(kv, ctx, layers, hf_cache.transformers_cache(job), groups)
    generated = kv * max(ctx - min(p, ctx), 0) / ctx if ctx else 0.0  # not yet held in prefill
    return _fixed(
        "transformers",
        ctx,
        kv,
        weights=shape.weight_bytes_per_gpu,
        activations=max(working - generated - copy, 0.0),
        logits=logits / tp,
        buffers=copy,
    )


def usable_memory_ratio() -> float:
    """Usable / nominal memory for a card not in USABLE_MEMORY_GIB: the median over the cards
    that are (derived from the table, not set by hand)."""
    import statistics

    from dlrig.catalog.lookup import find_gpu

    return statistics.median(
        gib / find_gpu(name).memory_gb for name, gib in USABLE_MEMORY_GIB.items()
    )


def usable_memory_bytes(gpu_name: str, memory_gib: float) -> float:
    """What torch.cuda.mem_get_info() reports as the card's total, in bytes."""
    gib = USABLE_MEMORY_GIB.get(gpu_name)
    if gib is None:
        gib = memory_gib * usable_memory_ratio()
    return gib * GIB


def utilization(shape: Shape) -> float:
    """The pool engine's memory share: --gpu-memory-utilization, else its default."""
    job = shape.job
    if job.gpu_memory_utilization is not None:
        return job.gpu_memory_utilization
    if job.engine == DecodeEngine.SGLANG:
        return next(f for tp, f in SGLANG_FRACTION_BY_TP if shape.plan.tp >= tp)
    if job.engine == DecodeEngine.TENSORRT_LLM:
        return TRTLLM_DEFAULT_FRACTION
    return VLLM_DEFAULT_UTILIZATION


def profile_tokens(shape: Shape) -> int:
    """Tokens of the pool engine's profiled forward pass: --max-batched-tokens, else the
    engine's default for the GPU."""
    return batched_tokens(shape.job)


def batched_tokens(job: Job) -> int:
    """A pool engine's token budget per forward pass (--max-batched-tokens, else its default
    for the GPU): what it profiles its memory with, and the chunk it prefills a prompt in
    (vLLM's chunked prefill and V0's one-pass prefill, SGLang's chunked_prefill_size,
    TensorRT-LLM's max_num_tokens: shape.derive)."""
    if job.max_batched_tokens is not None:
        return job.max_batched_tokens
    gpu_gib = job.gpu.memory_gb
    if job.engine == DecodeEngine.VLLM:
        return VLLM_TOKENS[vllm_large_gpu_of(job)]
    if job.engine == DecodeEngine.SGLANG:
        return SGLANG_CHUNK[gpu_gib * 1024 < SGLANG_SMALL_GPU_MB]  # MiB, as nvidia-smi
    return TRTLLM_MAX_NUM_TOKENS


def profile_seqs(shape: Shape) -> int:
    """Rows of vLLM's profiled sampler run: --max-num-seqs, else its default for the GPU."""
    return shape.job.max_num_seqs or VLLM_SEQS[vllm_large_gpu(shape)]


def vllm_large_gpu(shape: Shape) -> bool:
    return vllm_large_gpu_of(shape.job)


def vllm_large_gpu_of(job: Job) -> bool:
    gpu = job.gpu
    return gpu.memory_gb >= VLLM_LARGE_GPU_GIB and "a100" not in gpu.name.lower()


def sampler_bytes(m: ModelSpec, rows: int, e: int) -> float:
    """vLLM's profiled sampler run: `rows` rows of vocabulary logits through the top-k/top-p
    sort path (SAMPLER_SORT_BYTES_PER_LOGIT plus the model-dtype logits). The logits are
    gathered whole on every tensor-parallel rank before sampling, so tp does not divide them."""
    vocab = (m.vocab_size or 0) if m.has_vocab_head else 0
    return rows * vocab * (e + SAMPLER_SORT_BYTES_PER_LOGIT)


def pool_peak_bytes(shape: Shape) -> float:
    """The activation peak a pool engine reserves before sizing its pool: one forward over its
    batched-token budget and, for vLLM, the sampler run over min(max_num_seqs, tokens) rows,
    which runs after the forward has freed its working set. Alive through the forward beside
    one layer's working set: the residual stream and the layer's normed input, two
    tokens x hidden tensors (vLLM's decoder layers carry `residual` beside `hidden_states`:
    vllm/model_executor/models/llama.py LlamaDecoderLayer.forward, v0.2-v0.11, fused
    add-RMSNorm). Checked against vLLM's printed profile, Llama-3.1-8B on an RTX 3090, V0:
    peak_torch_memory - weights = 2.07 GiB at 20,000 tokens and 2.99 GiB at 29,000
    (vllm-project/vllm#10517): 110-111 kB per token, against 2 x 4096 x 2 + 3 x 14336 x 2 =
    102.4 kB counted here (gate/up and their product at 3 x 14336 x 2 bytes)."""
    m, job = shape.model, shape.job
    e = shape.act_bytes
    tp = shape.plan.tp
    h = m.hidden_size or 0
    tokens = profile_tokens(shape)
    sampler = 0.0
    if job.engine == DecodeEngine.VLLM:
        seqs = profile_seqs(shape)
        sampler = sampler_bytes(m, min(seqs, tokens), e)
    forward = prefill_working_bytes(m, tokens, e) / tp
    return 2 * tokens * h * e + max(forward, sampler)


def sglang_pool_bytes(capacity: float, outside: float, weights: float, share: float) -> float:
    """SGLang's KV pool on one GPU. sgl-project/sglang python/sglang/srt/model_executor/
    model_runner.py (v0.4.x) profile_max_num_token: `rest_memory = available_gpu_memory -
    total_gpu_memory * (1 - self.mem_fraction_static)`, `max_num_token = int(rest_memory *
    (1 << 30) // cell_size)`, where total_gpu_memory is the free memory (cudaMemGetInfo, the
    minimum over the TP ranks) once torch.distributed and NCCL are set up, before the weights,
    and available_gpu_memory the free memory after the weights load; later releases keep the
    same line (model_runner_kv_cache_mixin.py / profile_available_bytes). So: pool = fraction x
    (usable - what the process holds before its weights: CUDA context, NCCL) - weights. No
    activation peak is profiled: the (1 - fraction) share is SGLang's headroom for the
    forward's activations and its CUDA graphs, which are captured after the pool
    (init_memory_pool, then init_cublas and init_cuda_graphs, in that order). cuBLAS's
    workspace, created by init_cublas after the pool, is not in the free memory measured.
    SGLang's own guide says the same (docs/advanced_features/hyperparameter_tuning.md, sglang
    PR #9083, 2025-08): "mem_fraction_static = (model weights + KV cache pool) / GPU memory
    capacity", the rest "for activations and CUDA graph buffers"."""
    workspace = p.value("cublas_workspace_gb") * 1e9
    free_at_start = max(capacity - max(outside - workspace, 0.0), 0.0)
    return max(share * free_at_start - weights, 0.0)


# What vLLM subtracts from its share besides the weights, by version (read in the source; the
# estimate keeps the V0 / early-V1 accounting, which every vLLM point here was sized with):
# - V0 after PR #2031 (2023-12, 'Fix peak memory profiling': peak = total - free after the
#   profile run, mem_get_info) and V1 up to v0.9.0 (vllm/v1/worker/gpu_worker.py
#   determine_available_memory, e.g. commit 0012cf69: `peak_memory = torch.cuda.memory_stats()
#   ["allocated_bytes.all.peak"]`, then `non_torch_allocations = total_allocated_bytes -
#   torch_allocated_bytes` with total_allocated = total - free, "NCCL operations, for example,
#   can use a few GB during a forward pass"): everything on the GPU outside PyTorch, CUDA
#   context and NCCL included: the `outside` this module subtracts.
# - V1 after PR #19312 (2025-06, 'Reuse V0's memory_profiling util'): vllm/utils/mem_utils.py
#   memory_profiling, non_kv_cache_memory = weights + torch_peak_increase + non_torch_increase
#   "from creating the current vLLM instance", whose baseline snapshot (gpu_worker.init_device)
#   already holds the CUDA context; later releases take it after NCCL too ("Initialize the
#   distributed environment BEFORE taking memory snapshot ... NCCL buffers are allocated before
#   we measure available memory", gpu_worker.py at 35d5cda): there the share is of the total
#   and neither the context nor NCCL is subtracted again (a pool about 0.8-1.2 GiB larger than
#   this estimate).
# - CUDA graphs are captured after the pool is sized (compile_or_warm_up_model, after
#   initialize_from_config) and live in the (1 - share) headroom; from v0.19 vLLM subtracts its
#   estimate of them ("In v0.19, CUDA graph memory profiling will be enabled by default
#   (VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1)", vLLM log quoted in vllm-project/vllm#39559,
#   2026-04). Neither later accounting is modelled: no Job field says which vLLM runs.


def _pool(shape: Shape, ctx: int, kv_needed: float, outside: float) -> EngineAllocation:
    """vLLM / SGLang: budget = share x the GPU's memory; pool = budget - weights - activation
    peak - memory outside PyTorch (vllm/v1/worker/gpu_worker.py determine_available_memory:
    "the current vLLM instance can use total_gpu_memory x gpu_memory_utilization"; the log
    prints "model weights take ...; non_torch_memory takes ...; PyTorch activation peak memory
    takes ...; the rest of the memory reserved for KV Cache is ..."). SGLang: pool = fraction x
    the memory free before its weights - weights (sglang_pool_bytes). TensorRT-LLM: pool =
    fraction x what is free after its weights, activations and context."""
    job = shape.job
    capacity = usable_memory_bytes(job.gpu.name, job.gpu.memory_gb)
    share = utilization(shape)
    weights = shape.weight_bytes_per_gpu
    peak = pool_peak_bytes(shape)
    if job.engine == DecodeEngine.TENSORRT_LLM:
        free = max(capacity - outside - weights - peak, 0.0)
        pool = share * free
    elif job.engine == DecodeEngine.SGLANG:
        pool = sglang_pool_bytes(capacity, outside, weights, share)
    else:
        pool = max(share * capacity - weights - peak - outside, 0.0)
    # Held back: what the share leaves and what the driver keeps below the nominal size, so
    # that the fit verdict (against the card's nominal capacity) says "fits" exactly when the
    # pool holds the requested sequences.
    from dlrig.estimate.memory import capacity_gb

    nominal = capacity_gb(job.gpu.memory_gb) * 1e9
    held = max(nominal - (weights + peak + outside + pool), 0.0)
    per_token = kv_bytes_per_token_gpu(shape)
    return EngineAllocation(
        engine=job.engine.value,
        weights=weights,
        activations=peak,
        logits=0.0,  # the sampler's logits are part of the profiled peak
        kv_cache=pool,
        kv_needed=kv_needed,
        buffers=0.0,
        pytorch=False,  # the pool is sized from the allocator's measured peak
        pool=True,
        held_back=held,
        context_tokens=ctx,
        kv_capacity_tokens=pool / per_token if per_token else None,
    )


def allocation(shape: Shape, outside: float) -> EngineAllocation:
    """The engine's allocation on one GPU; `outside` is the memory outside the allocator
    (CUDA context, workspace, NCCL) that a pool engine subtracts from its budget."""
    ctx = allocated_context(shape)
    per_token = kv_bytes_per_token_gpu(shape)
    kv = per_token * ctx * shape.micro_batch
    engine = shape.job.engine
    if engine in POOL_ENGINES:
        return _pool(shape, ctx, per_token * pool_tokens_needed(shape), outside)
    if engine in LLAMA_CPP_ENGINES:
        return _llama_cpp(shape, ctx, kv)
    if engine == DecodeEngine.TRANSFORMERS:
        return _transformers(shape, ctx, kv)
    return _preallocated(shape, ctx, kv, engine.value)


def pool_tokens_needed(shape: Shape) -> int:
    """KV tokens a pool engine's pool must hold for the job to run as asked. With a length
    given (--context = vLLM's --max-model-len, or prompt + generated tokens), the requested
    sequences at it. With none, the engine allocates for its own default, the model's whole
    window, but that is a limit per sequence, not a demand: vLLM starts when its pool holds
    one sequence of max_model_len (vllm/v1/core/kv_cache_utils.py check_enough_kv_cache_memory:
    "To serve at least one request with the models's max seq len (...), (... KV cache is
    needed, which is larger than the available KV cache memory"; V0's "larger than the maximum
    number of tokens that can be stored in KV cache", vllm-project/vllm#10517) and schedules
    the concurrent sequences by the blocks they hold. So: the larger of one default-length
    sequence and the requested sequences at the context the estimate assumes (the decode
    context it states)."""
    ctx = allocated_context(shape)
    b = shape.micro_batch
    if context_unstated(shape.job):
        return max(ctx, b * shape.seq)
    return b * ctx


def max_sequences(capacity_tokens: float | None, context: int) -> int | None:
    """Concurrent sequences of `context` tokens the pool holds."""
    if capacity_tokens is None or context <= 0:
        return None
    return math.floor(capacity_tokens / context)


def describe(shape: Shape) -> str | None:
    """One sentence for the estimate's assumptions: how the engine allocates."""
    if not applies(shape):
        return None
    job = shape.job
    ctx = allocated_context(shape)
    given = f" ({job.engine.value}'s default, not given)" if context_unstated(job) else ""
    b = shape.micro_batch
    match job.engine:
        case DecodeEngine.LLAMA_CPP:
            fa = "off" if job.attention == Attention.EAGER else "on (--attention eager: off)"
            return (
                f"llama.cpp allocates at start: the model buffer (the token embedding stays in "
                f"host memory), the KV cache for the whole context of {ctx:,} tokens{given} x "
                f"{b} sequence(s) (-c {ctx * b}) and a compute buffer for ubatches of "
                f"{job.max_batched_tokens or LLAMA_CPP_UBATCH} tokens (logits n_vocab x "
                f"n_ubatch in fp32; flash "
                f"attention {fa}); no caching allocator"
            )
        case DecodeEngine.OLLAMA:
            fa = "off" if job.attention == Attention.EAGER else "auto: on (--attention eager: off)"
            ctx_why = (
                f" (Ollama's default num_ctx for {job.n_gpus} x {job.gpu.memory_gb:g} GB: 4,096 "
                "below 23 GiB of GPU memory, 32,768 below 47, else 262,144, capped at the model's "
                "context; v0.15.5+)"
                if context_unstated(job)
                else ""
            )
            return (
                f"Ollama (llama.cpp's allocation with Ollama's defaults, v0.15.5-v0.33): the KV "
                f"cache for num_ctx {ctx:,}{ctx_why} x num_parallel {b} "
                f"(OLLAMA_NUM_PARALLEL, default 1) at OLLAMA_KV_CACHE_TYPE "
                f"{kv_type_text(job)} (default f16), a compute buffer for num_batch "
                f"{job.max_batched_tokens or LLAMA_CPP_UBATCH} (default 512), flash attention "
                f"{fa}; layers split across GPUs, never rows; a full offload keeps "
                f"{OLLAMA_FIT_TARGET_BYTES / 2**20:,.0f} MiB free per GPU (llama.cpp's --fit "
                "target), and what does not fit runs from host memory instead of failing"
            )
        case DecodeEngine.VLLM | DecodeEngine.SGLANG | DecodeEngine.TENSORRT_LLM:
            share = utilization(shape)
            usable_gib = usable_memory_bytes(job.gpu.name, job.gpu.memory_gb) / GIB
            what = (
                f"{share:g} of the memory its weights and activations leave free"
                if job.engine == DecodeEngine.TENSORRT_LLM
                else f"{share:g} of the {usable_gib:.2f} GiB CUDA reports"
            )
            profile = f"a profiled forward of {profile_tokens(shape):,} tokens"
            if job.engine == DecodeEngine.VLLM:
                seqs = profile_seqs(shape)
                profile += f" and a sampler run of {seqs} sequences"
            holds = (
                f"holds one sequence of {ctx:,} tokens{given}, the limit it starts with, and "
                f"the {b} requested sequence(s) at the {shape.seq:,} tokens assumed"
                if context_unstated(job)
                else f"holds {b} sequence(s) of {ctx:,} tokens"
            )
            if job.engine == DecodeEngine.SGLANG:
                return (
                    f"sglang takes {share:g} (--mem-fraction-static) of the memory free before "
                    f"its weights (the {usable_gib:.2f} GiB CUDA reports less CUDA context and "
                    f"NCCL) and fills what the weights leave of it with KV cache, profiling no "
                    f"forward: the other {1 - share:.2g} is its headroom for activations (chunks "
                    f"of {profile_tokens(shape):,} tokens) and CUDA graphs; it fits when that "
                    f"pool {holds}"
                )
            return (
                f"{job.engine.value} takes {what} and fills what weights, the activation peak "
                f"({profile}) and CUDA context leave with KV cache; it fits when that pool "
                f"{holds} (--context = vLLM's --max-model-len); "
                "nvidia-smi shows the whole share"
            )
        case DecodeEngine.EXLLAMAV2 | DecodeEngine.AUTOAWQ:
            return (
                f"{job.engine.value} preallocates its KV cache for max_seq_len {ctx:,}{given} x "
                f"batch {b} when the model loads"
            )
        case DecodeEngine.TRANSFORMERS:
            eager = (
                "; eager attention: one layer's prompt x prompt scores in fp32 during prefill"
                if job.attention == Attention.EAGER
                else ""
            )
            copy = {
                "dynamic": "; torch.cat copies one layer's K or V at a time (DynamicCache)",
                "legacy": "; the old cache lives through each step beside the new one "
                "(transformers < 4.42: twice the cache at the end)",
                "static": "; a static cache preallocated for the whole context, written in place",
            }[job.kv_cache.value]
            shape_kv = kv_bytes_per_token_gpu(shape) * ctx * b
            layers = (shape.model.n_layers or 0) / shape.plan.pp
            fresh = hf_cache.fresh_segment_bytes(job, shape_kv, layers)
            churn = (
                f"; each torch.cat asks PyTorch's caching allocator for a new, larger block "
                f"(a layer's K reaches {fresh / 2**20:,.0f} MiB, above its 10 MiB own-segment "
                "size): it cudaMallocs a segment per cat and keeps the freed ones until the "
                "card is full (nvidia-smi then shows the card nearly full); the step pays that "
                "time (its 'memory allocator' part)"
                if fresh
                else ""
            )
            logits = (
                "every prompt position's logits in the prefill, bf16 and fp32 copy together "
                "(transformers < 4.45), one position's in each decode step"
                if job.kv_cache == KvCache.LEGACY
                else "the last position's logits only (transformers >= 4.45)"
            )
            return (
                "transformers generate(): the KV cache grows with the tokens held, "
                f"{logits}{eager}{copy}{churn}"
            )
    return None


# The cache formats each engine offers for a smaller KV cache (fit suggestions): llama.cpp
# --cache-type-k/v q8_0; vLLM, SGLang and TensorRT-LLM an fp8 cache; ExLlamaV2 its Q8 cache
# (ExLlamaV2Cache_Q8, 8 bits plus scales, read as q8_0); AutoAWQ's fused cache is float16 only.
SMALLER_KV = {
    DecodeEngine.LLAMA_CPP: "q8_0",
    DecodeEngine.OLLAMA: "q8_0",  # OLLAMA_KV_CACHE_TYPE=q8_0 (with OLLAMA_FLASH_ATTENTION=1)
    DecodeEngine.EXLLAMAV2: "q8_0",
    DecodeEngine.AUTOAWQ: None,
}


def smaller_kv_dtype(engine: DecodeEngine) -> str | None:
    return SMALLER_KV.get(engine, "fp8")
