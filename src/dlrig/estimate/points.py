"""A published measurement (a row of calibration_points.csv, or the older measurements.csv)
as the estimator's (ModelSpec, Job), and the memory model's error on it.

Columns follow wt/CALIBRATION_SCHEMA.md; a blank cell is the estimator's default. A row the
estimator cannot express returns None from `memory_error` (callers report it, never drop it
silently: `why_not(row)` says why).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from dlrig.catalog.lookup import find_gpu, find_model
from dlrig.errors import DlrigError
from dlrig.model.workload import Framework, Job, ModelKind, ModelSpec

GB = 1e9
GIB = 2**30
UNIT_BYTES = {"GB": GB, "GiB": GIB}
# torch.cuda.memory_allocated() read between steps: not a peak (SEMANTICS, includes_load).
CURRENT = "allocator_current"
# Measured semantics → the predicted figure it is compared with (memory.MemoryParts).
SEMANTICS = {
    "allocator_allocated": "allocated",
    "allocator_active": "allocated",  # active_bytes.all.peak: allocated blocks in use
    "allocator_reserved": "reserved",
    "nvidia_smi": "nvidia_smi",
    "unspecified_memory": "reserved",
    "": "reserved",
    # An engine's own log: the sum of the GPU buffers it prints (llama.cpp's model, KV and
    # compute buffers), and the KV cache an engine sized from its memory share (vLLM's
    # "# GPU blocks" x block size x bytes per token, or its "Available KV cache memory").
    "engine_log": "allocated",
    "engine_kv_cache": "kv_cache",
    # torch.cuda.memory_allocated() read after a step (or the largest such reading): the
    # tensors that outlive a step, not the peak inside one (GPTQ-for-LLaMa's and
    # attention_sinks' benchmarks print it).
    CURRENT: "resident",
}
# "<semantics>_step": the source reset the peak counters after loading the model (torchtune's
# get_memory_stats(reset_stats=True), and emptied the cache where the figure is reserved or
# nvidia-smi): the training step's peak alone, without the load's (run_peak_bytes).
STEP_SUFFIX = "_step"
for _name in ("allocator_allocated", "allocator_active", "allocator_reserved", "nvidia_smi"):
    SEMANTICS[_name + STEP_SUFFIX] = SEMANTICS[_name]


# A rate an end-user application displays, timed by the app itself over the updates it streams
# to its window (e.g. Jan's "Tokens/sec" stat): the app's host loop, sampling, IPC and the OS are
# inside the figure, and none of them is an input of the estimate. The source of the first such
# rows shows how large that part is: the same GPU in a Thunderbolt enclosure ran 38.5 % slower,
# and faster system RAM gave +15 % (jan.ai/post/benchmarking-nvidia-tensorrt-llm, 2024-04).
# Such rows are kept and reported, never fitted.
APP_DISPLAYED = "app_displayed"
# A harness's wall-clock over a whole evaluation loop (DeepLearningExamples' run_squad.py:
# examples over the loop's time), its data loader, host copies and each batch's outputs moved
# to the CPU inside the figure: not a forward pass's rate. Kept and reported, never fitted.
END_TO_END = "end_to_end"


def includes_load(semantics: str) -> bool:
    """Whether a figure of these semantics spans the model's load (see STEP_SUFFIX; a reading
    between steps, CURRENT, is no peak at all)."""
    return not (semantics.endswith(STEP_SUFFIX) or semantics == CURRENT)


MEMORY_STAND_IN_GPU = "A100 80GB SXM"
# Confidence "[X]": the figure is seen in the source ([V]) but the source's own table
# contradicts it (the row's notes quote the cells that do), so what was measured is unknown:
# the row is kept, and reported not expressible, never fitted or scored.
CONTRADICTED_IN_SOURCE = "[X]"
PRECISION = {"fp32": "fp32", "tf32": "tf32", "bf16": "bf16", "fp16": "fp16", "fp8": "fp8"}
INT_FIELDS = (
    "batch_size",
    "grad_accum",
    "seq_len",
    "context",
    "prompt_tokens",
    "gen_tokens",
    "tp",
    "pp",
    "vp",
    "cp",
    "ep",
    "etp",
    "nodes",
    "nics_per_node",
    "lora_rank",
    "zero",
)
ENUM_FIELDS = (
    "optimizer",
    "optimizer_dtype",
    "offload",
    "loss",
    "attention",
    "kv_dtype",
    "base_quant",
    "lora_targets",
    "memory_format",
    # How the GPUs were linked where the source says (NVLink bridge, PCIe, NCCL_P2P_DISABLE=1:
    # pcie-nop2p); blank or auto leaves it to the card's own columns (comm.intra_node_link).
    "interconnect",
)
BOOL_FIELDS = ("master_weights", "optimizer_in_backward")
# Spellings in the points that the Job names differently: bitsandbytes' (paged) 8-bit AdamW is
# adam8bit; engines the Job does not list map to the nearest it does (LitGPT and plain PyTorch
# generate with eager PyTorch, like transformers; MLC is an optimized engine).
OPTIMIZER_ALIASES = {"adamw8bit": "adam8bit", "paged_adamw8bit": "adam8bit", "adam": "adamw"}
# The trainer (Job.framework: loading path, 4-bit linear, adapter dtype) of a LoRA row, from
# its engine cell: LitGPT and torchtune by name ("torchtune-torchao0.1": torchtune
# with torchao 0.1, which quantised whole matrices); every other trainer (transformers,
# hf-trainer, PEFT/TRL, Unsloth, LLaMA-Factory, Axolotl) loads through transformers.
FRAMEWORK_OF_ENGINE = {
    "litgpt": "litgpt",
    "torchtune": "torchtune",
    "torchtune-torchao0.1": "torchtune-torchao0.1",
    "nemo": "nemo",
}
# The framework of a language model's full-training row (Job.framework: its fitted efficiency
# factor, perf.framework_factor), from its engine cell: the frameworks the Job lists by name,
# Hugging Face Trainer as transformers; a plain PyTorch script (or a framework the Job does not
# list) names none, and takes the efficiency fitted over every framework.
TRAIN_FRAMEWORK_OF_ENGINE = {f.value: f.value for f in Framework} | {"hf-trainer": "transformers"}
ENGINE_ALIASES = {
    "hf": "transformers",
    "exllama": "exllamav2",
    "mlc": "optimized",
    # LMDeploy's TurboMind: a compiled C++/CUDA engine, as MLC's is (no per-op host dispatch)
    "lmdeploy": "optimized",
    "litgpt": "transformers",
    "pytorch": "transformers",
}


def model_of(row: dict[str, str]) -> ModelSpec:
    name = row["model"]
    if name.startswith("hf:"):
        from importlib import resources

        from dlrig.model.architecture import read_hf_config

        path = resources.files("dlrig.catalog").joinpath("data", "hf_configs", name[3:])
        return read_hf_config(str(path))
    return find_model(name)


# vLLM's memory profile before V1 became its default engine (v0.8.0, released 2025-03): the
# V0 scheduler's max_num_batched_tokens is max(max_model_len, 2048) when chunked prefill is
# off (vllm/config.py SchedulerConfig, v0.2-v0.7: `max_num_batched_tokens = max(
# self.max_model_len, 2048)`), and the OpenAI server turned chunked prefill on by itself only
# above 32K tokens (vllm/engine/arg_utils.py v0.5-v0.7: "Chunked prefill is enabled by default
# for models with max_model_len > 32K"); max_num_seqs was 256 on every GPU
# (vllm/engine/arg_utils.py EngineArgs.max_num_seqs = 256). A vLLM row dated before V1's
# release ran V0 (every such row's notes say so), so its profile is read with these settings.
VLLM_V1_DEFAULT_DATE = "2025-03"

# vLLM captured its decode steps in CUDA graphs from v0.2.6 (PR #1926, 'Support CUDA graph',
# merged 2023-12-16 [R]); before it every decode step launched each layer's kernels from Python,
# and tensor-parallel workers were driven through Ray each step. dlrig prices vLLM as it runs
# since (its decode per-layer time is CUDA-graph launch time, perf.overhead_group), and no flag
# expresses the eager engine (`--enforce-eager` today): a vLLM decode row dated before it is a
# run of another engine. One harness shows the size of it (mlc-ai/llm-perf-bench, 2023-10, 2x RTX
# 4090, vLLM --tp 2): CodeLlama-34B 26.16 tok/s, Llama-2-70B 23.8: half the weights, 10 % faster.
VLLM_CUDA_GRAPHS_DATE = "2023-12"
VLLM_V0_MIN_BATCHED_TOKENS = 2048
VLLM_V0_CHUNKED_ABOVE = 32_768
VLLM_V0_MAX_NUM_SEQS = 256


def dated_before(row: dict[str, str], month: str) -> bool:
    """Whether the row's date (YYYY-MM, or YYYY-MM-DD) falls before `month` (YYYY-MM); a row
    without a date does not."""
    date = row.get("date") or ""
    return bool(date) and date[:7] < month


# The engine a vLLM row ran, where its notes say: `VLLM_USE_V1=0|1` outright, else the vLLM
# releases they quote ("vLLM 0.6.3", "vllm==0.7.2", "vLLM v0.8.5"): all before 0.8 is V0, any
# from 0.8 on is V1 (0.8.0 made V1 the default). A row quoting neither ran the engine of its
# date (a 0.7 release dated after 2025-03 says so in its notes, vllm-issue-16300's does).
_VLLM_USE_V1 = re.compile(r"VLLM_USE_V1=([01])\b")
_VLLM_RELEASE = re.compile(r"(?i)\bvllm(?:==| |: |-)v?([01])\.(\d+)(?:\.\d+)?\b")
VLLM_V1_DEFAULT_RELEASE = (0, 8)


def ran_vllm_v0(row: dict[str, str]) -> bool:
    """Whether a vLLM inference row ran the V0 engine (module comment above)."""
    if row.get("engine") != "vllm" or row.get("task") != "infer":
        return False
    notes = row.get("notes", "")
    flags = {m.group(1) for m in _VLLM_USE_V1.finditer(notes)}
    if len(flags) == 1:
        return flags == {"0"}
    releases = [(int(m.group(1)), int(m.group(2))) for m in _VLLM_RELEASE.finditer(notes)]
    if releases:
        return all(r < VLLM_V1_DEFAULT_RELEASE for r in releases)
    return dated_before(row, VLLM_V1_DEFAULT_DATE)


def vllm_v0_settings(row: dict[str, str]) -> dict[str, Any]:
    """A vLLM row that ran V0 (ran_vllm_v0): the engine flag (Job.vllm_v0, whose host time per
    layer is fitted apart) and V0's profile settings; empty for any other row."""
    if not ran_vllm_v0(row):
        return {}
    out: dict[str, Any] = {"vllm_v0": True, "max_num_seqs": VLLM_V0_MAX_NUM_SEQS}
    context = int(row["context"]) if row.get("context") else None
    if context is not None and context <= VLLM_V0_CHUNKED_ABOVE:
        out["max_batched_tokens"] = max(context, VLLM_V0_MIN_BATCHED_TOKENS)
    return out


