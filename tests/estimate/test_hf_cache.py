"""transformers' KV cache grown by torch.cat (estimate/hf_cache.py): the bytes a decode step
copies, the old copy alive at the memory peak, the --kv-cache option where it applies, and how
a calibration row is read. Every expected number below is worked by hand in the comments."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_gpu, find_model
from dlrig.estimate import hf_cache, memory, points
from dlrig.estimate import shape as shapes
from dlrig.estimate.applicable import InapplicableError
from dlrig.estimate.request import job_from_options
from dlrig.model.workload import Job, KvCache

GB = 1e9
# Llama-2-7B: 32 layers x (K + V) x 4096 wide x 2 bytes = 524,288 bytes of KV per token.
L7_KV_PER_TOKEN = 32 * 2 * 4096 * 2


def test_cat_bytes_hand_computed():
    # 1 sequence, 2 KV bytes per token, prompt 3 and 3 new tokens: the steps read 4, 5, 6
    # tokens (mean context 5 = 3 + (3 + 1) / 2) and copy 3+4, 4+5, 5+6 = 27 tokens / 3 steps
    # = 9 = 2 x 5 - 1.
    assert hf_cache.cat_bytes_per_step(2.0, 5.0, 1, 1) == pytest.approx(2.0 * 9)
    # 4 sequences split over 2 GPUs: twice the bytes per GPU of one sequence
    assert hf_cache.cat_bytes_per_step(2.0, 5.0, 4, 2) == pytest.approx(2.0 * 9 * 2)


def test_transient_hand_computed():
    # 1,000 bytes held for 10 tokens over 5 layers: old cache 900 bytes (9 tokens)
    assert hf_cache.transient_bytes(1000.0, 10, 5, KvCache.LEGACY) == pytest.approx(900.0)
    # dynamic: one layer's old K = 900 / (2 x 5)
    assert hf_cache.transient_bytes(1000.0, 10, 5, KvCache.DYNAMIC) == pytest.approx(90.0)
    assert hf_cache.transient_bytes(1000.0, 10, 5, KvCache.STATIC) == 0.0
    assert hf_cache.transient_bytes(1000.0, 10, 5, None) == 0.0


def _shape(engine: str = "transformers", **kw) -> shapes.Shape:
    job = Job(
        task="infer",
        gpu=find_gpu("A100 80GB SXM"),
        precision="fp16",
        engine=engine,
        batch_size=64,
        prompt_tokens=256,
        gen_tokens=512,
        context=768,
        attention="sdpa",
        **kw,
    )
    return shapes.derive(find_model("llama-2-7b"), job)


def test_decode_step_copies_twice_the_mean_cache():
    s = _shape()
    mean_ctx = 256 + (512 + 1) / 2  # 512.5
    assert s.decode_kv_bytes_per_gpu == pytest.approx(L7_KV_PER_TOKEN * mean_ctx * 64)
    assert s.decode_kv_copy_bytes_per_gpu == pytest.approx(
        L7_KV_PER_TOKEN * (2 * mean_ctx - 1) * 64
    )


@pytest.mark.parametrize("engine", ["vllm", "gpt-fast", "llama.cpp", "exllamav2"])
def test_preallocating_engines_copy_nothing(engine):
    assert _shape(engine).decode_kv_copy_bytes_per_gpu == 0.0


def test_static_cache_copies_nothing_and_reads_its_whole_allocation():
    s = _shape(kv_cache="static")
    assert s.decode_kv_copy_bytes_per_gpu == 0.0
    # StaticLayer.update returns the whole max_cache_len buffer: 768 tokens every step
    assert s.decode_kv_bytes_per_gpu == pytest.approx(L7_KV_PER_TOKEN * 768 * 64)


def test_legacy_cache_peak_holds_two_caches():
    # weights + the cache of 768 tokens + the old one of 767 (legacy tuples): the 64 x 768 x
    # 524,288 B = 25.77 GB cache, its old copy 25.74 GB
    legacy = memory.parts(_shape(kv_cache="legacy"))
    cache = 64 * 768 * L7_KV_PER_TOKEN
    assert legacy.kv_cache == pytest.approx(cache)
    assert legacy.engine_buffers == pytest.approx(cache * 767 / 768)
    dynamic = memory.parts(_shape())
    assert dynamic.engine_buffers == pytest.approx(cache * 767 / 768 / 64)  # one of 32 x (K, V)
    static = memory.parts(_shape(kv_cache="static"))
    assert static.engine_buffers == 0.0
    assert legacy.allocated - static.allocated == pytest.approx(cache * 767 / 768, rel=1e-3)


def test_prefill_moment_is_not_added_to_the_decode_end():
    # a long prompt and one new token: the prefill's working set dominates; the decode end's
    # copy (one layer's K) is inside it, not on top of it
    job = Job(
        task="infer",
        gpu=find_gpu("A100 80GB SXM"),
        precision="fp16",
        engine="transformers",
        batch_size=1,
        prompt_tokens=4096,
        gen_tokens=1,
        attention="eager",
    )
    s = shapes.derive(find_model("llama-2-7b"), job)
    p = memory.parts(s)
    prefill_moment = p.activations + p.engine_buffers + p.kv_cache
    assert p.engine_buffers > 0
    assert prefill_moment > p.kv_cache + p.engine_buffers  # the prefill is the peak


BASE = {"gpu": "A100 80GB SXM", "model": "llama-2-7b", "task": "infer"}


@pytest.mark.parametrize("cache", ["dynamic", "legacy", "static"])
def test_accepted_for_transformers(cache):
    _, job = job_from_options(BASE | {"engine": "transformers", "kv_cache": cache})
    assert job.kv_cache == KvCache(cache)
    _, job = job_from_options(BASE | {"engine": "hf", "kv_cache": cache})
    assert job.kv_cache == KvCache(cache)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"engine": "vllm"}, "give --engine transformers"),
        ({}, "give --engine transformers"),  # the default engine is not transformers
        ({"task": "train", "engine": None}, "applies to inference only"),
    ],
)
def test_refused_where_it_does_not_apply(options, message):
    opts = {k: v for k, v in (BASE | {"kv_cache": "static"} | options).items() if v is not None}
    with pytest.raises(InapplicableError, match=message):
        job_from_options(opts)


ROW = {
    "id": "t",
    "category": "decode",
    "task": "infer",
    "model": "llama-2-7b",
    "gpu": "A100 80GB SXM",
}


@pytest.mark.parametrize(
    ("engine", "date", "expected"),
    [
        ("transformers", "2023-11", KvCache.LEGACY),  # transformers 4.35: tuples
        ("transformers", "2024-06", KvCache.LEGACY),
        ("transformers", "2024-07", KvCache.DYNAMIC),  # 4.42.0 built 2024-06-27
        ("hf", "2023-11", KvCache.LEGACY),
        ("litgpt", "2023-10", KvCache.STATIC),  # LitGPT's KVCache: index_copy_
        ("transformers", "", KvCache.DYNAMIC),
    ],
)
def test_row_reads_its_cache_from_engine_and_date(engine, date, expected):
    assert points.job_of(ROW | {"engine": engine, "date": date}).kv_cache == expected


def _mistral(attention: str, kv_cache: str = "dynamic") -> shapes.Shape:
    job = Job(
        task="infer",
        gpu=find_gpu("A100 80GB SXM"),
        precision="fp16",
        engine="transformers",
        batch_size=16,
        prompt_tokens=512,
        gen_tokens=1000,
        attention=attention,
        kv_cache=kv_cache,
    )
    return shapes.derive(find_model("mistral-7b"), job)


def test_repeat_kv_hand_computed():
    # read 10 bytes, widen 4 times: read 10 + write 40 + attention reads 40, instead of 10
    assert hf_cache.repeat_bytes_per_step(10.0, 4) == pytest.approx(80.0)
    assert hf_cache.repeat_bytes_per_step(10.0, 1) == 0.0
    assert hf_cache.kv_groups(find_model("mistral-7b")) == 4  # 32 query heads, 8 KV heads
    assert hf_cache.kv_groups(find_model("llama-2-7b")) == 1


@pytest.mark.parametrize(
    ("attention", "kv_cache", "repeats"),
    [
        ("eager", "dynamic", True),  # eager_attention_forward: repeat_kv in every version
        ("eager", "legacy", True),
        ("sdpa", "legacy", True),  # LlamaSdpaAttention 4.36-4.42: repeat_kv before the kernel
        ("sdpa", "dynamic", False),  # 5.x: pack_gqa / enable_gqa at decode
        ("flash", "legacy", False),
    ],
)
def test_grouped_query_copy_where_transformers_repeats(attention, kv_cache, repeats):
    s = _mistral(attention, kv_cache)
    mean_ctx = 512 + (1000 + 1) / 2
    # Mistral-7B: 32 layers x (K + V) x 8 heads x 128 x 2 bytes = 131,072 bytes per token
    per_token = 32 * 2 * 8 * 128 * 2
    cat = per_token * (2 * mean_ctx - 1) * 16
    read = per_token * mean_ctx * 16
    expected = cat + (2 * 4 * read if repeats else 0.0)
    assert s.decode_kv_copy_bytes_per_gpu == pytest.approx(expected)


def test_repeat_kv_peak_one_wide_layer():
    # eager + dynamic: the widened K and V of one layer (4 x the layer's K + V) outweigh one
    # layer's old K: 4 x cache / 32 layers
    p = memory.parts(_mistral("eager"))
    assert p.engine_buffers == pytest.approx(4 * p.kv_cache / 32)


def test_fresh_segment_threshold_hand_computed():
    job = _shape().job
    # 10 MiB of one layer's K: 2 x 32 layers x 10 MiB held
    at = 2 * 32 * hf_cache.PYTORCH_MIN_LARGE_ALLOC_BYTES
    assert hf_cache.fresh_segment_bytes(job, at, 32) == hf_cache.PYTORCH_MIN_LARGE_ALLOC_BYTES
    assert hf_cache.fresh_segment_bytes(job, at - 64, 32) is None
    static = _shape(kv_cache="static").job
    assert hf_cache.fresh_segment_bytes(static, 10 * at, 32) is None  # written in place


def test_fresh_bytes_per_step_hand_computed():
    # Llama-2-7B, 64 sequences, mean context 512.5: one layer's K is 8 KiB x 512.5 x 64 =
    # 268 MB, far above 10 MiB, so every cat maps a fresh segment: the whole new cache
    s = _shape()
    kv = s.decode_kv_bytes_per_gpu
    assert hf_cache.fresh_bytes_per_step(s.job, s.model, kv, 32) == pytest.approx(kv)
    # below the own-segment size (one layer's K under 10 MiB) the cached blocks serve the cats
    small = 2 * 32 * hf_cache.PYTORCH_MIN_LARGE_ALLOC_BYTES - 64
    assert hf_cache.fresh_bytes_per_step(s.job, s.model, small, 32) == 0.0
    # a cache written in place maps nothing
    static = _shape(kv_cache="static")
    assert hf_cache.fresh_bytes_per_step(static.job, static.model, kv, 32) == 0.0
    # Mistral-7B under eager attention widens K and V to its 32 query heads (g = 4) every
    # step: the new cache plus four times it
    m = _mistral("eager")
    assert hf_cache.fresh_bytes_per_step(m.job, m.model, 1e9, 32) == pytest.approx(5e9)


def test_a_churning_step_pays_the_allocators_time_on_top():
    from dlrig.estimate import calibration as cal
    from dlrig.estimate import perf

    s = _shape()  # batch 64: churns
    fitted = cal.constants()
    rows = {k: v for k, v in fitted.rows.items() if k[0] != hf_cache.ALLOC_KEY}
    without = perf.throughput_of(s, cal.Constants(rows))
    per_gb = 2e-3
    rows[(hf_cache.ALLOC_KEY, "*")] = cal.Fitted(
        hf_cache.ALLOC_KEY, per_gb, "*", 2, 2, None, None, None, "test", ""
    )
    with_alloc = perf.throughput_of(s, cal.Constants(rows))
    alloc_s = s.decode_kv_bytes_per_gpu / GB * per_gb  # sdpa: no widened copies
    assert with_alloc.step_time_s == pytest.approx(without.step_time_s + alloc_s)
    assert with_alloc.step_parts_s[perf.ALLOC_PART] == pytest.approx(alloc_s)
    assert sum(with_alloc.step_parts_s.values()) == pytest.approx(with_alloc.step_time_s)
    assert perf.ALLOC_PART not in without.step_parts_s
    # one sequence's cache (one layer's K of 4 MB) never leaves the cached blocks: no part
    one = shapes.derive(s.model, s.job.model_copy(update={"batch_size": 1}))
    assert perf.ALLOC_PART not in perf.throughput_of(one, cal.Constants(rows)).step_parts_s


def test_layer_split_stages_map_their_segments_in_turn():
    from dlrig.estimate import decode as dec

    x = dec.DecodeInputs(
        weight_bytes=1e9, kv_bytes=1e9, flops=0.0, n_layers=32, hidden=4096, batch=8,
        fresh_alloc_bytes=2e9,
    )  # fmt: skip
    one = dec.decode_step(
        x, mem_bw_gbs=1000, bw_efficiency=1.0, peak_tflops=100, compute_efficiency=1.0,
        alloc_s_per_gb=1e-3,
    )  # fmt: skip
    # 2 GB read at 1 TB/s = 2 ms, then 2 GB of fresh segments at 1 ms per GB
    assert one.step_s == pytest.approx(2e-3 + 2e-3)
    assert one.alloc_s == pytest.approx(2e-3)
    from dlrig.estimate.comm import Link

    link = Link(what="PCIe", busbw_gbs=20.0, latency_s=10e-6)
    two = dec.decode_step(
        x, mem_bw_gbs=1000, bw_efficiency=1.0, peak_tflops=100, compute_efficiency=1.0,
        pp=2, link=link, alloc_s_per_gb=1e-3,
    )  # fmt: skip
    # two stages in turn: each GPU's 2 GB read and 2 GB of segments, one after the other
    assert two.alloc_s == pytest.approx(4e-3)
    assert two.step_s == pytest.approx(4e-3 + 4e-3 + two.comm_s)


def test_the_assumptions_name_the_allocators_time_and_how_to_avoid_it():
    from dlrig.estimate import explain

    churning = [a for a in explain.assumptions(_shape()) if "fresh segments" in a]
    assert len(churning) == 1 and "--kv-cache static" in churning[0]
    assert hf_cache.ALLOC_KEY in churning[0]  # the fitted constant, cited
    assert not [a for a in explain.assumptions(_shape(kv_cache="static")) if "fresh segm" in a]
