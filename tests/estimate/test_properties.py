"""Property tests of `dlrig estimate`'s core over generated jobs.

Jobs are drawn as the command line's options (model preset x catalog GPU x task x flags) and go
through the same path as `dlrig estimate`: `request.job_from_options`, `estimate.estimate`, the
JSON renderer (schema dlrig.estimate/2). Invariants:

- an invalid combination raises `DlrigError` (exit 2), never another exception; every number is
  finite and >= 0 (headroom may be negative); the JSON is strict; intervals hold their value;
- the verdict agrees with the number and its interval (jobs.verdict's definition);
- memory is monotonic in the settings that save or cost memory (checkpointing, weight bits,
  ZeRO stage, tensor parallelism, sequence/context, batch);
- time: 2 GPUs never slower than 1 at a fixed global batch; checkpointing never faster; decode
  speed per sequence never rises with context; TTFT never falls with a longer prompt; more
  tokens take more time;
- each fit suggestion, applied, fits as it says, and they come cheapest first.

Seeds are fixed (derandomize) so CI sees the same examples every run.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from dlrig.catalog import load
from dlrig.cli import run
from dlrig.errors import DlrigError
from dlrig.estimate import estimate, fit
from dlrig.estimate import job as jobs
from dlrig.estimate.request import job_from_options
from dlrig.model.estimate import (
    DOES_NOT_FIT,
    FITS,
    TIGHT,
    Estimate,
    Interval,
    MemoryEstimate,
)
from dlrig.model.workload import Job, ModelKind, ModelSpec
from dlrig.report.estimate import renderer

FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

MODELS = {m.name: m for m in load.models()}
GPUS = [g.name for g in load.gpus()]
# One or two presets of each kind, small enough that most draws fit somewhere.
DENSE = [
    "gpt2",
    "qwen2.5-0.5b",
    "gemma-3-1b",
    "llama-3.1-8b",
    "mistral-7b",
    "gemma-2-9b",
    "llama-2-13b",
]
MOE = ["mixtral-8x7b", "qwen3-30b-a3b", "gpt-oss-20b"]
ENCODER = ["bert-base", "bert-large", "roberta-base", "t5-base"]
VISION = ["resnet50", "vit-b16", "vit-l16"]
LANGUAGE = DENSE + MOE
ALL_MODELS = LANGUAGE + ENCODER + VISION
# Cards people train and serve on, across memory classes (GDDR, HBM) and generations.
COMMON_GPUS = [
    "GeForce RTX 3090",
    "GeForce RTX 4090",
    "GeForce RTX 5090",
    "A100 80GB SXM",
    "H100 SXM",
    "L40S",
    "RTX A6000",
    "GeForce RTX 4060 Ti 16GB",
]

TRAIN_TASKS = ["train", "lora", "qlora"]
QUANTS = [
    "none",
    "int8",
    "int4",
    "nf4",
    "fp8",
    "gptq",
    "awq",
    "q4_0",
    "q4_k_m",
    "q8_0",
    "exl2",
    "mxfp4",
]
ENGINES = ["optimized", "llama.cpp", "vllm", "exllamav2", "transformers", "gpt-fast"]


# Every flag the estimator takes, each drawn or left out: the fuzz of the whole surface.
any_options = st.fixed_dictionaries(
    {
        "model": st.sampled_from(sorted(MODELS)),
        "gpu": st.sampled_from(GPUS),
        "task": st.sampled_from([*TRAIN_TASKS, "infer"]),
    },
    optional={
        "gpus": st.sampled_from([1, 2, 4, 8, 16]),
        "precision": st.sampled_from(["fp32", "tf32", "bf16", "fp16", "fp8"]),
        "quant": st.sampled_from(QUANTS),
        "weight_bits": st.sampled_from([2.5, 4.0, 6.5]),
        "base_quant": st.sampled_from(["none", "int8", "nf4", "gptq", "awq"]),
        "kv_dtype": st.sampled_from(["fp16", "fp8", "q8_0", "q4_0"]),
        "optimizer": st.sampled_from(["adamw", "sgd", "adafactor", "adam8bit"]),
        "optimizer_dtype": st.sampled_from(["fp32", "bf16"]),
        "zero": st.integers(0, 3),
        "checkpointing": st.booleans(),
        "checkpointing_mode": st.sampled_from(["full", "selective"]),
        "lora_rank": st.sampled_from([1, 8, 64, 256]),
        "lora_targets": st.sampled_from(["all", "attention", "qv", "qkv"]),
        "batch_size": st.integers(1, 64),
        "grad_accum": st.integers(1, 16),
        "seq_len": st.sampled_from([1, 128, 512, 2048, 8192, 32768]),
        "context": st.sampled_from([1, 256, 2048, 8192, 32768]),
        "prompt_tokens": st.sampled_from([1, 64, 512, 4096]),
        "gen_tokens": st.sampled_from([1, 128, 1024]),
        "tp": st.sampled_from([1, 2, 4, 8]),
        "pp": st.sampled_from([1, 2, 4]),
        "vp": st.sampled_from([1, 2]),
        "cp": st.sampled_from([1, 2]),
        "ep": st.sampled_from([1, 2, 8]),
        "nodes": st.sampled_from([1, 2]),
        "attention": st.sampled_from(["eager", "sdpa", "flash"]),
        "memory_format": st.sampled_from(["channels_last", "nchw"]),
        "tokens": st.sampled_from([1e6, 1e9]),
        "epochs": st.sampled_from([0.5, 3.0]),
        "dataset_size": st.sampled_from([1, 10_000]),
        "mfu": st.sampled_from([0.01, 0.4, 1.0]),
        "interconnect": st.sampled_from(["auto", "nvlink", "pcie"]),
        "engine": st.sampled_from(ENGINES),
        "master_weights": st.booleans(),
        "offload": st.sampled_from(["none", "optimizer", "full"]),
        "host_link_gbs": st.sampled_from([1.0, 25.0]),
        "optimizer_in_backward": st.booleans(),
        "loss": st.sampled_from(["standard", "chunked", "fused"]),
        "price_per_gpu_hour": st.sampled_from([0.0, 2.5]),
        "electricity_price": st.sampled_from([0.0, 0.3]),
        "sample_bytes": st.sampled_from([1e3, 1e6]),
    },
)


def _run(options: dict[str, Any]) -> tuple[ModelSpec, Job] | None:
    """The job `dlrig estimate` would run, or None where it exits 2 (DlrigError): a bad option
    or a plan the GPUs cannot run."""
    try:
        m, job = job_from_options(dict(options))
        jobs.shape(m, job)
    except DlrigError:
        return None
    return m, job


def _estimate(options: dict[str, Any]) -> Estimate | None:
    mj = _run(options)
    if mj is None:
        return None
    try:
        return estimate(*mj)
    except DlrigError:
        return None


def _memory(options: dict[str, Any]) -> MemoryEstimate | None:
    mj = _run(options)
    if mj is None:
        return None
    try:
        return jobs.memory(*mj)
    except DlrigError:
        return None


def _mem(options: dict[str, Any]) -> float | None:
    """Per-GPU memory (the nvidia-smi figure) of a valid job, else None."""
    m = _memory(options)
    return None if m is None else m.per_gpu_gb


def _thr(options: dict[str, Any]):
    mj = _run(options)
    if mj is None:
        return None
    try:
        return jobs.throughput(*mj)
    except DlrigError:
        return None


def _numbers(value: Any, path: str = "") -> list[tuple[str, float]]:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, int | float):
        return [(path, float(value))]
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _numbers(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [n for i, v in enumerate(value) for n in _numbers(v, f"{path}[{i}]")]
    raise AssertionError(f"{path}: unexpected {type(value).__name__}")


def _strict(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def _holds(iv: Interval | None, value: float | None) -> None:
    if iv is None or value is None:
        return
    top = math.inf if iv.high is None else iv.high
    assert iv.low <= value * (1 + 1e-9) and value <= top * (1 + 1e-9), (iv, value)
    assert iv.low >= 0


def check_estimate(est: Estimate) -> None:
    """What every estimate must satisfy, whatever the job."""
    doc = _strict(renderer("json")(est, color=False))  # what `--format json` prints
    assert doc["schema"] == "dlrig.estimate/2"
    # The renderer turns a non-finite number into null with a reason: none may need it.
    assert "unavailable" not in json.dumps(doc), doc
    for path, v in _numbers(est.model_dump()):
        assert math.isfinite(v), path
        if not path.endswith("headroom_gb"):
            assert v >= 0, (path, v)
    m = est.memory
    _holds(m.per_gpu_interval, m.per_gpu_gb)
    t = est.throughput
    _holds(t.interval, t.tokens_per_s or t.samples_per_s)
    _holds(est.time_hours_interval, est.time_hours)
    _holds(t.prefill_interval, t.prefill_tokens_per_s)
    _holds(t.ttft_interval, t.ttft_s)
    _holds(est.energy_kwh_interval, est.energy_kwh)
    _holds(est.cloud_cost_interval, est.cloud_cost)
    _holds(est.electricity_cost_interval, est.electricity_cost)
    # every prediction carries its interval where its group has one
    if t.prefill_tokens_per_s is not None and t.interval is not None:
        assert t.prefill_interval is not None and t.ttft_interval is not None
    if est.energy_kwh is not None and est.time_hours_interval is not None:
        assert est.energy_kwh_interval is not None
    assert m.per_gpu_gb > 0
    # The memory parts add up: tensors, the allocator's slack, what lies outside it.
    tensors = (
        m.weights_gb
        + m.gradients_gb
        + m.optimizer_gb
        + m.activations_gb
        + m.logits_gb
        + m.kv_cache_gb
        + m.dequant_gb
        + m.engine_buffers_gb
    )
    assert m.allocated_gb == pytest.approx(tensors, rel=1e-9, abs=1e-12)
    assert m.reserved_gb == pytest.approx(m.allocated_gb + m.allocator_slack_gb, rel=1e-9)
    outside = m.cuda_context_gb + m.cublas_workspace_gb + m.nccl_buffers_gb
    assert m.nvidia_smi_gb == pytest.approx(m.reserved_gb + outside, rel=1e-9)
    if m.kv_capacity_tokens is None:
        # The fit figure is the step's, or the load's where a quantised base peaks higher.
        assert m.per_gpu_gb == max(m.nvidia_smi_gb, m.load_peak_gb or 0.0)
    else:
        # A pool engine fills its share with KV cache: nvidia-smi shows the share (at most the
        # card); the fit figure counts the requested sequences' KV, and it fits (at the point
        # estimate) exactly when the pool holds them.
        assert m.nvidia_smi_gb <= m.capacity_gb * (1 + 1e-9)
        assert m.max_concurrent_sequences is not None
        if m.per_gpu_gb <= m.capacity_gb * (1 - 1e-9):
            assert m.max_concurrent_sequences >= est.batch_size
    # Rates per GPU are the job's over its GPUs; time is the work over the rate; energy and
    # cost follow the time.
    for total, per in (
        (t.tokens_per_s, t.tokens_per_s_per_gpu),
        (t.samples_per_s, t.samples_per_s_per_gpu),
    ):
        if total is not None and per is not None:
            assert per * est.n_gpus == pytest.approx(total, rel=1e-9)
    if est.time_hours is not None and est.tokens_total is not None and t.tokens_per_s:
        assert est.time_hours * 3600 * t.tokens_per_s == pytest.approx(est.tokens_total)
    if est.energy_kwh is not None:
        assert est.energy_kwh == pytest.approx(est.energy_kwh_per_hour * est.time_hours)
    assert m.headroom_gb == pytest.approx(m.capacity_gb - m.per_gpu_gb)
    # The verdict against the interval: fits = the top fits; does not fit = the bottom does not.
    # where the measured need lies if the error is within ± frac: [v/(1+frac), v/(1-frac)]
    frac = m.per_gpu_interval.frac if m.per_gpu_interval else 0.0
    top = m.per_gpu_gb / (1 - frac) if frac < 1 else math.inf
    bottom = m.per_gpu_gb / (1 + frac)
    if m.verdict == FITS:
        assert top <= m.capacity_gb * (1 + 1e-12)
    elif m.verdict == DOES_NOT_FIT:
        assert bottom > m.capacity_gb
    else:
        assert m.verdict == TIGHT and bottom <= m.capacity_gb < top * (1 + 1e-12)
    assert m.fits == (m.verdict != DOES_NOT_FIT)
    # The step's parts add up to it (the schema's promise).
    if t.step_parts_s:
        assert sum(t.step_parts_s.values()) == pytest.approx(t.step_time_s, rel=1e-6)
    assert t.step_time_s > 0
    assert (t.tokens_per_s or t.samples_per_s or 0) > 0
    if est.fixes:
        assert m.verdict != FITS


@settings(FAST, max_examples=150)
@given(any_options)
def test_any_flags_give_a_clean_error_or_a_consistent_estimate(options: dict[str, Any]) -> None:
    est = _estimate(options)
    assume(est is not None)
    assert est is not None
    check_estimate(est)


_SWITCHES = {
    "checkpointing": ("--checkpointing", "--no-checkpointing"),
    "master_weights": ("--master-weights", "--pure-16bit"),
    "optimizer_in_backward": ("--optimizer-in-backward", None),
}


def _argv(options: dict[str, Any]) -> list[str]:
    argv = ["estimate", "--format", "json"]
    for name, value in options.items():
        if name in _SWITCHES:
            on, off = _SWITCHES[name]
            flag = on if value else off
            argv += [flag] if flag else []
        else:
            argv += [
                "--" + name.replace("_", "-"),
                f"{value:g}" if isinstance(value, float) else str(value),
            ]
    return argv


@settings(FAST, max_examples=25)
@given(any_options)
def test_the_command_line_exits_0_or_2_and_prints_the_core_estimate(
    options: dict[str, Any],
) -> None:
    """`dlrig estimate ... --format json`: exit 0 with the core's estimate as strict JSON, or
    exit 2 (bad input) exactly where the core raises DlrigError; never 3 (internal error)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(_argv(options))
    est = _estimate(options)
    if est is None:
        assert code == 2, (code, err.getvalue())
        assert err.getvalue().startswith("dlrig: error: ") and err.getvalue().count("\n") == 1
        return
    assert code == 0, err.getvalue()
    assert _strict(out.getvalue()) == _strict(renderer("json")(est, color=False))


