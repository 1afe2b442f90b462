"""gpu-memory: does the build's `[workload]` (model and task) fit its GPUs, and if not, the
smallest change that makes it fit. Also derives workload.step_time_s from the estimate.

`dlrig.estimate` is imported inside the functions: it imports `rules.thresholds`, so a
module-level import here would be circular.
"""

from __future__ import annotations

from typing import Any

from dlrig.model.build import Build, GpuGroup
from dlrig.model.finding import Severity, qty
from dlrig.model.workload import Job
from dlrig.rules import thresholds as t
from dlrig.rules.base import RuleInfo, RuleResult, fmt

MEMORY = RuleInfo(
    id="gpu-memory",
    section="gpu",
    title="Workload fits in GPU memory",
    why=(
        "A job that does not fit in GPU memory does not run at all; one that barely fits fails "
        "on the first long batch or fragments the allocator. Memory decides the GPU before speed."
    ),
    source=t.GPU_MEMORY_SOURCE,
)
# Largest GPU count the "more GPUs" fix searches.
MAX_GPUS_SUGGESTED = 64
_JOB_FIELDS = (
    "task",
    "precision",
    "quant",
    "optimizer",
    "zero",
    "checkpointing",
    "lora_rank",
    "seq_len",
    "context",
    "batch_size",
    "loss",
    "offload",
    "master_weights",
    "optimizer_in_backward",
)
# Fixes are tried alone, then in pairs, then in threes, cheapest first.
MAX_COMBINED_FIXES = 3


def _smallest_group(build: Build) -> GpuGroup:
    return min(build.gpus, key=lambda g: g.memory_gb)


def job_for(build: Build, **changes: Any) -> Job | None:
    """The build's workload as an estimator Job on its smallest GPU, with `changes` applied."""
    w = build.workload
    if w is None or build.model_spec is None or w.task is None or not build.gpus:
        return None
    group = _smallest_group(build)
    gpu = group.spec.model_copy(update={"memory_gb": group.memory_gb, "tdp_w": group.power_w})
    fields = {f: getattr(w, f) for f in _JOB_FIELDS if getattr(w, f) is not None}
    return Job(gpu=gpu, n_gpus=build.n_gpus, **(fields | changes))


def _candidates(job: Job) -> list[tuple[str, dict[str, Any]]]:
    """Single changes that save memory, cheapest first, each as the [workload] line to write."""
    out: list[tuple[str, dict[str, Any]]] = []
    training = job.task != "infer"
    if training and not job.checkpointing:
        out.append(("checkpointing = true", {"checkpointing": True}))
    if training and job.loss == "standard":
        out.append(('loss = "chunked" (torchtune, or Liger\'s fused loss)', {"loss": "chunked"}))
    if training and (job.batch_size or 1) > 1:
        out.append(("batch_size = 1 with gradient accumulation", {"batch_size": 1}))
    if training and job.n_gpus > 1:
        out += [(f"zero = {z}", {"zero": z}) for z in range(job.zero + 1, 4)]
    if job.task == "infer":
        out += [
            (f'quant = "{q}"', {"quant": q})
            for q in ("int8", "int4")
            if q != job.quant and not (q == "int8" and job.quant == "int4")
        ]
        if (job.batch_size or 1) > 1:
            out.append(("batch_size = 1 (fewer sequences at once)", {"batch_size": 1}))
    if job.task == "lora":
        out.append(('task = "qlora" (4-bit base weights)', {"task": "qlora"}))
    if job.task == "train" and job.offload == "none":
        out.append(('offload = "optimizer" (states in CPU memory)', {"offload": "optimizer"}))
    return out


def _combos(candidates: list[tuple[str, dict[str, Any]]], size: int):
    """(text, change) for every set of `size` candidates, cheapest first."""
    from itertools import combinations

    for combo in combinations(candidates, size):
        change: dict[str, Any] = {}
        for _, c in combo:
            change |= c
        yield " and ".join(text for text, _ in combo), change


