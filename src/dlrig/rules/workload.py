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
)


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


def _fixes(build: Build, job: Job) -> list[str]:
    """Single changes, cheapest first, that make the job fit."""
    from dlrig.estimate.job import memory

    m = build.model_spec
    assert m is not None
    candidates: list[tuple[str, dict[str, Any]]] = []
    if job.task != "infer" and not job.checkpointing:
        candidates.append(("turn on activation checkpointing", {"checkpointing": True}))
    if (job.batch_size or 1) > 1:
        candidates.append(("use micro-batch 1 with gradient accumulation", {"batch_size": 1}))
    if job.task != "infer" and job.n_gpus > 1:
        candidates += [(f"use ZeRO stage {z}", {"zero": z}) for z in range(job.zero + 1, 4)]
    if job.task == "infer":
        candidates += [
            (f"quantise weights to {q}", {"quant": q})
            for q in ("int8", "int4")
            if q != job.quant and not (q == "int8" and job.quant == "int4")
        ]
    if job.task == "lora":
        candidates.append(("use QLoRA (4-bit base weights)", {"task": "qlora"}))
    out = []
    for text, change in candidates:
        if memory(m, job.model_copy(update=change)).fits:
            out.append(text)
    more = {"zero": 3} if job.task != "infer" else {}
    for n in range(job.n_gpus + 1, MAX_GPUS_SUGGESTED + 1):
        if memory(m, job.model_copy(update={"n_gpus": n, **more})).fits:
            shard = " with ZeRO-3/FSDP" if more else " (weights split across them)"
            out.append(f"use {n} GPUs{shard}")
            break
    return out


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
        fix = (
            "Smallest change that fits: " + fixes[0] + "."
            if fixes
            else "No single change fits: use a GPU with more memory."
        )
        if len(fixes) > 1:
            fix += " Also fits: " + "; ".join(fixes[1:]) + "."
        message = (
            f"{what} needs {fmt(est.per_gpu_gb)} GB per GPU ({parts}); the GPU has "
            f"{fmt(est.capacity_gb)} GB."
        )
        return [MEMORY.finding(Severity.ERROR, message, fix, numbers)]
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
    return [MEMORY.finding(severity, message, fix, numbers)]


def with_estimated_step_time(build: Build) -> Build:
    """Fill workload.step_time_s from the estimate when the build names a model but no time."""
    w = build.workload
    job = job_for(build)
    if w is None or job is None or w.step_time_s is not None:
        return build
    from dlrig.estimate.job import throughput

    assert build.model_spec is not None
    step = throughput(build.model_spec, job).step_time_s
    return build.model_copy(update={"workload": w.model_copy(update={"step_time_s": step})})