# ---------------------------------------------------------------------------------------------
# A valid base job per task, then one setting changed.

train_base = st.fixed_dictionaries(
    {
        "model": st.sampled_from(LANGUAGE + ENCODER[:2] + ["vit-b16"]),
        "gpu": st.sampled_from(COMMON_GPUS),
        "task": st.sampled_from(TRAIN_TASKS),
        "batch_size": st.sampled_from([1, 2, 4, 8]),
        "seq_len": st.sampled_from([256, 1024, 4096]),
    },
    optional={
        "attention": st.sampled_from(["eager", "sdpa", "flash"]),
        "loss": st.sampled_from(["standard", "chunked", "fused"]),
        "optimizer": st.sampled_from(["adamw", "sgd", "adam8bit"]),
        "precision": st.sampled_from(["bf16", "fp16", "fp32"]),
        "gpus": st.sampled_from([1, 2, 8]),
        "zero": st.integers(0, 3),
        "tp": st.sampled_from([1, 2]),
        "pp": st.sampled_from([1, 2]),
        "grad_accum": st.sampled_from([1, 4]),
        "offload": st.sampled_from(["none", "optimizer", "full"]),
        "optimizer_dtype": st.sampled_from(["fp32", "bf16"]),
        "master_weights": st.booleans(),
        "lora_rank": st.sampled_from([8, 64]),
        "lora_targets": st.sampled_from(["all", "qv"]),
        "base_quant": st.sampled_from(["none", "int8", "nf4"]),
        "optimizer_in_backward": st.booleans(),
    },
)
infer_base = st.fixed_dictionaries(
    {
        "model": st.sampled_from(LANGUAGE),
        "gpu": st.sampled_from(COMMON_GPUS),
        "task": st.just("infer"),
        "batch_size": st.sampled_from([1, 4, 16]),
        "context": st.sampled_from([512, 4096, 16384]),
    },
    optional={
        "engine": st.sampled_from(ENGINES),
        "kv_dtype": st.sampled_from(["fp16", "fp8", "q8_0", "q4_0"]),
        "quant": st.sampled_from(["none", "int8", "int4", "q4_k_m"]),
        "prompt_tokens": st.sampled_from([128, 1024]),
        "gpus": st.sampled_from([1, 2, 4]),
        "tp": st.sampled_from([1, 2]),
        "precision": st.sampled_from(["bf16", "fp16", "fp8"]),
    },
)
LE = 1 + 1e-9  # "not more": equal within rounding


