"""The input-bound verdict and the what-if analysis: pure arithmetic on measured stage times.

In the spirit of DS-Analyzer (Mohan et al., "Analyzing and Mitigating Data Stalls in DNN
Training", VLDB 2021, https://arxiv.org/abs/2007.06775): measure each stage alone, model the
step as the slowest stage when stages overlap (or their sum when they run one after another),
then change one stage at a time and report the predicted gain. Every prediction lists what it
assumed. No torch, psutil or I/O here: `profile.py` measures, this module only computes.

Stages, per batch:
    read_s  = bytes_per_batch / disk rate            (storage; shared by all workers)
    prep1_s = load_s x max(workers, 1) - read_s      (one worker's CPU time to prepare a batch)
    loader(w) = max((prep1_s + read_s) / w, read_s)  (w workers in parallel, one disk)
Loops:
    serial     (no workers, no prefetch):   step = loader + h2d + compute
    async-load (DataLoader workers):        step = max(loader, h2d + compute)
    prefetched (side-stream prefetcher):    step = max(loader, h2d, compute)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum

from dlrig.model.thresholds import (
    CPU_CORES_PER_GPU_MAIN,
    INPUT_BOUND_FRACTION,
    MODERATE_INPUT_BOUND_FRACTION,
    PCIE_TRANSFER_SOURCE,
)

DS_ANALYZER = "Mohan et al., Analyzing and Mitigating Data Stalls in DNN Training, VLDB 2021"
VERDICT_SOURCE = PCIE_TRANSFER_SOURCE
# "Cheaper decode" is a scenario, not a measurement: decoding twice as fast (smaller images, a
# SIMD or GPU decoder). The prediction says so; the user's own speed-up scales it.
DECODE_SPEEDUP = 2.0


class Verdict(StrEnum):
    COMPUTE_BOUND = "compute-bound"
    MODERATELY_INPUT_BOUND = "moderately input-bound"
    INPUT_BOUND = "input-bound"


class Loop(StrEnum):
    SERIAL = "serial"
    ASYNC_LOAD = "async-load"
    PREFETCHED = "prefetched"


def classify(input_fraction: float) -> Verdict:
    """< 5 % of step time waiting on input: compute-bound; 5-20 %: moderately; >= 20 %: input."""
    if input_fraction >= INPUT_BOUND_FRACTION:
        return Verdict.INPUT_BOUND
    if input_fraction >= MODERATE_INPUT_BOUND_FRACTION:
        return Verdict.MODERATELY_INPUT_BOUND
    return Verdict.COMPUTE_BOUND


@dataclass(frozen=True)
class Stages:
    """Seconds per batch of each stage measured alone, how the loop runs, what the box offers."""

    load_s: float  # the loader alone, as configured now
    compute_s: float  # the step alone on a cached batch
    h2d_s: float = 0.0  # host-to-device copy as the loop does it now (0 on CPU)
    h2d_pinned_s: float | None = None  # the same copy from pinned memory
    loop: Loop = Loop.SERIAL
    workers: int = 0
    cores_available: int | None = None
    bytes_per_batch: float | None = None  # read from storage per batch
    disk_read_mbs: float | None = None
    faster_disk_read_mbs: float | None = None  # a candidate disk, for the what-if
    dataset_bytes: float | None = None
    available_ram_bytes: float | None = None
    decode_share: float | None = None  # share of preparation time spent decoding

    @property
    def read_s(self) -> float:
        if not self.bytes_per_batch or not self.disk_read_mbs:
            return 0.0
        return min(self.bytes_per_batch / (self.disk_read_mbs * 1e6), self.load_s)

    @property
    def prep1_s(self) -> float:
        return max(self.load_s * max(self.workers, 1) - self.read_s, 0.0)


@dataclass(frozen=True)
class Prediction:
    fix: str  # prefetch | workers | pinned | cache | faster-disk | decode
    title: str
    applicable: bool
    step_s: float | None = None
    gain: float | None = None  # current step_s / predicted step_s
    assumptions: list[str] = field(default_factory=list)
    reason: str = ""  # why it does not apply

    @property
    def batches_per_s(self) -> float | None:
        return 1.0 / self.step_s if self.step_s else None


def loader_s(prep1_s: float, read_s: float, workers: int) -> float:
    w = max(workers, 1)
    return max((prep1_s + read_s) / w, read_s)


def step_s(loader: float, h2d: float, compute: float, loop: Loop) -> float:
    if loop == Loop.SERIAL:
        return loader + h2d + compute
    if loop == Loop.ASYNC_LOAD:
        return max(loader, h2d + compute)
    return max(loader, h2d, compute)


def model_step_s(s: Stages) -> float:
    """The step time the model predicts for the loop as it runs now."""
    return step_s(loader_s(s.prep1_s, s.read_s, s.workers), s.h2d_s, s.compute_s, s.loop)


def bottleneck(s: Stages, verdict: Verdict | None = None) -> str:
    """The stage to fix: disk, loader (preparation), h2d or compute.

    Without a verdict, the slowest stage measured alone. With the loop's measured verdict, one
    consistent with it: "compute" exactly when the loop is compute-bound, else the slowest input
    stage, even where the stages alone would put compute first (in the loop they contend for
    cores and the GIL; `disagreement` says so).
    """
    times = {
        "disk": s.read_s,
        "loader": loader_s(s.prep1_s, s.read_s, s.workers),
        "h2d": s.h2d_s,
        "compute": s.compute_s,
    }
    if verdict == Verdict.COMPUTE_BOUND:
        return "compute"
    if times["disk"] >= times["loader"] and times["disk"] > 0:
        return "disk"
    stages = ("loader", "h2d") if verdict is not None else ("loader", "h2d", "compute")
    return max(stages, key=lambda k: times[k])


def disagreement(s: Stages, verdict: Verdict) -> str | None:
    """A note when the stages timed alone point elsewhere than the loop's measured verdict."""
    alone = bottleneck(s)
    if verdict == Verdict.COMPUTE_BOUND or alone != "compute":
        return None
    return (
        f"timed alone, compute ({s.compute_s:.4g} s) is the slowest stage, yet the loop waits on "
        f"input ({verdict}): loading and compute slow each other down when they run together "
        "(shared cores, the GIL), so the fix is on the input side"
    )


