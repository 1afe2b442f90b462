"""`dlrig pipeline bench`: a synthetic pipeline with known load and compute times.

Measures the plain loop, the prefetched loop and the ideal 1 / max(load, compute); profiles
the plain loop; then applies each fix the profiler predicts a gain for and measures it, so
every prediction is checked against a run with that change made.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dlrig.model.thresholds import CPU_CORES_PER_GPU_MAIN
from dlrig.pipeline.prefetch import Prefetcher, parse_device
from dlrig.pipeline.profile import BatchMover, profile
from dlrig.pipeline.result import PipelineReport
from dlrig.pipeline.synthetic import BYTES_PER_MB, SyntheticLoader, SyntheticStep
from dlrig.pipeline.whatif import DECODE_SPEEDUP

SCHEMA = "dlrig.pipeline.bench/1"
WARMUP_STEPS = 2
MS_PER_S = 1e3

# The one place for the bench's limits. The bench sleeps for real and allocates every batch: a
# run lasts about steps x max(load, compute) and the bench makes up to six runs, so past these a
# value is a typo (inf, 1e300) that would overflow time.sleep, exhaust memory or never finish.
MAX_STAGE_MS = 60_000.0  # load, compute, read: a minute per batch is far beyond any real stage
MAX_STEPS = 100_000  # measured steps per run
MAX_DEPTH = 64  # batches the prefetcher holds at once
MAX_WORKERS = 256  # loader threads, each with PREFETCH_FACTOR batches in flight
MAX_CORES = 4096  # the what-if starts cores - CPU_CORES_PER_GPU_MAIN loader threads
MAX_BATCH_MB = 1024.0  # one batch, allocated afresh for every batch in flight


def flag(name: str) -> str:
    """The `dlrig pipeline bench` flag for a `BenchParams` field: load_ms -> --load-ms."""
    return "--" + name.replace("_", "-")


def _shown(value: object) -> str:
    """A value as the user likely typed it: 5 not 5.0, nan, inf; anything odd as its repr."""
    if isinstance(value, float) and (not math.isfinite(value) or float(f"{value:g}") == value):
        return f"{value:g}"
    return repr(value)


def _check_number(name: str, value: object, high: float, unit: str) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not (ok and 0 <= value <= high):  # type: ignore[operator]  # False for nan too
        raise ValueError(
            f"{flag(name)}: expected a number of {unit} from 0 to {high:g}, got {_shown(value)}"
        )


def _check_int(name: str, value: object, low: int, high: int) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not (ok and low <= value <= high):  # type: ignore[operator]
        raise ValueError(
            f"{flag(name)}: expected a whole number from {low} to {high}, got {_shown(value)}"
        )


@dataclass(frozen=True)
class BenchParams:
    """One bench run; each field is the `dlrig pipeline bench` flag of the same name."""

    load_ms: float = 20.0
    compute_ms: float = 30.0
    read_ms: float = 0.0  # part of load_ms spent reading storage (the cache what-if)
    steps: int = 100
    depth: int = 2
    workers: int = 0
    batch_mb: float = 1.0
    device: str = "cpu"
    cores: int | None = None  # cores the loader may use; the machine's otherwise

    def validate(self) -> BenchParams:
        """These params with the device parsed; ValueError naming the flag if one is out of
        bounds (the limits are the MAX_* constants above)."""
        for name in ("load_ms", "compute_ms", "read_ms"):
            _check_number(name, getattr(self, name), MAX_STAGE_MS, "milliseconds")
        _check_number("batch_mb", self.batch_mb, MAX_BATCH_MB, "MB")
        if self.read_ms > self.load_ms:
            raise ValueError(
                f"{flag('read_ms')} ({_shown(self.read_ms)}) cannot exceed {flag('load_ms')}"
                f" ({_shown(self.load_ms)}): reading storage is part of loading"
            )
        _check_int("steps", self.steps, 1, MAX_STEPS)
        _check_int("depth", self.depth, 1, MAX_DEPTH)
        _check_int("workers", self.workers, 0, MAX_WORKERS)
        if self.cores is not None:
            _check_int("cores", self.cores, 1, MAX_CORES)
        return dataclasses.replace(self, device=parse_device(self.device))


@dataclass(frozen=True)
class Check:
    """A prediction set against a run with that change applied."""

    fix: str
    title: str
    predicted_step_s: float
    measured_step_s: float

    @property
    def error(self) -> float:
        """Predicted steps/s over measured, minus 1: +0.05 means 5 % too optimistic."""
        return self.measured_step_s / self.predicted_step_s - 1.0


@dataclass
class BenchResult:
    params: BenchParams
    plain_step_s: float
    prefetched_step_s: float
    profile: PipelineReport
    checks: list[Check] = field(default_factory=list)

    @property
    def ideal_step_s(self) -> float:
        return max(self.params.load_ms, self.params.compute_ms) / MS_PER_S

    @property
    def serial_step_s(self) -> float:
        return (self.params.load_ms + self.params.compute_ms) / MS_PER_S

    def ratios(self) -> dict[str, float]:
        """Throughput ratios (higher is better; 1.0 is the target each is compared with)."""
        return {
            "prefetched_vs_ideal": _ratio(self.ideal_step_s, self.prefetched_step_s),
            "plain_vs_serial": _ratio(self.serial_step_s, self.plain_step_s),
            "prefetched_vs_plain": _ratio(self.plain_step_s, self.prefetched_step_s),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "params": dataclasses.asdict(self.params),
            "steps_per_s": {
                "plain": 1 / self.plain_step_s,
                "prefetched": 1 / self.prefetched_step_s,
                "ideal": 1 / self.ideal_step_s if self.ideal_step_s else None,
            },
            "ratios": self.ratios(),
            "profile": self.profile.to_dict(),
            "checks": [{**dataclasses.asdict(c), "error": c.error} for c in self.checks],
        }


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def timed_loop(batches: Iterable[Any], step: Callable[[Any], Any], mover: BatchMover) -> float:
    """Seconds per step of `for b in batches: step(b)`, fetches included, after a warm-up."""
    it = iter(batches)
    clock = mover.clock()
    for _, batch in zip(range(WARMUP_STEPS), it, strict=False):
        step(mover.move(batch))
    clock.sync()
    count, start = 0, time.perf_counter()
    for batch in it:
        step(mover.move(batch))
        count += 1
    clock.sync()
    elapsed = time.perf_counter() - start
    close = getattr(it, "close", None)
    if callable(close):
        close()
    if count == 0:
        raise ValueError(f"fewer than {WARMUP_STEPS + 1} batches: nothing left to time")
    return elapsed / count


def _loader(p: BenchParams, **change: Any) -> SyntheticLoader:
    fields = {
        "steps": p.steps + WARMUP_STEPS,
        "load_s": p.load_ms / MS_PER_S,
        "read_s": p.read_ms / MS_PER_S,
        "workers": p.workers,
        "batch_bytes": int(p.batch_mb * BYTES_PER_MB),
        "device": p.device,
    }
    return SyntheticLoader(**{**fields, **change})


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _available_ram_bytes() -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    return float(psutil.virtual_memory().available)


def _changed(p: BenchParams, fix: str, report: PipelineReport) -> dict[str, Any] | None:
    """The loader and loop for a run with `fix` applied (None: the bench cannot apply it)."""
    s = report.stages
    assert s is not None
    load_s, read_s = p.load_ms / MS_PER_S, p.read_ms / MS_PER_S
    if fix == "prefetch":
        return {"prefetch": True}
    if fix == "workers":  # the worker count predict_workers assumed
        workers = s.cores_available - CPU_CORES_PER_GPU_MAIN  # type: ignore[operator]
        return {"loader": {"workers": workers}}
    if fix == "pinned":
        return {"loader": {"pinned": True}}
    if fix == "cache":
        return {"loader": {"read_s": 0.0, "load_s": load_s - read_s}}
    if fix == "decode":
        return {"loader": {"load_s": read_s + (load_s - read_s) / DECODE_SPEEDUP}}
    return None


def run_bench(params: BenchParams) -> BenchResult:
    p = params.validate()
    mover = BatchMover(p.device)
    step = SyntheticStep(p.compute_ms / MS_PER_S, p.device)
    batch_bytes = int(p.batch_mb * BYTES_PER_MB)
    read_s = p.read_ms / MS_PER_S
    cores = p.cores if p.cores is not None else _available_cores()
    report = profile(
        _loader(p),
        step,
        steps=p.steps,
        device=p.device,
        warmup_steps=WARMUP_STEPS,
        cores_available=cores,
        bytes_per_batch=batch_bytes if read_s else None,
        disk_read_mbs=batch_bytes / read_s / BYTES_PER_MB if read_s else None,
        dataset_bytes=batch_bytes * p.steps,
        available_ram_bytes=_available_ram_bytes(),
    )
    prefetched_s = timed_loop(Prefetcher(_loader(p), p.device, p.depth), step, mover)
    result = BenchResult(p, report.step_s, prefetched_s, report)
    for pred in report.predictions:
        change = _changed(p, pred.fix, report) if pred.applicable else None
        if change is None or pred.step_s is None:
            continue
        if change.get("prefetch"):
            measured = prefetched_s
        else:
            measured = timed_loop(_loader(p, **change["loader"]), step, mover)
        result.checks.append(Check(pred.fix, pred.title, pred.step_s, measured))
    return result
