"""Hugging Face transformers' KV cache in generate(): what growing it by torch.cat costs a
decode step in bytes and the memory peak in copies.

What the code does (read in the released wheels of PyPI `transformers`, the files of the
huggingface/transformers repository at those tags):

- v4.35.2, src/transformers/models/llama/modeling_llama.py, LlamaAttention.forward (lines
  380-385): `key_states = torch.cat([past_key_value[0], key_states], dim=2)`, the same for
  the values, `past_key_value = (key_states, value_states) if use_cache else None`. Every
  layer, every step, the cache is copied into a new tensor one token longer. The legacy
  tuple cache is handed between steps by generation/utils.py greedy_search (lines 2506-2570):
  `model_inputs = self.prepare_inputs_for_generation(input_ids, **model_kwargs)`, `outputs =
  self(**model_inputs, ...)`, and only after it returns `model_kwargs =
  self._update_model_kwargs_for_generation(outputs, model_kwargs, ...)`: the old tuple stays
  referenced by model_kwargs (and by the previous `outputs`) through the whole forward while
  LlamaModel collects the new one in `next_decoder_cache`. At the end of each step both
  caches are alive: the old of c - 1 tokens and the new of c.
- v4.36.2 - v4.41.2: cache_utils.py DynamicCache.update (`self.key_cache[layer_idx] =
  torch.cat([self.key_cache[layer_idx], key_states], dim=-2)`), but generate still passes
  tuples: LlamaModel wraps them (`DynamicCache.from_legacy_cache(past_key_values)`, which
  references the same tensors) and returns `next_decoder_cache.to_legacy_cache()`, so the old
  tensors stay referenced by model_kwargs as before.
- v4.42.4, generation/utils.py (lines 1775-1783): "Use DynamicCache() instance by default.
  This will avoid back and forth from legacy format that keeps copying the cache thus using
  much more memory": generate creates `DynamicCache()` and keeps it in model_kwargs; update
  replaces each layer's tensor in place of the list slot, so the old K of a layer is freed as
  soon as its cat has written the new one (then the V). At most one layer's old K (or V) is
  alive beside the whole new cache.
- v5.25.0, cache_utils.py DynamicLayer.update (lines 119-138): `self.keys =
  torch.cat([self.keys, key_states], dim=-2)` and the values: the same copy, the same peak.
  StaticLayer (lines 403-498): `torch.zeros((batch_size, num_heads, max_cache_len,
  head_dim))` allocated once, `self.keys.index_copy_(2, cache_position, key_states)` in
  place, and `return self.keys, self.values`: the attention reads the whole max_cache_len
  (masked) every step. generation/configuration_utils.py: cache_implementation "static";
  generation/utils.py _valid_auto_compile_criteria (lines 2438-2459) then compiles the forward
  by itself on CUDA (CompileConfig mode "reduce-overhead": CUDA graphs) unless
  generation_config.disable_compile. dlrig keeps the engine's eager per-layer time for
  `--kv-cache static` (no published row of the compiled path calibrates it); `--engine
  gpt-fast` is the compiled step over a preallocated cache.

A grouped-query model (fewer KV heads than query heads) pays one more copy where transformers
widens K and V to the query heads before the attention: repeat_kv, `hidden_states[:, :, None,
:, :].expand(...)` then `.reshape(...)` (a copy of the whole cache, n_heads / n_kv_heads = g
times wider), every layer, every step. Eager attention does it in every version (v4.35.2
modeling_llama.py line 387, v4.42.4 line 342, v5.25.0 modeling_llama.py eager_attention_forward
lines 190-191); SDPA did it before the kernel in v4.36.2 - v4.42.4 (LlamaSdpaAttention, lines
710, 631 and 630 of those releases), and no longer at decode in v5.25.0
(integrations/sdpa_attention.py lines 118-128: a one-token query is packed per KV head,
`pack_gqa`, or `enable_gqa`): dlrig counts it for eager attention, and for SDPA with the
legacy cache (the releases before 4.42). FlashAttention-2 takes the KV heads as they are. The
copy reads the cache and writes it g times wider, and the attention then reads the wide copy:
2g times the cache read per step beyond the read the step already counts.

The caching allocator's churn. PyTorch's allocator (c10/cuda/CUDACachingAllocator.cpp:
`kMinLargeAlloc = 10485760; // allocations between 1 and 10 MiB may use kLargeBuffer`,
`kRoundLarge = 2097152; // round up large allocs to 2 MiB`) gives a request of 10 MiB or more a
segment of its own, and serves it from a cached free block only if one is at least as large.
A layer's K grows every step, so once it passes 10 MiB no block freed before (every one
smaller) fits the next cat's request: each cat cudaMallocs a fresh segment and the freed ones
stay cached until cudaMalloc fails, when the allocator frees them all (cudaFree synchronises
the device) and retries. optimum-benchmark's reports show it: generate.max_memory_reserved
reaches the card's 84,4xx MB from batch 16 (Llama-2-7B) and 8 (13B) while
max_memory_allocated stays at 26-36 GB. So a step that churns maps afresh the whole new cache
(every layer's K and V) and, with repeat_kv, its widened copies (g times the cache), and
unmaps as much (fresh_bytes_per_step). Those calls run on the host between the step's
launches and the release waits for the device: their time adds to the step, overlapping
neither the GPU's read nor the host's issue (decode.decode_step). No datasheet rates
cudaMalloc per byte, so the seconds per GB mapped are fitted (ALLOC_KEY, benchmarks/
calibrate.py) on the published transformers decode points that churn: optimum-benchmark's
Llama-2 7B/13B batch sweeps lose 1.7-3.1 ms per GB from batch 16 up, its Mistral-7B rows
(grouped-query: the widened copies dominate) about 1.4-2.2. The point where the card fills
(when the releases start) is not modelled: below it (Llama-2-7B at batch 4-8) the fitted
time is a few ms too slow.

Other engines preallocate or page their cache and write in place (vLLM's blocks, llama.cpp's
ring, ExLlamaV2Cache, AutoAWQ's fused cache, LitGPT's and gpt-fast's KVCache with
index_copy_ [R]): none of this applies to them.

The cost per step: step i of a generation after a p-token prompt copies the p + i - 1 cached
tokens (read) into a tensor of p + i (write), every layer, K and V, every sequence of the
batch: 2(p + i) - 1 tokens of KV moved, on top of the attention's own read of p + i. Over
the g steps that is 2·c̄ - 1 tokens with c̄ = p + (g + 1) / 2 the mean context the step reads
(shape.decode_context): about twice the KV read, so a batched step whose cache outweighs its
weights moves about three times the cache per step. The two cat kernels per layer are part of
the eager layer's ops, whose host time is fitted per engine (decode.py); no launch is added.

The memory peak at the end of generation (the last step, cache of c tokens):
- dynamic: the new cache plus one layer's old K (c - 1 tokens of one layer's K);
- legacy: the new cache plus the whole old one (c - 1 tokens): twice the cache;
- static: the preallocated cache alone.
Checked against optimum-benchmark's running-llamas reports (transformers 4.35.2, Llama-2-7B
fp16, prompt 256 + 512 new tokens, batch 64, A100-SXM4-80GB): generate.max_memory_allocated
65,112 MB; weights 13,476 MB + 64 x (766 + 767) tokens x 524,288 B = 51,439 MB, 64,915 MB.
The allocator's cached blocks (max_memory_reserved) are the slack's business (memory.py):
a block of each new size per layer per step is not reused by the next, larger request, and
the same reports' reserved reaches the card's 84,4xx MB from batch 16 (7B) and 8 (13B) on.
"""