def _predict(s: Stages, fix: str, title: str, new: Stages, assumed: list[str]) -> Prediction:
    now, then = model_step_s(s), model_step_s(new)
    return Prediction(fix, title, True, then, now / then if then > 0 else None, assumed)


def _skip(fix: str, title: str, reason: str) -> Prediction:
    return Prediction(fix, title, False, reason=reason)


def predict_prefetch(s: Stages) -> Prediction:
    title = "Prefetch (load and copy beside compute)"
    if s.loop == Loop.PREFETCHED:
        return _skip("prefetch", title, "the loop already prefetches")
    pinned = s.h2d_pinned_s if s.h2d_pinned_s is not None else s.h2d_s
    assumed = ["loading releases the GIL or runs in another process, so it overlaps compute"]
    if s.h2d_s > 0 or s.h2d_pinned_s is not None:
        assumed.append("the copy runs from pinned memory on a side stream with a free DMA engine")
    return _predict(s, "prefetch", title, replace(s, loop=Loop.PREFETCHED, h2d_s=pinned), assumed)


def predict_workers(s: Stages) -> Prediction:
    title = "More loader workers"
    if s.cores_available is None:
        return _skip("workers", title, "the number of available CPU cores is unknown")
    w_new = s.cores_available - CPU_CORES_PER_GPU_MAIN
    if w_new <= s.workers:
        return _skip("workers", title, f"{s.workers} worker(s) already use the free cores")
    loop = Loop.ASYNC_LOAD if s.loop == Loop.SERIAL else s.loop
    assumed = [
        f"{w_new} worker(s): {s.cores_available} cores minus {CPU_CORES_PER_GPU_MAIN} for the "
        "training process",
        f"each worker prepares a batch in {s.prep1_s + s.read_s:.4g} s (per-core rate measured "
        "now), scaling linearly: no lock or GIL-bound Python shared between workers",
    ]
    if s.read_s:
        assumed.append(f"never faster than the disk: {s.read_s:.4g} s per batch")
    if s.loop == Loop.SERIAL:
        assumed.append("workers load in the background, as DataLoader(num_workers>0) does")
    new = replace(s, workers=w_new, loop=loop, load_s=loader_s(s.prep1_s, s.read_s, w_new))
    return _predict(s, "workers", title, new, assumed)