def _ckpt(base: dict[str, Any], mode: str | None) -> dict[str, Any]:
    out = {k: v for k, v in base.items() if k not in ("checkpointing", "checkpointing_mode")}
    if mode:
        out |= {"checkpointing": True, "checkpointing_mode": mode}
    return out


@FAST
@given(train_base)
def test_memory_full_checkpointing_le_selective_le_none(base: dict[str, Any]) -> None:
    assume(MODELS[base["model"]].kind != ModelKind.CNN)
    full, sel, none = (_mem(_ckpt(base, mode)) for mode in ("full", "selective", None))
    assume(None not in (full, sel, none))
    assert full <= sel * LE <= none * LE**2, (full, sel, none)


@FAST
@given(infer_base)
def test_memory_fewer_weight_bits_less_memory(base: dict[str, Any]) -> None:
    q = {k: v for k, v in base.items() if k != "quant"} | {"precision": "fp16"}
    q4, q8, f16 = (_mem(q | {"quant": x}) for x in ("int4", "int8", "none"))
    assume(None not in (q4, q8, f16))
    assert q4 < q8 < f16, (q4, q8, f16)
    g4, g8 = (_mem(q | {"quant": x, "engine": "llama.cpp"}) for x in ("q4_k_m", "q8_0"))
    assume(None not in (g4, g8))
    assert g4 < g8