# llama.cpp's path for quantized weights in a prompt's batches (Job.llama_cpp_cublas): F16
# copies for cuBLAS from PR #3412 ('ggml-cuda : perform cublas mat mul of quantized types as
# f16', slaren, merged 2023-09-30 [R]) until PR #8075 ('CUDA: use MMQ instead of cuBLAS by
# default', JohannesGaessler, 2024-06-23). A llama.cpp row of a GGUF format dated in between
# ran that path (no row here states a build with GGML_CUDA_FORCE_MMQ; PR #4766's log prints
# 'GGML_CUDA_FORCE_MMQ: no'); a row dated 2024-06 must say which (PR #7676's table is its
# MMQ column, and so read).
LLAMA_CPP_CUBLAS_DATES = ("2023-10", "2024-05")
GGUF_QUANTS = frozenset({"q4_0", "q4_k_m", "q5_k_m", "q6_k", "q8_0"})


# llama-bench prints its ubatch as a table column ('| n_ubatch |' header, the value in the row;
# compare-llama-bench.py calls it 'Microbatch size') and llama-batched-bench in its 'main:' line
# ('n_ubatch = 2048'); a row's notes quote it as 'n_ubatch 2048', 'n_ubatch = 2048',
# '2048 (n_ubatch)' or '2048 (Microbatch size)'. The ubatch is the tokens of one
# forward pass (shape.prefill_chunk, else 512): a 2048-token prompt at -ub 2048 is one chunk.
_UBATCH_QUOTES = (
    re.compile(r"\bn_ubatch(?: =)? (\d+)\b"),
    re.compile(r"\b(\d+) \((?:n_ubatch|Microbatch size)\)"),
)


