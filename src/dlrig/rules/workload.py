"""gpu-memory: does the build's `[workload]` (model and task) fit its GPUs, and if not, the
smallest change that makes it fit. Also derives workload.step_time_s from the estimate.

`dlrig.estimate` is imported inside the functions: it imports `rules.thresholds`, so a
module-level import here would be circular.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dlrig.model import thresholds as t
from dlrig.model.build import Build, GpuGroup
from dlrig.model.finding import Severity, qty
from dlrig.model.workload import Job
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
# The [workload] keys check hands the estimator, under the estimator's option names; the web
# page's estimate reads the same ones (serve/api.py), so it shows what check decides on.
JOB_FIELDS = (
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
    "mlm_positions",
    "offload",
    "master_weights",
    "optimizer_in_backward",
    "grad_buffers",
    "weight_bits",
    "base_quant",
    "kv_dtype",
    "kv_cache",
    "optimizer_dtype",
    "lora_targets",
    "framework",
    "attention",
    "memory_format",
    "engine",
    "gpu_memory_utilization",
    "max_batched_tokens",
    "max_num_seqs",
    "llama_cpp_cublas",
    "trtllm_mmha",
    "vllm_v0",
    "grad_accum",
    "prompt_tokens",
    "gen_tokens",
    "tp",
    "pp",
    "cp",
    "ep",
    "etp",
)


def _smallest_group(build: Build) -> GpuGroup:
    return min(build.gpus, key=lambda g: g.memory_gb)


def _given(build: Build) -> dict[str, Any]:
    w = build.workload
    assert w is not None
    return {f: getattr(w, f) for f in JOB_FIELDS if getattr(w, f) is not None}


def _slot_link(build: Build, group: GpuGroup) -> dict[str, int]:
    """The PCIe link the group's cards really get in this build (the slowest of them: the
    slot's lanes, the board's, CPU's and riser's generation), as `pcie_lanes` / `pcie_gen`
    overrides of the card's spec: offload traffic and GPU-to-GPU traffic over PCIe run at it.
    Nothing when the build does not say how its slots are wired."""
    from dlrig.rules.pcie import ASSUMED_WIDTH, card_links

    links, _, missing = card_links(build)
    mine = [link for link in links if link.card is group and link.lanes > 0]
    if missing or not mine:
        return {}
    # GpuSpec field names as keywords (a quoted "pcie_..." here reads as an efficiencies.csv key).
    out = dict(pcie_gen=min(link.gen for link in mine))
    # A width `card_links` assumed (CPU lanes shared evenly) is not the build's: keep the card's.
    stated = [link.lanes for link in mine if link.how != ASSUMED_WIDTH]
    if len(stated) == len(mine):
        out |= dict(pcie_lanes=min(stated))
    return out


def job_for(build: Build, **changes: Any) -> Job | None:
    """The build's workload as an estimator Job on its smallest GPU, with `changes` applied."""
    w = build.workload
    if w is None or build.model_spec is None or w.task is None or not build.gpus:
        return None
    group = _smallest_group(build)
    gpu = group.spec.model_copy(
        update={"memory_gb": group.memory_gb, "tdp_w": group.power_w} | _slot_link(build, group)
    )
    fields = _given(build)
    if group.host_link_gbs is not None:  # measured by `dlrig probe`: the rate offload moves at
        fields["host_link_gbs"] = group.host_link_gbs
    try:
        return Job(gpu=gpu, n_gpus=build.n_gpus, **(fields | changes))
    except ValidationError as exc:  # e.g. more GPUs in all groups than the estimator models
        raise OutOfRange(_first_problem(exc)) from None


class OutOfRange(ValueError):
    """The build's workload is valid TOML but outside what the estimator models."""


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(x) for x in err["loc"])
    where = "total GPU count" if field == "n_gpus" else f"workload.{field}"
    return f"{where}: {err['msg'].lower()}"


def _derived(build: Build) -> list[str]:
    step = build.estimated_step_time_s
    if step is None:
        return []
    return [f"workload.step_time_s = {fmt(step)} s from the estimate (used by the other rules)"]