from __future__ import annotations

from dlrig.model.workload import Attention, DecodeEngine, Job, KvCache, ModelSpec, Task

# transformers 4.42.0, the first whose generate() keeps a DynamicCache between steps
# (generation/utils.py line 1780 of its wheel: `model_kwargs["past_key_values"] =
# DynamicCache()`), was built 2024-06-27 (the file dates inside transformers-4.42.0-py3-none-
# any.whl on PyPI [V]): a transformers row dated before 2024-07 ran the legacy tuple cache
# (points.py), as a row dated 2024-06 must say otherwise.
DYNAMIC_CACHE_DEFAULT_DATE = "2024-07"


def transformers_cache(job: Job) -> KvCache | None:
    """The job's transformers cache, or None where the engine keeps its own."""
    if job.task != Task.INFER or job.engine != DecodeEngine.TRANSFORMERS:
        return None
    return job.kv_cache


def grows_by_cat(job: Job) -> bool:
    """generate() grows the cache with torch.cat every step (dynamic or legacy cache)."""
    return transformers_cache(job) in (KvCache.DYNAMIC, KvCache.LEGACY)


def reads_whole_allocation(job: Job) -> bool:
    """The step's attention reads the whole preallocated cache (StaticLayer returns it)."""
    return transformers_cache(job) == KvCache.STATIC


def kv_groups(m: ModelSpec) -> int:
    """Query heads per KV head (1 for multi-head attention and for MLA's latent)."""
    if m.is_mla or not m.n_heads or not m.n_kv_heads or m.n_kv_heads >= m.n_heads:
        return 1
    return m.n_heads // m.n_kv_heads