def llama_cpp_ubatch(row: dict[str, str]) -> dict[str, int]:
    """{"max_batched_tokens": N} for a llama.cpp inference row whose notes quote its ubatch
    (one value: a row quoting two differing ubatches is left at the default)."""
    if row.get("engine") != "llama.cpp" or row.get("task") != "infer":
        return {}
    found = {int(m.group(1)) for rx in _UBATCH_QUOTES for m in rx.finditer(row.get("notes", ""))}
    return {"max_batched_tokens": found.pop()} if len(found) == 1 else {}


def llama_cpp_settings(row: dict[str, str]) -> dict[str, bool]:
    """{"llama_cpp_cublas": True} for a llama.cpp GGUF row of the cuBLAS era, else empty."""
    if row.get("engine") != "llama.cpp" or row.get("task") != "infer":
        return {}
    if row.get("quant") not in GGUF_QUANTS:
        return {}
    first, last = LLAMA_CPP_CUBLAS_DATES
    if not row.get("date") or not first <= row["date"] <= last:
        return {}
    return {"llama_cpp_cublas": True}


# TensorRT-LLM's XQA kernel for grouped-query generation attention: NVIDIA's blog 'New
# XQA-kernel provides 2.4x more Llama-70B throughput within the same latency budget'
# (nvidia.github.io/TensorRT-LLM/blogs/XQA-kernel.html, dated 2024/01/30 in the README's news)
# says 'These improvements will be published in the main branch soon, and will be included in
# the v0.8 releases' (Triton's 24.02 container is TensorRT-LLM release/0.8). A TensorRT-LLM row
# dated before 2024-02 ran the masked MHA kernel (Job.trtllm_mmha; perf.kv_loads_per_step).
# v0.8.0's own docs/source/performance.md says the kernels were 'currently experimental and not
# enabled by default. In order to enable them, simply run `export TRTLLM_ENABLE_XQA=1`' and
# exports it in its Llama2-70b throughput benchmark: a v0.8 row is read with XQA only where its
# notes quote that (the rows here from that table do); later releases choose XQA themselves
# (TRTLLM_FORCE_XQA forces it) and are read with it. Same table, same batch and lengths, H100
# FP8: LLaMA 70B 128/2048 1,486 -> 2,718 tok/s/GPU (v0.6.1 batch 480, v0.8.0 batch 512) and
# 2048/2048 547 -> 1,020, while the multi-head LLaMA 7B moved 2,740 -> 2,816 (2048/2048).
TRTLLM_XQA_DATE = "2024-02"
TRTLLM_XQA_OPT_IN_UNTIL = "2024-04"  # v0.9.0 (2024-04) onwards: read as today's engine
TRTLLM_XQA_ENV = "TRTLLM_ENABLE_XQA=1"