def check_memory(build: Build) -> RuleResult:
    try:
        job = job_for(build)
    except OutOfRange as exc:
        return [MEMORY.skip(f"outside the estimator's range: {exc}")]
    if job is None:
        return [MEMORY.skip("needs workload.model and workload.task")]
    from dlrig.errors import DlrigError
    from dlrig.estimate.applicable import inapplicable
    from dlrig.estimate.job import memory

    m = build.model_spec
    assert m is not None
    problems = inapplicable(m, job, given=_given(build))
    if problems:
        # The same rule (and wording) as `dlrig estimate` and `dlrig recommend`.
        message = "; ".join(f"workload.{pr.text('toml')}" for pr in problems)
        fix = "Remove the option or change workload.task to one it applies to."
        return [MEMORY.finding(Severity.ERROR, message, fix, {}, [])]
    try:
        est = memory(m, job)
    except DlrigError as exc:  # a parallel plan the job cannot run
        return [MEMORY.finding(Severity.ERROR, f"workload: {exc}", "", {}, [])]
    numbers = {
        "per_gpu_gb": qty(est.per_gpu_gb, "GB"),
        "capacity_gb": qty(est.capacity_gb, "GB"),
        "headroom_gb": qty(est.headroom_gb, "GB"),
    }
    named = [
        ("weights", est.weights_gb),
        ("gradients", est.gradients_gb),
        ("optimizer", est.optimizer_gb),
        ("activations", est.activations_gb),
        ("logits", est.logits_gb),
        ("KV cache", est.kv_cache_gb),
        ("overhead", est.overhead_gb),
    ]
    if est.engine_buffers_gb:  # llama.cpp's compute buffer, transformers' copy of its cache
        named.append(("engine buffers", est.engine_buffers_gb))
    parts = ", ".join(f"{what} {fmt(gb)}" for what, gb in named) + " GB"
    if est.peak_at == "load":
        # The base's quantisation while loading peaks above the step (estimate/load_peak.py).
        parts = (
            f"at load time, while the base is quantised on the GPU: {est.load_path}; the "
            f"training step itself needs {fmt(est.nvidia_smi_gb)} GB: {parts}"
        )
    what = f"{m.name} {job.task.value} on {job.n_gpus} x {job.gpu.name}"
    spread = f" ± {est.per_gpu_interval.frac:.0%}" if est.per_gpu_interval else ""
    if est.verdict != "fits":
        from dlrig.estimate.fit import MAX_GPUS_SUGGESTED, fixes, model_states_gb

        found = fixes(m, job, style="toml")
        if found:
            fix = f"Smallest change that fits, in [workload]: {found[0]}."
            if len(found) > 1:
                fix += " Also fits: " + "; ".join(found[1:]) + "."
        else:
            fix = (
                f"No change of settings fits on up to {MAX_GPUS_SUGGESTED} of these GPUs: the "
                f"model states alone are about {fmt(model_states_gb(m, job))} GB before "
                "sharding. Use GPUs with more memory, a multi-node cluster with ZeRO-3/FSDP, or "
                "a smaller model."
            )
        if est.verdict == "tight":
            iv = est.per_gpu_interval
            top = f", up to {fmt(iv.high)} GB" if iv and iv.high else ""
            message = (
                f"{what} is tight: needs {fmt(est.per_gpu_gb)} GB{spread} per GPU as nvidia-smi "
                f"shows it ({parts}){top} within the estimator's error; the GPU has "
                f"{fmt(est.capacity_gb)} GB."
            )
            return [MEMORY.finding(Severity.WARNING, message, fix, numbers, _derived(build))]
        message = (
            f"{what} needs {fmt(est.per_gpu_gb)} GB{spread} per GPU ({parts}); the GPU has "
            f"{fmt(est.capacity_gb)} GB."
        )
        return [MEMORY.finding(Severity.ERROR, message, fix, numbers, _derived(build))]
    share = est.headroom_gb / est.capacity_gb
    message = (
        f"{what} needs {fmt(est.per_gpu_gb)} GB{spread} of {fmt(est.capacity_gb)} GB per GPU "
        f"({parts}); {fmt(est.headroom_gb)} GB ({share:.0%}) headroom, more than the "
        "estimator's error."
    )
    return [MEMORY.finding(Severity.OK, message, "", numbers, _derived(build))]


def with_estimated_step_time(build: Build) -> Build:
    """Fill workload.step_time_s from the estimate when the build names a model but no time."""
    w = build.workload
    try:
        job = job_for(build)
    except OutOfRange:
        return build
    if w is None or job is None or w.step_time_s is not None:
        return build
    from dlrig.errors import DlrigError
    from dlrig.estimate.applicable import inapplicable
    from dlrig.estimate.job import throughput

    assert build.model_spec is not None
    if inapplicable(build.model_spec, job, given=_given(build)):
        return build  # check_memory reports it
    try:
        step = throughput(build.model_spec, job).step_time_s
    except DlrigError:
        return build
    workload = w.model_copy(update={"step_time_s": step})
    return build.model_copy(update={"workload": workload, "estimated_step_time_s": step})