@FAST
@given(train_base, st.sampled_from([2, 4, 8]))
def test_memory_higher_zero_stage_not_more_per_gpu(base: dict[str, Any], n: int) -> None:
    """The tensors (allocated) never grow with the stage; what nvidia-smi shows never grows
    from stage 0 to 2. ZeRO-3's reserved pool can: sharded training's allocator slack is fitted
    apart (slack.py: the gathered weights and reduce-scattered gradients on their own streams,
    30 % over allocated in the published pairs), so for a small model ZeRO-3 can rightly show
    more than ZeRO-2 (bert-base LoRA on 2 GPUs: 0.07 GB of weights saved, 0.13 GB more slack).
    Without pipeline stages: FSDP inside pipeline stages (torchtitan) keeps each stage's
    weights gathered and its gradients unsharded for the whole step (memory.fsdp_with_pipeline,
    sourced there), so ZeRO-3 with --pp rightly needs more than ZeRO-2."""
    assume(base.get("pp", 1) == 1)
    per = [_memory(base | {"gpus": n, "zero": z}) for z in range(4)]
    assume(None not in per)
    for lo, hi in itertools.pairwise(per):
        assert hi.allocated_gb <= lo.allocated_gb * LE, [m.allocated_gb for m in per]
    for lo, hi in itertools.pairwise(per[:3]):
        assert hi.per_gpu_gb <= lo.per_gpu_gb * LE, [m.per_gpu_gb for m in per]