def trtllm_settings(row: dict[str, str]) -> dict[str, bool]:
    """{"trtllm_mmha": True} for a TensorRT-LLM inference row that ran without XQA (dated
    before it, or in v0.8's opt-in months without TRTLLM_ENABLE_XQA=1 in its notes), else
    empty (an MHA model reads the same either way: the flag matters for grouped-query ones)."""
    if row.get("engine") != "tensorrt-llm" or row.get("task") != "infer":
        return {}
    if dated_before(row, TRTLLM_XQA_DATE):
        return {"trtllm_mmha": True}
    opt_in = dated_before(row, TRTLLM_XQA_OPT_IN_UNTIL)
    return {"trtllm_mmha": True} if opt_in and TRTLLM_XQA_ENV not in row.get("notes", "") else {}


# A pool engine's memory share as its command line gives it, quoted in a row's notes: vLLM's
# `--gpu-memory-utilization 0.95` (or `--gpu_memory_utilization=0.98`), SGLang's
# `--mem-fraction-static 0.93`. Each flag is read only for its own engine's rows (a vLLM row
# may quote the SGLang command of the same thread), and only where the notes quote one value.
_SHARE_FLAGS = {
    "vllm": re.compile(r"--gpu[-_]memory[-_]utilization[ =]((?:0?\.\d+)|1(?:\.0+)?)\b"),
    "sglang": re.compile(r"--mem[-_]fraction[-_]static[ =]((?:0?\.\d+)|1(?:\.0+)?)\b"),
}


def pool_share_settings(row: dict[str, str]) -> dict[str, float]:
    """{"gpu_memory_utilization": f} for a vLLM / SGLang inference row whose notes quote the
    engine's own share flag with one value (Job.gpu_memory_utilization is the share of either
    engine: engine_memory.utilization), else empty (the engine's default)."""
    rx = _SHARE_FLAGS.get(row.get("engine") or "")
    if rx is None or row.get("task") != "infer":
        return {}
    found = {float(m.group(1)) for m in rx.finditer(row.get("notes", ""))}
    return {"gpu_memory_utilization": found.pop()} if len(found) == 1 else {}


