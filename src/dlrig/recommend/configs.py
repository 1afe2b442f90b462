"""Each buyable GPU at each count: does the workload fit, with which settings, how fast.

The estimator decides. When the user's settings do not fit, the recommender may turn on the
memory savers that leave the job itself unchanged: activation checkpointing, a chunked loss and
ZeRO sharding across several GPUs (never a different task, quantisation or batch the user did
not ask for). Of the settings that fit it keeps the fastest.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

from pydantic import ValidationError

from dlrig.errors import DlrigError
from dlrig.estimate import data_rate
from dlrig.estimate import fit as fitting
from dlrig.estimate import job as jobs
from dlrig.model.estimate import FITS, TIGHT, DataRateEstimate, Interval, MemoryEstimate
from dlrig.model.parts import GpuSpec
from dlrig.model.workload import Job, ModelSpec, Task
from dlrig.recommend.request import Request

# Settings the recommender may change on its own: they cost speed, which the estimator prices
# in, but train the same model on the same data to the same result.
ADAPTABLE_SETTINGS = frozenset({"checkpointing", "loss", "zero"})


@dataclass(frozen=True)
class GpuConfig:
    """`n` cards of one GPU model running the workload with `settings` (or not fitting)."""

    gpu: GpuSpec
    n: int
    fits: bool
    settings: dict[str, Any]
    throughput: float
    per_gpu_gb: float
    batch_size: int
    data: DataRateEstimate | None
    reason: str | None = None
    tokens_per_sample: int | None = None
    # Fits even at the top of the estimator's memory interval (not just "tight").
    roomy: bool = False
    # The rate's interval (the fitted group's LOSO p80); None: the group has none.
    throughput_interval: Interval | None = None


def throughput_unit(m: ModelSpec) -> str:
    return "tokens/s" if m.is_language_model else "samples/s"


def _rate(m: ModelSpec, job: Job) -> tuple[float, DataRateEstimate, Interval | None]:
    tp = jobs.throughput(m, job)
    rate = tp.tokens_per_s if m.is_language_model else tp.samples_per_s
    return rate or 0.0, data_rate.rate(m, job, tp.tokens_per_s, tp.samples_per_s), tp.interval


def _adaptations(m: ModelSpec, job: Job, fixed: frozenset[str]) -> list[dict[str, Any]]:
    """The base settings, then every combination (up to three) of allowed memory savers; for
    inference on several GPUs also tensor parallelism across all of them, which reads each GPU's
    share of the weights per token instead of letting the GPUs take turns layer by layer (with
    no engine named, priced as the median of the engines that run it, its interval spanning
    theirs: estimate/engine_spread.py). Settings the user gave (`fixed`) stay as given."""
    pool = [c.change for c in fitting.candidates(m, job) if set(c.change) <= ADAPTABLE_SETTINGS]
    out: list[dict[str, Any]] = [{}]
    # (a model that generates nothing runs a batch on every GPU)
    if job.task == Task.INFER and job.n_gpus > 1 and "tp" not in fixed and m.generates:
        out.append({"tp": job.n_gpus})
    for size in range(1, fitting.MAX_COMBINED_FIXES + 1):
        for combo in combinations(pool, size):
            keys = [k for change in combo for k in change]
            if len(keys) == len(set(keys)):  # not two ZeRO stages at once
                out.append({k: v for change in combo for k, v in change.items()})
    return out


def usable(need: MemoryEstimate) -> bool:
    """Proposed only when it fits even at the interval's top, or is tight but fits at the
    central estimate (then ranked below every roomy setting)."""
    return need.verdict == FITS or (need.verdict == TIGHT and need.headroom_gb >= 0)


def configure(m: ModelSpec, gpu: GpuSpec, n: int, req: Request) -> GpuConfig:
    try:
        base = Job(gpu=gpu, n_gpus=n, task=req.task, **req.job)
    except ValidationError as exc:
        return GpuConfig(gpu, n, False, {}, 0.0, 0.0, 0, None, str(exc.errors()[0]["msg"]))
    best: GpuConfig | None = None
    best_roomy = False
    smallest_gb = float("inf")
    for change in _adaptations(m, base, frozenset(req.job)):
        job = base.model_copy(update=change)
        try:
            need = jobs.memory(m, job)
        except DlrigError as exc:  # e.g. a parallel plan this GPU count cannot run
            if not change:
                return GpuConfig(gpu, n, False, {}, 0.0, 0.0, 0, None, str(exc))
            continue  # e.g. a tensor-parallel degree that does not divide the heads
        smallest_gb = min(smallest_gb, need.per_gpu_gb)
        if not usable(need):
            continue
        rate, data, interval = _rate(m, job)
        roomy = need.verdict == FITS
        # Settings that fit even at the estimator's error beat faster ones that are tight.
        if best is None or (roomy, rate) > (best_roomy, best.throughput):
            best_roomy = roomy
            b = jobs.batch_size(m, job)
            tokens = jobs.tokens_per_sample(m, job) if m.is_language_model else None
            best = GpuConfig(
                gpu, n, True, change, rate, need.per_gpu_gb, b, data, None, tokens, roomy, interval
            )
    if best is not None:
        return best
    capacity = jobs.memory(m, base).capacity_gb
    reason = (
        f"needs {smallest_gb:.1f} GB per GPU even with checkpointing, a chunked loss and "
        f"ZeRO; {gpu.name} has {capacity:.1f} GB"
        if req.task != Task.INFER
        else f"needs {smallest_gb:.1f} GB per GPU; {gpu.name} has {capacity:.1f} GB"
    )
    if smallest_gb <= capacity:
        reason += " (within the estimator's error: too tight to propose)"
    return GpuConfig(gpu, n, False, {}, 0.0, smallest_gb, 0, None, reason)


def configure_all(m: ModelSpec, gpus: list[GpuSpec], req: Request) -> list[GpuConfig]:
    """Every GPU at 1 … max_gpus cards (more cards only when fewer do not fit or are slower)."""
    return [configure(m, gpu, n, req) for gpu in gpus for n in range(1, req.max_gpus + 1)]