def predict_pinned(s: Stages) -> Prediction:
    title = "Pinned host memory"
    if s.h2d_pinned_s is None:
        return _skip("pinned", title, "no host-to-device copy measured (CPU run)")
    if s.h2d_pinned_s >= s.h2d_s:
        return _skip("pinned", title, "the copy is already as fast as from pinned memory")
    assumed = [f"copy time {s.h2d_s:.4g} s -> {s.h2d_pinned_s:.4g} s (measured from pinned)"]
    return _predict(s, "pinned", title, replace(s, h2d_s=s.h2d_pinned_s), assumed)


def predict_storage(s: Stages) -> Prediction:
    """Cache the dataset in RAM if it fits; otherwise a faster disk, if one is named."""
    title = "Cache the dataset in RAM"
    if not s.read_s:
        return _skip("cache", title, "disk read rate or bytes per batch unknown")
    fits = s.dataset_bytes is not None and s.available_ram_bytes is not None
    if fits and s.dataset_bytes <= s.available_ram_bytes:  # type: ignore[operator]
        assumed = [
            f"the dataset ({s.dataset_bytes / 1e9:.3g} GB) fits in available RAM "
            f"({s.available_ram_bytes / 1e9:.3g} GB); reads cost nothing after the first epoch",
        ]
        return _predict(
            s,
            "cache",
            title,
            replace(s, disk_read_mbs=None, load_s=s.prep1_s / max(s.workers, 1)),
            assumed,
        )
    if s.faster_disk_read_mbs:
        title = f"Faster storage ({s.faster_disk_read_mbs:g} MB/s)"
        new_read = s.bytes_per_batch / (s.faster_disk_read_mbs * 1e6)  # type: ignore[operator]
        new = replace(
            s,
            disk_read_mbs=s.faster_disk_read_mbs,
            load_s=(s.prep1_s + new_read) / max(s.workers, 1),
        )
        assumed = [f"reads at {s.faster_disk_read_mbs:g} MB/s instead of {s.disk_read_mbs:g}"]
        return _predict(s, "faster-disk", title, new, assumed)
    if not fits:
        return _skip("cache", title, "dataset size or available RAM unknown")
    return _skip("cache", title, "the dataset does not fit in available RAM")


def predict_decode(s: Stages) -> Prediction:
    title = f"Cheaper decode ({DECODE_SPEEDUP:g}x)"
    if s.prep1_s <= 0:
        return _skip("decode", title, "no preparation time left after the disk read")
    share = 1.0 if s.decode_share is None else s.decode_share
    prep = s.prep1_s * (1 - share + share / DECODE_SPEEDUP)
    assumed = [
        f"decoding is {share:.0%} of preparation"
        + (" (not measured: all of it)" if s.decode_share is None else ""),
        f"a scenario: decode {DECODE_SPEEDUP:g}x cheaper (smaller images, a faster decoder), "
        "not a measured decoder",
    ]
    new = replace(s, load_s=(prep + s.read_s) / max(s.workers, 1))
    return _predict(s, "decode", title, new, assumed)


PREDICTORS = (predict_prefetch, predict_workers, predict_pinned, predict_storage, predict_decode)


def predictions(s: Stages) -> list[Prediction]:
    return [p(s) for p in PREDICTORS]


def top(preds: list[Prediction]) -> Prediction | None:
    """The applicable fix with the largest predicted gain (the first one on a tie)."""
    best = None
    for p in preds:
        if p.applicable and p.gain is not None and (best is None or p.gain > best.gain + 1e-9):
            best = p
    return best


def as_dict(p: Prediction) -> dict[str, object]:
    return {**asdict(p), "batches_per_s": p.batches_per_s}