# Engines read as transformers for their eager host (ENGINE_ALIASES) whose KV cache is
# preallocated and written in place, not grown by torch.cat: LitGPT's KVCache (`self.k.
# index_copy_(2, input_pos, k)`, litgpt/model.py) and the plain-PyTorch generate of gpt-fast's
# baseline (its KVCache, `k_out[:, :, input_pos] = k_val`, model.py) [R].
PREALLOCATED_CACHE_ENGINES = frozenset({"litgpt", "pytorch"})


def hf_cache_settings(row: dict[str, str]) -> dict[str, str]:
    """Job.kv_cache of an inference row read as transformers: static for an engine that
    preallocates its cache, legacy for a transformers row dated before generate() kept a
    DynamicCache (transformers 4.42.0, 2024-06-27: hf_cache.DYNAMIC_CACHE_DEFAULT_DATE), else
    the default (dynamic). A `kv_cache` cell, where the table has one, says it outright."""
    from dlrig.estimate.hf_cache import DYNAMIC_CACHE_DEFAULT_DATE

    engine = row.get("engine") or ""
    if row.get("task") != "infer" or ENGINE_ALIASES.get(engine, engine) != "transformers":
        return {}
    if row.get("kv_cache"):
        return {"kv_cache": row["kv_cache"]}
    if engine in PREALLOCATED_CACHE_ENGINES:
        return {"kv_cache": "static"}
    if dated_before(row, DYNAMIC_CACHE_DEFAULT_DATE):
        return {"kv_cache": "legacy"}
    return {}


def job_of(row: dict[str, str]) -> Job:
    task = row["task"]
    task = {"vision": "train", "encoder": "train"}.get(task, task)
    gpu = row["gpu"]
    if not gpu and row.get("category") == "memory":
        # A memory figure whose source names no GPU: memory.py and shape.py read only its
        # capacity (the verdict's, and the cap on the allocator's cache), so an 80 GB card
        # stands in: the run completed on a card that held it.
        gpu = MEMORY_STAND_IN_GPU
    fields: dict[str, Any] = {
        "task": task,
        "gpu": find_gpu(gpu),
        "n_gpus": int(row.get("n_gpus") or 1),
        "precision": PRECISION.get(row.get("precision") or "bf16", "bf16"),
    }
    quant = row.get("quant") or "none"
    if task == "infer":
        fields["quant"] = quant
    if row.get("weight_bits"):
        fields["weight_bits"] = float(row["weight_bits"])
    for f in INT_FIELDS:
        if row.get(f) and not (f in ("prompt_tokens", "gen_tokens") and row[f] == "0"):
            fields[f] = int(row[f])  # a zero prompt/generation length (llama-bench) is "none"
    for f in ENUM_FIELDS:
        if row.get(f):
            fields[f] = OPTIMIZER_ALIASES.get(row[f], row[f]) if f == "optimizer" else row[f]
    for f in BOOL_FIELDS:
        if row.get(f):
            fields[f] = row[f] == "true"
    if row.get("checkpointing"):
        # true / false, "selective" (torchtitan's op-level policy) or "offload" (Unsloth's block
        # inputs in CPU memory): Job.checkpointing_mode.
        word = row["checkpointing"]
        modes = ("selective", "offload")
        fields["checkpointing"] = word if word in modes else word == "true"
    if task in ("train", "lora", "qlora"):
        fields["grad_buffers"] = grad_buffers_of(row)
    engine = row.get("engine") or ""
    if task in ("lora", "qlora"):
        fields["framework"] = row.get("framework") or FRAMEWORK_OF_ENGINE.get(
            engine, "transformers"
        )
    if row["task"] == "train":  # a language model's rows (vision and encoder rows name none)
        named = row.get("framework") or TRAIN_FRAMEWORK_OF_ENGINE.get(engine)
        if named:
            fields["framework"] = named
    if task == "infer" and engine:
        fields["engine"] = ENGINE_ALIASES.get(engine, engine)
        fields.update(vllm_v0_settings(row))
        fields.update(llama_cpp_settings(row))
        fields.update(llama_cpp_ubatch(row))
        fields.update(hf_cache_settings(row))
        fields.update(pool_share_settings(row))
        fields.update(trtllm_settings(row))
    return Job(**fields)


