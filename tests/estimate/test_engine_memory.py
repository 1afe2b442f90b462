"""Engine-aware inference memory (estimate/engine_memory.py): hand-computable cases on a toy
model, and --gpu-memory-utilization accepted and refused on the command line, the API and a
build file."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_gpu
from dlrig.estimate import engine_memory as em
from dlrig.estimate import memory as mem
from dlrig.estimate import shape as shapes
from dlrig.estimate.applicable import InapplicableError, inapplicable
from dlrig.estimate.job import memory_of
from dlrig.estimate.request import job_from_options
from dlrig.model.workload import Attention, Job
from estimate_helpers import toy_gqa_decoder

MIB = 2**20
TOY = toy_gqa_decoder(max_seq_len=8192)  # 256 bytes of f16 KV per token
GPU = find_gpu("RTX 4090")


def _shape(**fields):
    return shapes.derive(TOY, Job(task="infer", gpu=GPU, **fields))


def test_llama_cpp_kv_cache_for_the_whole_context_f16_and_q8_0():
    # K and V: 2 layers x 2 x (2 KV heads x 16) = 128 elements per token; n_ctx 4096.
    f16 = mem.parts(_shape(engine="llama.cpp", context=4096))
    assert f16.kv_cache == 4096 * 128 * 2  # 1 MiB
    q8 = mem.parts(_shape(engine="llama.cpp", context=4096, kv_dtype="q8_0"))
    assert q8.kv_cache == pytest.approx(4096 * 128 * 34 / 32)  # ggml q8_0: 34 bytes per 32
    # Allocated for the context whatever the request uses: a short prompt holds the same.
    short = mem.parts(_shape(engine="llama.cpp", context=4096, prompt_tokens=10, gen_tokens=10))
    assert short.kv_cache == f16.kv_cache


def test_llama_cpp_compute_buffer_by_hand():
    res = 2 * 512 * 64 * 4  # the residual stream: input and current output, f32
    q = 512 * 64 * 4  # Q (4 heads x 16)
    # Flash attention at n_ctx 256 (a ubatch of 256): the largest moment is the logits, 1000 x
    # 256 fp32, plus the normed hidden state (the mask, 256 x 256 in f32 and its f16 cast, with
    # the residual stream, Q and the kernel's output is 0.625 MiB; the FFN's 0.75 MiB).
    assert em.llama_cpp_compute_bytes(TOY, 256, flash=True) == 256 * 1000 * 4 + 256 * 64 * 4
    # At n_ctx 4096 the mask (4096 x 512 x 6 bytes = 12 MiB) outgrows the logits; on top of it
    # and the residual stream the FFN's gate and up (2 x 512 x 128 fp32) beat Q and the output.
    ffn = 2 * 512 * 128 * 4
    assert em.llama_cpp_compute_bytes(TOY, 4096, flash=True) == 4096 * 512 * 6 + res + ffn
    # Without it: the f32 mask, Q and the KQ scores 4 heads x 4096 cells x 512 tokens fp32.
    eager = em.llama_cpp_compute_bytes(TOY, 4096, flash=False)
    assert eager == res + 4096 * 512 * 4 + q + 4 * 4096 * 512 * 4
    # A larger ubatch grows it with the vocabulary's logits: 256 -> 512 tokens at n_ctx 256.
    assert em.llama_cpp_compute_bytes(TOY, 256, flash=True, n_ubatch=128) == (
        128 * 1000 * 4 + 128 * 64 * 4
    )


def test_llama_cpp_compute_buffer_as_llama_cpp_printed_it():
    # Qwen2.5-3B (vocabulary 151936, hidden 2048, 16 heads) at n_ctx 4096, n_ubatch 512:
    # "CUDA0 compute buffer size = 300.75 MiB" (SciSharp/LLamaSharp#1099, llama.cpp b4701).
    qwen3b = TOY.model_copy(
        update=dict(
            n_layers=36,
            hidden_size=2048,
            n_heads=16,
            n_kv_heads=2,
            head_dim=128,
            vocab_size=151936,
            intermediate_size=11008,
        )
    )
    assert em.llama_cpp_compute_bytes(qwen3b, 4096, flash=True) == 300.75 * MIB
    # Llama 3 8B at n_ctx 1024: 258.50 MiB (abetlen/llama-cpp-python#1815).
    from dlrig.catalog.lookup import find_model

    llama3 = find_model("llama-3-8b")
    assert em.llama_cpp_compute_bytes(llama3, 1024, flash=False) == 258.5 * MIB


def test_llama_cpp_keeps_the_token_embedding_in_host_memory():
    generic = mem.parts(_shape(context=4096))
    llama = mem.parts(_shape(engine="llama.cpp", context=4096))
    # Untied: the input embedding (1000 x 64 in bf16) is not on the GPU, the output matrix is.
    assert generic.weights - llama.weights == pytest.approx(1000 * 64 * 2)
    assert llama.allocator_slack == 0  # ggml's own buffers, no caching allocator
    assert llama.allocated == llama.weights + llama.kv_cache + llama.engine_buffers


def test_vllm_pool_fills_its_share_and_reports_tokens():
    s = _shape(engine="vllm", context=2048, gpu_memory_utilization=0.5)
    parts = mem.parts(s)
    # The share is of what torch.cuda.mem_get_info() reports: 23.68 GiB on an RTX 4090.
    capacity = 23.68 * 2**30
    # weights + peak + pool + outside the allocator = the share: what nvidia-smi shows.
    assert parts.nvidia_smi == pytest.approx(0.5 * capacity)
    per_token = 128 * 2
    assert parts.kv_capacity_tokens == pytest.approx(parts.kv_cache / per_token)
    est = memory_of(s)
    assert est.max_concurrent_sequences == int(parts.kv_cache / per_token // 2048)
    # The fit figure counts one sequence's KV, the half of the share the engine leaves and the
    # 0.32 GiB the driver keeps below the nominal 24 GiB: the card's size less the pool's
    # unused part, so it fits exactly when the pool holds the sequences.
    nominal = 24 * 2**30
    assert est.per_gpu_gb == pytest.approx((nominal - parts.kv_cache + 2048 * per_token) / 1e9)


def test_vllm_default_context_is_the_models_maximum():
    s = _shape(engine="vllm")
    assert em.allocated_context(s) == TOY.max_seq_len  # --max-model-len's default
    assert memory_of(s).context_tokens == 8192


def test_default_engine_keeps_the_generic_model():
    s = _shape(context=1024)
    assert not em.applies(s)
    assert memory_of(s).engine is None


def test_autoawq_and_exllamav2_preallocate_max_seq_len_times_batch():
    awq = mem.parts(_shape(engine="autoawq", batch_size=3, prompt_tokens=64, gen_tokens=64))
    assert awq.kv_cache == 128 * 2 * 128 * 3  # the request's 128 tokens (context given by it)
    awq_default = _shape(engine="autoawq", batch_size=3)
    assert mem.parts(awq_default).kv_cache == 2048 * 128 * 2 * 3  # max_seq_len 2048 by default
    exl = _shape(engine="exllamav2")
    assert mem.parts(exl).kv_cache == 8192 * 128 * 2  # config.max_seq_len


def test_transformers_eager_attention_adds_the_prompt_scores():
    sdpa = mem.parts(_shape(engine="transformers", prompt_tokens=512, gen_tokens=1))
    eager = mem.parts(
        _shape(engine="transformers", prompt_tokens=512, gen_tokens=1, attention="eager")
    )

    # 4 heads x 512 x 512 scores: bf16 scores, the fp32 soft-max and its bf16 cast. The
    # prefill is the peak: its working set is activations plus the part the engine's buffer
    # (the end of generation's cache copies, hf_cache.py) already covers.
    def prefill_moment(p: mem.MemoryParts) -> float:
        return p.activations + p.engine_buffers

    assert prefill_moment(eager) - prefill_moment(sdpa) == 4 * 512 * 512 * (2 + 4 + 2)


def test_gpu_memory_utilization_accepted_for_pool_engines():
    _, job = job_from_options(
        {
            "gpu": "RTX 4090",
            "model": "llama-3.1-8b",
            "task": "infer",
            "engine": "vllm",
            "gpu_memory_utilization": 0.95,
        }
    )
    assert job.gpu_memory_utilization == 0.95


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"task": "infer", "engine": "llama.cpp"}, "--engine llama.cpp"),
        ({"task": "infer"}, "give --engine vllm, sglang or tensorrt-llm"),
        ({"task": "train"}, "applies to inference only"),
    ],
)
def test_gpu_memory_utilization_refused_elsewhere(options, message):
    with pytest.raises(InapplicableError, match=message.replace(".", r"\.")):
        job_from_options(
            {"gpu": "RTX 4090", "model": "llama-3.1-8b", "gpu_memory_utilization": 0.9, **options}
        )


def test_build_file_style_names_the_key():
    job = Job(task="infer", gpu=GPU, engine="llama.cpp", gpu_memory_utilization=0.9)
    problems = inapplicable(TOY, job, given={"gpu_memory_utilization"})
    assert problems[0].text("toml").startswith("gpu_memory_utilization = 0.9 with engine =")


def test_out_of_range_share_is_refused():
    with pytest.raises(Exception, match="gpu-memory-utilization"):
        job_from_options(
            {
                "gpu": "RTX 4090",
                "model": "llama-3.1-8b",
                "task": "infer",
                "engine": "vllm",
                "gpu_memory_utilization": 1.5,
            }
        )


def test_fixes_speak_each_engines_language():
    from dlrig.catalog.lookup import find_model
    from dlrig.estimate.fit import candidates

    m = find_model("llama-3.1-8b")

    def flags(**fields):
        return {c.flag for c in candidates(m, Job(task="infer", gpu=GPU, **fields))}

    llama = flags(engine="llama.cpp", context=131072)
    assert "--kv-dtype q8_0" in llama and "--kv-dtype fp8" not in llama
    assert "--gpu-memory-utilization 0.95" not in llama
    vllm = flags(engine="vllm")
    assert {"--kv-dtype fp8", "--gpu-memory-utilization 0.95"} <= vllm
    # No --context given: vLLM's --max-model-len defaults to the model's 131072, so shorter
    # contexts are offered from there.
    assert "--context 65536" in vllm
    assert not any(f.startswith("--kv-dtype") for f in flags(engine="autoawq"))
    assert "--gpu-memory-utilization 0.95" not in flags(engine="vllm", gpu_memory_utilization=0.95)


def test_vllm_on_a_24gb_card_at_the_models_full_context_does_not_fit():
    # Llama 3.1 8B in bf16 under `vllm serve` defaults on an RTX 4090: the weights leave a pool
    # of tens of thousands of tokens, less than one sequence of max_model_len 131072, which
    # vLLM refuses ("max seq len ... is larger than the maximum number of tokens that can be
    # stored in KV cache"); at --context 16384 it holds more than one.
    from dlrig.catalog.lookup import find_model

    m = find_model("llama-3.1-8b")
    full = memory_of(shapes.derive(m, Job(task="infer", gpu=GPU, engine="vllm")))
    assert full.max_concurrent_sequences == 0 and full.verdict == "does not fit"
    short = memory_of(shapes.derive(m, Job(task="infer", gpu=GPU, engine="vllm", context=16384)))
    assert short.max_concurrent_sequences >= 2 and short.fits


def test_vllm_default_context_is_a_limit_per_sequence_not_a_demand_of_every_sequence():
    # 8x H100, Llama 3.1 70B in bf16, tp 8, 32 concurrent sequences, no length given: vLLM
    # starts when its pool holds one sequence of max_model_len (131072) and schedules the 32
    # by the blocks they hold, so the job needs max(131072, 32 x the 4096 assumed) tokens of
    # KV per GPU's share, not 32 x 131072 (it read "does not fit, -117 GB" and offered to cut
    # the batch to 8). Asked for 32 sequences of 131072 each (--context), it does not fit.
    from dlrig.catalog.lookup import find_model

    m = find_model("llama-3.1-70b")
    kw = dict(task="infer", gpu=find_gpu("H100 SXM"), n_gpus=8, tp=8, engine="vllm")
    s = shapes.derive(m, Job(batch_size=32, **kw))
    assert em.pool_tokens_needed(s) == max(131072, 32 * s.seq) == 131072
    assert memory_of(s).verdict == "fits"
    asked = shapes.derive(m, Job(batch_size=32, context=131072, **kw))
    assert em.pool_tokens_needed(asked) == 32 * 131072
    assert memory_of(asked).verdict == "does not fit"
    # one sequence still has to fit: with 256 sequences assumed at 4096, the demand is theirs
    many = shapes.derive(m, Job(batch_size=256, **kw))
    assert em.pool_tokens_needed(many) == 256 * many.seq


def test_first_fix_caps_an_engines_default_context_at_the_longest_that_fits():
    # The same job: vLLM's own error says "decrease max_model_len"; the first suggestion is the
    # longest cap that fits (16384 holds two sequences), not a quantised model, and not the
    # shortest cap (whose shorter KV read would make it look cheaper).
    from dlrig.catalog.lookup import find_model
    from dlrig.estimate.fit import suggestions

    m = find_model("llama-3.1-8b")
    first = suggestions(m, Job(task="infer", gpu=GPU, engine="vllm"))[0]
    assert first.flag == "--context 16384" and first.verdict == "fits"
    assert "the engine's default is 131,072" in first.cost
    # the cap changes what vLLM reserves, not what a 4,096-token request reads per step: the
    # same time per token (it read 2.15x for --context 65536 on an RTX 4090 with AWQ weights,
    # pricing the cap as if every request filled it)
    assert first.step_time_ratio == pytest.approx(1.0)
    awq = suggestions(m, Job(task="infer", gpu=GPU, engine="vllm", quant="awq"))
    caps = [s for s in awq if s.flag.startswith("--context")]
    assert caps and all(s.step_time_ratio == pytest.approx(1.0) for s in caps)
    # a context the user gave is theirs: each halving gives up more of it, after the lossless
    given = suggestions(m, Job(task="infer", gpu=GPU, engine="vllm", context=131072))
    assert given[0].flag != "--context 16384"


def test_pool_share_is_of_the_memory_cuda_reports_not_the_nominal_size():
    # torch.cuda.mem_get_info() on an RTX 3090: 23.58 GiB (vllm#10517), not 24.
    assert em.usable_memory_bytes("GeForce RTX 3090", 24) == 23.58 * 2**30
    # A card without a printed figure: its nominal size x the median usable/nominal ratio of
    # the cards with one: 0.925, 0.925 (L40, L40S), 0.9825 (3090), 0.98667 (4090), 0.98938
    # (A100 80GB), 0.99025 (H100) -> (0.9825 + 0.986667) / 2.
    assert em.usable_memory_ratio() == pytest.approx((23.58 / 24 + 23.68 / 24) / 2)
    assert em.usable_memory_bytes("a card", 32) == pytest.approx(32 * 2**30 * 0.9845833, rel=1e-6)


def test_sampler_run_holds_the_sort_path_of_top_k_top_p():
    # 4 rows x 1000 logits: bf16 logits (2), fp32 copy (4), sorted values (4), int64 indices (8),
    # top-k mask (1), soft-max of the sorted values (4), top-p mask (1) = 24 bytes each.
    assert em.sampler_bytes(TOY, 4, 2) == 4 * 1000 * 24


def test_vllm_profile_peak_by_hand():
    # 100 batched tokens: residual + normed input 2 x 100 x 64 x 2 = 25,600 bytes alive beside
    # the widest layer moment, the MLP's gate, up and product 3 x 128 x 100 x 2 = 76,800.
    one_row = _shape(engine="vllm", context=2048, max_batched_tokens=100, max_num_seqs=1)
    assert em.pool_peak_bytes(one_row) == 25_600 + 76_800  # the sampler's 24,000 is smaller
    # Four sampler rows, 96,000 bytes, outgrow the forward's working set.
    four = _shape(engine="vllm", context=2048, max_batched_tokens=100, max_num_seqs=4)
    assert em.pool_peak_bytes(four) == 25_600 + 96_000
    # Rows are min(max_num_seqs, tokens): 256 sequences over 2 tokens sample 2 rows.
    two = _shape(engine="vllm", context=2048, max_batched_tokens=2, max_num_seqs=256)
    assert em.pool_peak_bytes(two) == 2 * 2 * 64 * 2 + 2 * 1000 * 24
    # A larger profile shrinks the pool by exactly the larger peak.
    assert mem.parts(one_row).kv_cache - mem.parts(four).kv_cache == pytest.approx(96_000 - 76_800)


def test_vllm_defaults_by_gpu_when_not_given():
    # vllm serve: 2048 tokens and 256 sequences on an RTX 4090 (arg_utils get_batch_defaults).
    s = _shape(engine="vllm", context=2048)
    assert em.profile_tokens(s) == 2048
    assert em.pool_peak_bytes(s) == 2 * 2048 * 64 * 2 + max(3 * 128 * 2048 * 2, 256 * 1000 * 24)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"task": "infer", "engine": "transformers", "max_batched_tokens": 512}, "-ub"),
        ({"task": "train", "max_batched_tokens": 512}, "applies to inference only"),
        ({"task": "infer", "engine": "sglang", "max_num_seqs": 8}, "give --engine vllm"),
    ],
)
def test_profile_settings_refused_where_they_do_not_apply(options, message):
    with pytest.raises(InapplicableError, match=message.replace(".", r"\.")):
        job_from_options({"gpu": "RTX 4090", "model": "llama-3.1-8b", **options})


def test_profile_settings_accepted_for_vllm():
    _, job = job_from_options(
        {
            "gpu": "RTX 4090",
            "model": "llama-3.1-8b",
            "task": "infer",
            "engine": "vllm",
            "max_batched_tokens": 8192,
            "max_num_seqs": 64,
        }
    )
    assert (job.max_batched_tokens, job.max_num_seqs) == (8192, 64)


def test_vllm_rows_before_v1_read_with_v0_profile_settings():
    from dlrig.estimate.points import vllm_v0_settings

    row = {"engine": "vllm", "task": "infer", "date": "2024-12", "context": "20000"}
    # V0 without chunked prefill: max_num_batched_tokens = max(max_model_len, 2048), 256 seqs.
    v0 = {"vllm_v0": True, "max_num_seqs": 256}
    assert vllm_v0_settings(row) == v0 | {"max_batched_tokens": 20000}
    assert vllm_v0_settings({**row, "context": "1000"})["max_batched_tokens"] == 2048
    # Above 32K the server chunked the prefill: the profile is not max_model_len.
    assert vllm_v0_settings({**row, "context": "65536"}) == v0
    assert vllm_v0_settings({**row, "date": "2025-04"}) == {}  # V1, the engine's own defaults
    assert vllm_v0_settings({**row, "engine": "sglang"}) == {}


def test_llama_cpp_ubatch_is_its_prefill_chunk_and_sizes_its_compute_buffer():
    # -ub 2048 (--max-batched-tokens): one 2048-token forward pass, and the compute buffer of
    # a 2048-token ubatch (llama_cpp_compute_bytes with n_ubatch 2048)
    opts = {"gpu": "RTX 4090", "model": "llama-3.1-8b", "task": "infer", "engine": "llama.cpp"}
    opts |= {"prompt_tokens": 2048, "context": 4096}
    m, job = job_from_options(opts | {"max_batched_tokens": 2048})
    s = shapes.derive(m, job)
    assert s.prefill_tokens_in_flight == 2048
    flash = job.attention != Attention.EAGER
    big = em.llama_cpp_compute_bytes(m, 4096, flash=flash, n_ubatch=2048)
    assert em.allocation(s, 0.0).buffers == pytest.approx(big)
    m, job = job_from_options(opts)
    s = shapes.derive(m, job)
    assert s.prefill_tokens_in_flight == 512
    assert em.allocation(s, 0.0).buffers == pytest.approx(
        em.llama_cpp_compute_bytes(m, 4096, flash=flash, n_ubatch=512)
    )


def test_sglang_pool_is_its_fraction_of_the_memory_free_before_the_weights():
    # SGLang's profile_max_num_token: rest = free after the weights - free before them x
    # (1 - mem_fraction_static) = fraction x free before - weights; no forward is profiled.
    s = _shape(engine="sglang", context=2048, gpu_memory_utilization=0.5)
    parts = mem.parts(s)
    capacity = 23.68 * 2**30  # an RTX 4090 as CUDA reports it
    before_weights = capacity - parts.cuda_context - parts.nccl_buffers  # one GPU: no NCCL
    assert parts.kv_cache == pytest.approx(0.5 * before_weights - parts.weights)
    # The same share under vLLM also pays its profiled peak and the cuBLAS workspace.
    v = mem.parts(_shape(engine="vllm", context=2048, gpu_memory_utilization=0.5))
    assert v.kv_cache < parts.kv_cache
    assert parts.kv_capacity_tokens == pytest.approx(parts.kv_cache / (128 * 2))


def test_share_flags_read_from_a_rows_notes_for_their_own_engine_only():
    from dlrig.estimate.points import pool_share_settings

    row = {"engine": "sglang", "task": "infer", "notes": "launch_server --mem-fraction-static 0.93"}
    assert pool_share_settings(row) == {"gpu_memory_utilization": 0.93}
    # A vLLM row quoting the SGLang command of the same thread keeps vLLM's default.
    assert pool_share_settings({**row, "engine": "vllm"}) == {}
    vllm = {
        "engine": "vllm",
        "task": "infer",
        "notes": "vllm serve m --gpu_memory_utilization=0.98",
    }
    assert pool_share_settings(vllm) == {"gpu_memory_utilization": 0.98}
    # Two different values quoted: not read.
    both = {**vllm, "notes": "--gpu-memory-utilization 0.9 then --gpu-memory-utilization 0.95"}
    assert pool_share_settings(both) == {}
    assert pool_share_settings({**vllm, "notes": "no --gpu-memory-utilization, defaults"}) == {}


def test_sglang_prefills_in_2048_token_chunks_on_every_24_gb_card():
    # server_args: chunked_prefill_size 2048 below 25,000 MiB (nvidia-smi's memory.total):
    # a 24 GB card reports 24,564-24,576 MiB; an 80 GB card 8192.
    for gpu, chunk in (("RTX 4090", 2048), ("RTX 3090", 2048), ("H100 SXM", 8192)):
        job = Job(task="infer", gpu=find_gpu(gpu), engine="sglang")
        assert em.batched_tokens(job) == chunk, gpu


def test_transformers_legacy_cache_era_holds_every_prompt_positions_logits_in_prefill():
    # Before 4.45 the prefill's forward returned every prompt position's logits, the head's
    # bf16 output and its fp32 copy alive together (2 + 4 bytes each); the legacy cache is
    # transformers < 4.42. A 2,000-token prompt over TOY's vocabulary: that moment outweighs
    # one layer's working set, and the decode steps still hold one position's.
    kw = dict(engine="transformers", prompt_tokens=2000, gen_tokens=1)
    legacy = mem.parts(_shape(kv_cache="legacy", **kw))
    dynamic = mem.parts(_shape(**kw))

    def prefill_moment(p: mem.MemoryParts) -> float:
        return p.activations + p.engine_buffers

    # (less the one generated token's KV, 256 bytes, which the KV cache line already counts
    # but which the prefill does not hold yet)
    assert prefill_moment(legacy) == pytest.approx(2000 * TOY.vocab_size * (2 + 4) - 256)
    assert prefill_moment(dynamic) < prefill_moment(legacy) / 4
    assert legacy.logits == dynamic.logits == TOY.vocab_size * (2 + 4)