def repeats_kv(job: Job, m: ModelSpec) -> bool:
    """transformers widens the cache to the query heads every step (repeat_kv): a grouped-
    query model under eager attention, or SDPA before 4.42 (the legacy cache)."""
    cache = transformers_cache(job)
    if cache is None or kv_groups(m) == 1:
        return False
    if job.attention == Attention.EAGER:
        return True
    return job.attention == Attention.SDPA and cache == KvCache.LEGACY


def repeat_bytes_per_step(kv_read: float, groups: int) -> float:
    """Bytes repeat_kv adds to a step on one GPU: it reads the `kv_read` bytes the step's
    attention would have read and writes them `groups` times wider, and the attention reads
    that: 1 + 2g times `kv_read` in place of 1, so 2g more."""
    return 2 * groups * kv_read if groups > 1 else 0.0


def cat_bytes_per_step(kv_per_token: float, mean_context: float, batch: int, split: int) -> float:
    """Bytes torch.cat moves in a mean decode step on one GPU: it reads the c̄ - 1 cached
    tokens and writes c̄, every layer, K and V, each of the batch's sequences (`kv_per_token`:
    one sequence's KV per token over all layers; `split`: the GPUs one sequence's cache is
    split over)."""
    tokens = max(2.0 * mean_context - 1.0, 0.0)
    return kv_per_token * tokens * batch / split


def transient_bytes(
    kv_held: float, context: int, layers: float, cache: KvCache | None, groups: int = 1
) -> float:
    """Bytes alive beside the cache at the end of generation (one GPU). `kv_held`: the cache
    of `context` tokens on this GPU over its `layers` layers. The old copy torch.cat has not
    released: dynamic, one layer's old K, (c - 1)/c of kv_held / (2 x layers); legacy, the
    whole old cache, (c - 1)/c of kv_held; static or another engine, nothing. With repeat_kv
    (`groups` g > 1) one layer's K and V widened g times, g x kv_held / layers, during that
    layer's attention: after the dynamic cache's cat has freed its old K (the larger of the
    two), beside the legacy cache's old one (the sum)."""
    if cache is None or context <= 0 or kv_held <= 0 or layers <= 0:
        return 0.0
    old = kv_held * (context - 1) / context
    wide = groups * kv_held / layers if groups > 1 else 0.0
    if cache == KvCache.LEGACY:
        return old + wide
    if cache == KvCache.DYNAMIC:
        return max(old / (2 * layers), wide)
    return wide


# PyTorch's caching allocator: a request of at least this many bytes gets a segment of its own
# (c10/cuda/CUDACachingAllocator.cpp, kMinLargeAlloc, "allocations between 1 and 10 MiB may
# use kLargeBuffer"; the same constant in PyTorch 1.x and 2.x).
PYTORCH_MIN_LARGE_ALLOC_BYTES = 10_485_760


def fresh_segment_bytes(job: Job, kv_held: float, layers: float) -> float | None:
    """One layer's K at the end of generation on one GPU when torch.cat's requests reach the
    allocator's own-segment size (each cat then takes a fresh cudaMalloc'd segment; module
    docstring), else None."""
    if not grows_by_cat(job) or layers <= 0:
        return None
    one = kv_held / (2 * layers)
    return one if one >= PYTORCH_MIN_LARGE_ALLOC_BYTES else None


# The fitted seconds per GB of segments the caching allocator maps afresh in a decode step
# (fitted_constants.csv; module docstring).
ALLOC_KEY = "alloc_s_per_gb"


def fresh_bytes_per_step(job: Job, m: ModelSpec, kv_read: float, layers: float) -> float:
    """Bytes one GPU's caching allocator maps afresh in a mean decode step where most cats
    take fresh segments (churns_most_steps): the new cache (`kv_read`, the batch's KV at the
    mean context) and, where transformers widens it to the query heads (repeats_kv), its g
    times wider copies; 0 elsewhere (module docstring)."""
    if not churns_most_steps(job, kv_read, layers):
        return 0.0
    wide = kv_groups(m) if repeats_kv(job, m) else 0
    return kv_read * (1 + wide)


def churns_most_steps(job: Job, kv_read: float, layers: float) -> bool:
    """Most of the generation's cats take fresh segments: one layer's K at the mean step
    (`kv_read`: the batch's KV one GPU reads at the mean context) reaches the allocator's
    own-segment size. The step then includes the allocator's time (module docstring), so such
    a point informs the allocator's fitted time and no other constant of the step
    (benchmarks/calibrate.py)."""
    if not grows_by_cat(job) or layers <= 0:
        return False
    return kv_read / (2 * layers) >= PYTORCH_MIN_LARGE_ALLOC_BYTES