@FAST
@given(st.one_of(train_base, infer_base))
def test_memory_more_tensor_parallel_not_more_per_gpu(base: dict[str, Any]) -> None:
    """Training on the same 4 GPUs (tp takes GPUs from data parallelism, whose replicas each
    hold everything). Inference from --tp 2 up, with --gpus = --tp: one GPU holds no NCCL
    buffers, and several GPUs without --tp already split the layers (device_map), so gpt-2 at
    --tp 2 rightly needs more per GPU than alone or layer-split over the same GPUs."""
    if base["task"] == "infer":
        per = [_mem(base | {"gpus": tp, "tp": tp}) for tp in (2, 4, 8)]
    else:
        per = [_mem(base | {"gpus": 4, "tp": tp}) for tp in (1, 2, 4)]
    valid = [p for p in per if p is not None]
    assume(len(valid) >= 2)
    for lo, hi in itertools.pairwise(valid):
        assert hi <= lo * LE, per


@FAST
@given(train_base, st.sampled_from([1, 8]))
def test_memory_more_pipeline_stages_not_more_per_gpu(base: dict[str, Any], accum: int) -> None:
    """On the same 4 GPUs, without ZeRO or offload: each stage holds 1/p of the layers' states,
    the first stage p micro-batches of its 1/p of the layers (1F1B), the last the logits.
    (With ZeRO or offload fewer data-parallel ranks mean bigger shards and per-block buffers,
    so there more stages can rightly cost more.)"""
    b = {k: v for k, v in base.items() if k not in ("tp", "pp", "gpus", "grad_accum")}
    b |= {"zero": 0, "offload": "none", "gpus": 4, "grad_accum": accum}
    per = [_mem(b | {"pp": pp}) for pp in (1, 2, 4)]
    valid = [x for x in per if x is not None]
    assume(len(valid) >= 2)
    for lo, hi in itertools.pairwise(valid):
        assert hi <= lo * LE, per


@FAST
@given(train_base)
def test_memory_more_context_parallel_not_more_tensors(base: dict[str, Any]) -> None:
    """On the same 4 GPUs, a longer sequence split over more context-parallel ranks: each
    keeps 1/cp of the tokens' activations, and the states are those of fewer data-parallel
    replicas sharded no worse (tensors: allocated, before the allocator's pool)."""
    b = {k: v for k, v in base.items() if k not in ("tp", "pp", "gpus", "grad_accum")}
    b |= {"gpus": 4, "seq_len": 8192}
    per = [_memory(b | {"cp": cp}) for cp in (1, 2, 4)]
    valid = [x.allocated_gb for x in per if x is not None]
    assume(len(valid) >= 2)
    for lo, hi in itertools.pairwise(valid):
        assert hi <= lo * LE, valid


@FAST
@given(st.one_of(train_base, infer_base))
def test_memory_longer_sequence_or_bigger_batch_not_less(base: dict[str, Any]) -> None:
    key = "context" if base["task"] == "infer" else "seq_len"
    longer = _mem(base | {key: base[key] * 2})
    bigger = _mem(base | {"batch_size": base["batch_size"] * 2})
    now = _mem(base)
    assume(now is not None)
    if longer is not None and MODELS[base["model"]].is_transformer:
        assert longer * LE >= now, (now, longer)
    if bigger is not None:
        assert bigger * LE >= now, (now, bigger)