# PyTorch 2.0, released 2023-03-15, made zero_grad(set_to_none=True) the default of
# torch.optim.Optimizer and nn.Module (pytorch/pytorch#92731; https://github.com/pytorch/
# pytorch/releases/tag/v2.0.0). A run dated before it ran PyTorch 1.x, whose
# `zero_grad()` zeroed the gradients in place and kept them between steps (Hugging Face
# Trainer's `model.zero_grad()` included).
PYTORCH_2_RELEASE = "2023-03"


def grad_buffers_of(row: dict[str, str]) -> str:
    """Job.grad_buffers of a training row: its `grad_buffers` cell where the table has one,
    else `persistent` for a run dated before PyTorch 2.0 and PyTorch's default after it."""
    if row.get("grad_buffers"):
        return row["grad_buffers"]
    return "persistent" if dated_before(row, PYTORCH_2_RELEASE) else "on-demand"


def inference_lengths_unstated(row: dict[str, str]) -> bool:
    """An inference row that states none of its lengths (context, prompt, generated tokens;
    an encoder's input length, seq_len); an image model's forward passes have none to state."""
    lengths = ("context", "prompt_tokens", "gen_tokens", "seq_len")
    if row.get("task") != "infer" or any(row.get(k) for k in lengths):
        return False
    return not image_model(row)


def image_model(row: dict[str, str]) -> bool:
    """A row of a CNN or a ViT, whose input is an image of the preset's size."""
    if row.get("unit") == "images_per_s":
        return True
    try:
        kind = find_model(row.get("model", "")).kind
    except DlrigError:
        return False
    return kind in (ModelKind.CNN, ModelKind.VIT)


def checkpointing_unstated(row: dict[str, str]) -> bool:
    """A training row whose source does not state its activation checkpointing (the cell is
    blank: the recipe's default, not printed). The estimate reads it as none, the most memory;
    the run may have recomputed."""
    return row.get("task") in ("train", "lora", "qlora") and not row.get("checkpointing")


# transformers' load_in_8bit runs LLM.int8() with BitsAndBytesConfig's llm_int8_threshold,
# 6.0 by default: input columns above it go through a 16-bit matmul of their own (the
# outlier decomposition). A row whose notes quote the threshold at 0 ran the int8 matmul
# alone, a setting dlrig's --quant int8 does not express (bitsandbytes' own benchmark times
# both: its 'INT8' and 'INT8+Decomp' rows, benchmarking/README.md).
_INT8_NO_DECOMPOSITION = re.compile(r"\bllm_int8_threshold 0(?:\.0)?\b")


def int8_without_decomposition(row: dict[str, str]) -> bool:
    return row.get("quant") == "int8" and bool(_INT8_NO_DECOMPOSITION.search(row.get("notes", "")))


def reason_of(exc: Exception) -> str:
    """One line saying why a row's settings are not a job: pydantic's first line ('1 validation
    error for Job') names no setting, so its first error's field and complaint stand instead
    (an engine dlrig does not model: "engine: Input should be 'optimized', ...")."""
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        return f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}"
    return str(exc).splitlines()[0]