def _fixes(build: Build, job: Job) -> list[str]:
    """The cheapest sets of changes that make the job fit: single ones first, then pairs…;
    failing all, the fewest GPUs that fit (sharded with ZeRO-3, alone or with a change)."""
    from dlrig.estimate.job import memory

    m = build.model_spec
    assert m is not None
    candidates = _candidates(job)

    def fits(change: dict[str, Any]) -> bool:
        return memory(m, job.model_copy(update=change)).fits

    for size in range(1, MAX_COMBINED_FIXES + 1):
        found = [text for text, change in _combos(candidates, size) if fits(change)]
        if found:
            return found[:3]
    more = {"zero": 3} if job.task != "infer" else {}
    shard = " with zero = 3 (FSDP)" if more else " (weights split across them)"
    for n in range(job.n_gpus + 1, MAX_GPUS_SUGGESTED + 1):
        for size in range(MAX_COMBINED_FIXES):
            for text, change in _combos(candidates, size):
                if fits({"n_gpus": n, **more, **change}):
                    return [f"{n} GPUs{shard}" + (f" and {text}" if text else "")]
    return []


def _derived(build: Build) -> list[str]:
    step = build.estimated_step_time_s
    if step is None:
        return []
    return [f"workload.step_time_s = {fmt(step)} s from the estimate (used by the other rules)"]


def check_memory(build: Build) -> RuleResult:
    job = job_for(build)
    if job is None:
        return [MEMORY.skip("needs workload.model and workload.task")]
    from dlrig.estimate.job import memory

    m = build.model_spec
    assert m is not None
    est = memory(m, job)
    numbers = {
        "per_gpu_gb": qty(est.per_gpu_gb, "GB"),
        "capacity_gb": qty(est.capacity_gb, "GB"),
        "headroom_gb": qty(est.headroom_gb, "GB"),
    }
    parts = (
        f"weights {fmt(est.weights_gb)}, gradients {fmt(est.gradients_gb)}, optimizer "
        f"{fmt(est.optimizer_gb)}, activations {fmt(est.activations_gb)}, KV cache "
        f"{fmt(est.kv_cache_gb)}, overhead {fmt(est.overhead_gb)} GB"
    )
    what = f"{m.name} {job.task.value} on {job.n_gpus} x {job.gpu.name}"
    if not est.fits:
        fixes = _fixes(build, job)
        if fixes:
            fix = f"Smallest change that fits, in [workload]: {fixes[0]}."
            if len(fixes) > 1:
                fix += " Also fits: " + "; ".join(fixes[1:]) + "."
        else:
            whole = memory(m, job.model_copy(update={"n_gpus": 1, "zero": 0}))
            states_gb = whole.weights_gb + whole.gradients_gb + whole.optimizer_gb
            fix = (
                f"No change of settings fits on up to {MAX_GPUS_SUGGESTED} of these GPUs: the "
                f"model states alone are about {fmt(states_gb)} GB before sharding. Use GPUs "
                "with more memory, a multi-node cluster with ZeRO-3/FSDP, or a smaller model."
            )
        message = (
            f"{what} needs {fmt(est.per_gpu_gb)} GB per GPU ({parts}); the GPU has "
            f"{fmt(est.capacity_gb)} GB."
        )
        return [MEMORY.finding(Severity.ERROR, message, fix, numbers, _derived(build))]
    share = est.headroom_gb / est.capacity_gb
    severity = Severity.WARNING if share < t.GPU_MEMORY_TIGHT_FRACTION else Severity.OK
    message = (
        f"{what} needs {fmt(est.per_gpu_gb)} of {fmt(est.capacity_gb)} GB per GPU ({parts}); "
        f"{fmt(est.headroom_gb)} GB ({share:.0%}) headroom."
    )
    fix = (
        "Little headroom: longer sequences or a larger batch will not fit; keep checkpointing "
        "or a smaller micro-batch at hand."
        if severity == Severity.WARNING
        else ""
    )
    return [MEMORY.finding(severity, message, fix, numbers, _derived(build))]


def with_estimated_step_time(build: Build) -> Build:
    """Fill workload.step_time_s from the estimate when the build names a model but no time."""
    w = build.workload
    job = job_for(build)
    if w is None or job is None or w.step_time_s is not None:
        return build
    from dlrig.estimate.job import throughput

    assert build.model_spec is not None
    step = throughput(build.model_spec, job).step_time_s
    workload = w.model_copy(update={"step_time_s": step})
    return build.model_copy(update={"workload": workload, "estimated_step_time_s": step})