@FAST
@given(train_base)
def test_memory_lora_le_full_training_and_qlora_le_lora(base: dict[str, Any]) -> None:
    """Freezing the base drops its gradients and optimizer states; a 4-bit base is smaller
    than a 16-bit one. Same precision, batch, sequence and plan on all three."""
    assume(MODELS[base["model"]].is_language_model)
    b = {k: v for k, v in base.items() if k not in ("base_quant", "offload", "precision")}
    train, lora, qlora = (_mem(b | {"task": t}) for t in ("train", "lora", "qlora"))
    assume(None not in (train, lora, qlora))
    assert qlora <= lora * LE <= train * LE**2, (train, lora, qlora)


@FAST
@given(train_base, st.sampled_from([8, 64]))
def test_memory_higher_lora_rank_not_less(base: dict[str, Any], rank: int) -> None:
    assume(base["task"] != "train")
    low, high = _mem(base | {"lora_rank": rank}), _mem(base | {"lora_rank": rank * 4})
    assume(low is not None and high is not None)
    assert high * LE >= low


@FAST
@given(infer_base)
def test_memory_smaller_kv_cache_format_not_more(base: dict[str, Any]) -> None:
    fp16, fp8 = _mem(base | {"kv_dtype": "fp16"}), _mem(base | {"kv_dtype": "fp8"})
    assume(fp16 is not None and fp8 is not None)
    assert fp8 <= fp16 * LE


@FAST
@given(train_base)
def test_memory_leaner_loss_and_attention_not_more(base: dict[str, Any]) -> None:
    """Fused cross-entropy keeps no logits, chunked keeps them in 16 bits, standard upcasts
    them to fp32; eager attention keeps the s x s scores that sdpa/flash never store."""
    assume(MODELS[base["model"]].is_language_model)
    fused, chunked, standard = (_mem(base | {"loss": x}) for x in ("fused", "chunked", "standard"))
    assume(None not in (fused, chunked, standard))
    assert fused <= chunked * LE <= standard * LE**2, (fused, chunked, standard)
    flash, eager = _mem(base | {"attention": "flash"}), _mem(base | {"attention": "eager"})
    assume(flash is not None and eager is not None)
    assert flash <= eager * LE


# ---------------------------------------------------------------------------------------------
# Time.


def _rate(t) -> float:
    return t.tokens_per_s or t.samples_per_s