def why_not(row: dict[str, str]) -> str | None:
    """None when the row is expressible, else the reason."""
    from dlrig.estimate import shape as shapes

    if row.get("confidence") == CONTRADICTED_IN_SOURCE:
        return "the source's own table contradicts this figure (confidence [X]; notes quote how)"
    try:
        shapes.derive(model_of(row), job_of(row))
    except (DlrigError, ValidationError, ValueError, KeyError) as exc:
        return reason_of(exc)
    if int8_without_decomposition(row):
        return (
            "LLM.int8() with llm_int8_threshold 0 (no outlier decomposition): --quant int8 "
            "is transformers' default threshold, 6.0"
        )
    if row.get("semantics") == END_TO_END:
        return (
            "a whole evaluation loop's wall-clock (end_to_end): its data loading, host copies "
            "and the outputs' transfer to the CPU are inside the figure and are not inputs of "
            "the estimate"
        )
    if row.get("semantics") == APP_DISPLAYED:
        return (
            "an application's displayed rate (app_displayed): its host loop, OS and UI "
            "are inside the figure and are not inputs of the estimate"
        )
    if (
        row.get("engine") == "vllm"
        and row.get("category") == "decode"
        and dated_before(row, VLLM_CUDA_GRAPHS_DATE)
    ):
        return (
            "vLLM before CUDA graphs (v0.2.6, PR #1926, 2023-12): each decode step launched "
            "from Python (tensor parallel through Ray); dlrig prices vLLM with its CUDA graphs"
        )
    language = model_of(row).is_language_model
    if row.get("category") == "prefill" and language and not row.get("prompt_tokens"):
        # A prefill's rate is a function of its prompt: attention grows with it, and chunks,
        # launches and the first pass's fixed costs weigh on a short one (a 128-token prompt
        # runs at a fraction of a 2048-token one's rate): the default length would stand in.
        return "prompt length not stated (prompt_tokens blank)"
    if row.get("category") == "throughput" and language and not row.get("seq_len"):
        # A training step's rate depends on its length wherever the step has a cost per step
        # rather than per token (collectives, offload, the optimizer): the default length
        # would stand in for one the source did not state.
        return "training sequence length not stated (seq_len blank)"
    if row.get("category") == "memory":
        if row.get("unit") and row["unit"] not in UNIT_BYTES:
            return f"unit {row['unit']} is not a memory unit"
        # Activations and KV cache scale with the tokens: without them the estimator's default
        # length would stand in for a length the source did not state.
        if language and row.get("task") != "infer" and not row.get("seq_len"):
            return "training sequence length not stated (seq_len blank)"
        if language and inference_lengths_unstated(row):
            return "inference context not stated (context, prompt_tokens, gen_tokens blank)"
        states = model_states_bytes(row)
        measured = float(row["value"]) * UNIT_BYTES[row.get("unit") or "GB"]
        # (an engine's KV-cache figure is one part, not the whole peak)
        if measured < states and row.get("semantics") != "engine_kv_cache":
            # Weights, gradients and optimizer states are counted, not modelled (bytes per
            # parameter of the stated precision, optimizer and sharding): a peak below them
            # means the run was not the one the row states.
            return (
                f"measured {measured / GB:.2f} GB is below the stated settings' weights, "
                f"gradients and optimizer states alone ({states / GB:.2f} GB)"
            )
    return None


def model_states_bytes(row: dict[str, str]) -> float:
    """Per-GPU weights + gradients + optimizer states of the row's settings: arithmetic on the
    parameter count, the one part of a memory figure no activation model can move."""
    from dlrig.estimate import memory as mem
    from dlrig.estimate import shape as shapes

    shape = shapes.derive(model_of(row), job_of(row))
    parts = mem.parts(shape)
    # every gradient, whether or not alive at the peak: the optimizer step holds them all
    return parts.weights + mem.gradient_bytes(shape) + parts.optimizer


def run_peak_bytes(shape: Any, figure: str, consts: Any = None, with_load: bool = True) -> float:
    """The run's peak in one semantics (`figure`: allocated, reserved or nvidia_smi): the
    training step's, or the load's where the job quantises its base on the GPU and that is
    higher. torch's max_memory_allocated / _reserved count from the start of the process and
    the caching allocator keeps what loading reserved (what nvidia-smi then shows), so a figure
    read after training includes the load unless the source says the counter was reset
    (`with_load` False: the STEP_SUFFIX semantics). A reset alone does not drop the load's
    reserved memory: reset_peak_memory_stats lowers the reserved peak to what the caching
    allocator still holds, the load's segments included, until empty_cache returns them."""
    from dlrig.estimate import load_peak as lp
    from dlrig.estimate import memory as mem

    step = float(getattr(mem.parts(shape, consts), figure))
    load = lp.load_peak(shape, consts) if with_load else None
    if load is None or not hasattr(load, figure):  # an engine's own figure: no load peak
        return step
    return max(step, float(getattr(load, figure)))


def predicted_memory_bytes(row: dict[str, str]) -> float:
    from dlrig.estimate import shape as shapes

    semantics = row.get("semantics") or ""
    figure = SEMANTICS.get(semantics, "reserved")
    shape = shapes.derive(model_of(row), job_of(row))
    return run_peak_bytes(shape, figure, with_load=includes_load(semantics))


def memory_error(row: dict[str, str]) -> float | None:
    """(predicted − measured) / measured in the row's semantics, or None if not expressible."""
    if why_not(row) is not None:
        return None
    measured = float(row["value"]) * UNIT_BYTES[row.get("unit") or "GB"]
    return (predicted_memory_bytes(row) - measured) / measured