@FAST
@given(
    train_base,
    st.sampled_from(["nvlink", "pcie"]),
    st.sampled_from([2, 4]),
    st.sampled_from([0, 1, 2, 3]),
)
def test_two_gpus_at_a_fixed_global_batch_never_slower_unless_communication_bound(
    base: dict[str, Any], link: str, accum: int, zero: int
) -> None:
    """One GPU accumulating 2a micro-batches against two accumulating a each. The second GPU
    takes half the compute and adds the gradient traffic it cannot hide: two GPUs are slower
    only when that traffic outlasts the compute saved (gpt-2 at batch 1 over PCIe is: its
    0.5 GB of fp32 gradients take longer to all-reduce than 256 tokens take to compute, as
    DDP users see), and never more than twice as fast (the same micro-batches and optimizer
    work, split, plus traffic)."""
    # The same --zero on both: ZeRO >= 1 stands for a framework with 16-bit parameters and
    # gradients (DeepSpeed, Megatron), --zero 0 for torch AMP's fp32 ones; comparing across
    # them compares frameworks, not GPU counts.
    base = {k: v for k, v in base.items() if k != "offload"}
    one = _thr(base | {"grad_accum": accum, "zero": zero, "gpus": 1})
    two = _thr(base | {"grad_accum": accum // 2, "gpus": 2, "interconnect": link, "zero": zero})
    assume(one is not None and two is not None)
    # With offload each GPU also moves its states over its own PCIe link behind the last
    # micro-batch's backward, which the gradient all-reduce now shares: two GPUs can be slower
    # (--zero 0: each still moves everything) or more than twice as fast (two links for half
    # the bytes each hide what one link cannot). The laws below are for jobs without it.
    assert _rate(two) <= 2 * _rate(one) * LE, (_rate(one), _rate(two))
    if two.compute_time_s + two.exposed_comm_s <= one.compute_time_s:
        assert _rate(two) >= _rate(one) / LE, (_rate(one), _rate(two))


# Counter-examples that failed before step.py spent the last backward's window once (the
# all-reduce, the copies to the host and ZeRO-3's gathers each hid behind all of it).
GPT2_3090 = {"model": "gpt2", "gpu": "GeForce RTX 3090", "batch_size": 1, "seq_len": 256}


@FAST
@given(train_base, st.sampled_from(["full", "selective"]))
@example(GPT2_3090 | {"task": "train", "offload": "full"}, "full")
@example(GPT2_3090 | {"task": "train", "offload": "optimizer", "gpus": 2}, "full")
@example(GPT2_3090 | {"task": "lora", "offload": "full", "gpus": 2, "zero": 3}, "full")
def test_checkpointing_never_faster(base: dict[str, Any], mode: str) -> None:
    """Recomputing costs time: full (the whole block again) no faster than selective (every
    other matmul), selective no faster than none."""
    assume(MODELS[base["model"]].kind != ModelKind.CNN)
    off, on = _thr(_ckpt(base, None)), _thr(_ckpt(base, mode))
    assume(off is not None and on is not None)
    assert _rate(on) <= _rate(off) * LE, (_rate(off), _rate(on))
    full, sel = _thr(_ckpt(base, "full")), _thr(_ckpt(base, "selective"))
    assume(full is not None and sel is not None)
    assert _rate(full) <= _rate(sel) * LE, (_rate(full), _rate(sel))


@FAST
@given(infer_base, st.sampled_from([1, 2]))
@example(  # rose by 2e-5 before perf.counted_attention_flops (sliding-window rounding)
    {
        "model": "gemma-3-1b",
        "gpu": "GeForce GTX 680",
        "task": "infer",
        "batch_size": 16,
        "context": 512,
        "prompt_tokens": 128,
    },
    1,
)
def test_decode_speed_per_sequence_never_rises_with_context(
    base: dict[str, Any], gpus: int
) -> None:
    assume(MODELS[base["model"]].has_vocab_head)  # a generator: decode and TTFT
    b = base | {"gpus": gpus} | ({"tp": 2} if gpus == 2 else {})
    rates = [_thr(b | {"context": c}) for c in (256, 2048, 8192, 32768)]
    per_seq = [t.tokens_per_s / base["batch_size"] for t in rates if t is not None]
    assume(len(per_seq) >= 2)
    for shorter, longer in itertools.pairwise(per_seq):
        assert longer <= shorter * LE, per_seq


@FAST
@given(infer_base)
def test_decode_more_sequences_never_lower_total_nor_higher_per_sequence(
    base: dict[str, Any],
) -> None:
    """A decode step reads the weights once for every sequence in the batch: more sequences
    raise the total rate (or leave it) and never speed each one up."""
    assume(MODELS[base["model"]].has_vocab_head)  # a generator: decode and TTFT
    rates = [_thr(base | {"batch_size": b}) for b in (1, 2, 8, 32)]
    pairs = [(b, t.tokens_per_s) for b, t in zip((1, 2, 8, 32), rates, strict=True) if t]
    assume(len(pairs) >= 2)
    for (b0, r0), (b1, r1) in itertools.pairwise(pairs):
        assert r1 * LE >= r0, pairs
        assert r1 / b1 <= r0 / b0 * LE, pairs


@FAST
@given(infer_base, st.sampled_from(["prompt_tokens", "gen_tokens"]))
def test_decode_speed_per_sequence_never_rises_with_a_longer_prompt_or_answer(
    base: dict[str, Any], key: str
) -> None:
    """Without --context the tokens held grow with the prompt and the answer (decode reads the
    KV cache at the mean context): longer ones never speed a sequence up; nor does a bigger
    batch make its first token come sooner."""
    assume(MODELS[base["model"]].has_vocab_head)  # a generator: decode and TTFT
    b = {k: v for k, v in base.items() if k not in ("context", "prompt_tokens")}
    rates = [_thr(b | {key: n}) for n in (128, 1024, 8192)]
    per_seq = [t.tokens_per_s for t in rates if t is not None]
    assume(len(per_seq) >= 2)
    for shorter, longer in itertools.pairwise(per_seq):
        assert longer <= shorter * LE, per_seq
    one, many = _thr(base | {"batch_size": 1}), _thr(base | {"batch_size": 8})
    assume(one is not None and many is not None)
    assert many.ttft_s * LE >= one.ttft_s


@FAST
@given(train_base)
def test_training_bigger_micro_batch_not_slower(base: dict[str, Any]) -> None:
    """Twice the micro-batch: twice the math, the same optimizer step and gradient traffic per
    step; the rate never falls (the estimator keeps one efficiency per family)."""
    small, big = _thr(base), _thr(base | {"batch_size": base["batch_size"] * 2})
    assume(small is not None and big is not None)
    assert _rate(big) * LE >= _rate(small), (_rate(small), _rate(big))


@FAST
@given(infer_base)
def test_ttft_never_falls_with_a_longer_prompt(base: dict[str, Any]) -> None:
    assume(MODELS[base["model"]].has_vocab_head)  # a generator: decode and TTFT
    b = {k: v for k, v in base.items() if k != "prompt_tokens"} | {"context": 16384}
    ttft = [_thr(b | {"prompt_tokens": p}) for p in (16, 128, 512, 2048, 3000, 8192)]
    vals = [t.ttft_s for t in ttft if t is not None]
    assume(len(vals) >= 2)
    for shorter, longer in itertools.pairwise(vals):
        assert longer * LE >= shorter, vals


@FAST
@given(st.one_of(train_base, infer_base), st.sampled_from([1e6, 3e8]))
def test_more_tokens_more_time(base: dict[str, Any], tokens: float) -> None:
    a, b = _estimate(base | {"tokens": tokens}), _estimate(base | {"tokens": tokens * 2})
    assume(a is not None and b is not None and a.time_hours is not None)
    assert b.time_hours > a.time_hours


# ---------------------------------------------------------------------------------------------
# Fit suggestions.

SMALL_GPUS = ["GeForce RTX 3060 12GB", "GeForce RTX 4060 Ti 16GB", "GeForce RTX 3090"]
too_big = st.one_of(
    train_base.map(lambda o: o | {"gpu": "GeForce RTX 4060 Ti 16GB"}),
    infer_base.map(lambda o: o | {"gpu": "GeForce RTX 3060 12GB"}),
    st.fixed_dictionaries(
        {
            "model": st.sampled_from(["llama-3.1-8b", "mistral-7b", "llama-2-13b", "qwen3-8b"]),
            "gpu": st.sampled_from([*SMALL_GPUS, "GeForce RTX 4090", "L40S"]),
            "task": st.sampled_from(TRAIN_TASKS),
            "batch_size": st.sampled_from([2, 8]),
            "seq_len": st.sampled_from([2048, 8192]),
        },
        optional={"gpus": st.sampled_from([1, 2]), "zero": st.sampled_from([0, 2])},
    ),
    st.fixed_dictionaries(
        {
            "model": st.sampled_from(["llama-3.1-70b", "qwen2.5-32b", "mixtral-8x7b"]),
            "gpu": st.sampled_from(["GeForce RTX 4090", "A100 80GB SXM", "RTX A6000"]),
            "task": st.just("infer"),
            "batch_size": st.sampled_from([1, 8]),
            "context": st.sampled_from([4096, 32768]),
        },
        optional={"engine": st.sampled_from(ENGINES), "gpus": st.sampled_from([1, 2])},
    ),
)


def _loss_rank(m: ModelSpec, job: Job, change: dict[str, Any]) -> int | None:
    """How much of the result a suggestion gives up, from the candidates it is made of."""
    pool = fit.candidates(m, job)
    keys = set(change) - {"n_gpus"}
    for size in range(fit.MAX_COMBINED_FIXES + 1):
        for combo in fit._combos(pool, size):
            union: dict[str, Any] = {}
            for c in combo:
                union |= c.change
            if set(union) == keys and all(str(union[k]) == str(change[k]) for k in keys):
                return sum(c.loss_rank or c.changes_result for c in combo)
    return None


@settings(FAST, max_examples=15)
@given(too_big)
def test_each_fit_suggestion_fits_when_applied_and_cheapest_comes_first(
    base: dict[str, Any],
) -> None:
    mj = _run(base)
    assume(mj is not None)
    m, job = mj
    assume(jobs.memory(m, job).verdict != FITS)
    found = fit.suggestions(m, job)
    order = []
    for s in found:
        new = Job.model_validate({**job.model_dump(), **s.change})
        after = jobs.memory(m, new)
        assert after.verdict == s.verdict != DOES_NOT_FIT, (s.flag, after.verdict)
        assert after.per_gpu_gb == pytest.approx(s.per_gpu_gb)
        assert after.headroom_gb >= 0
        loss = _loss_rank(m, job, s.change)
        order.append(
            (
                fit.VERDICT_RANK[s.verdict],
                loss or 0,
                s.step_time_ratio is None,
                round(s.step_time_ratio or 0.0, 2),
            )
        )
    assert order == sorted(order), [(s.flag, o) for s, o in zip(found, order, strict=True)]
