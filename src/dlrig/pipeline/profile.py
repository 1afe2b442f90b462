"""`profile(loader, step_fn)`: how much of each step waits on input, and what would fix it.

Thin measuring around the pure model in `whatif.py`:

1. the training loop as it is: time blocked in `next(loader)` (host clock), host-to-device copy
   and `step_fn` (CUDA events on a GPU, wall clock on the CPU), GPU utilisation sampled through
   NVML when available;
2. each stage alone, as DS-Analyzer does: the loader without the step, the step on one cached
   batch, and on a GPU the copy from pageable and from pinned memory;
3. the verdict (share of step time on input) and the predicted gain of each fix.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

from dlrig.pipeline.clock import CudaClock, WallClock
from dlrig.pipeline.gpu_util import UtilizationFn, UtilizationSampler, nvml_utilization_fn
from dlrig.pipeline.prefetch import Prefetcher, parse_device
from dlrig.pipeline.result import PipelineReport
from dlrig.pipeline.tree import leaves, map_leaves
from dlrig.pipeline.whatif import (
    Loop,
    Stages,
    bottleneck,
    classify,
    disagreement,
    model_step_s,
    predictions,
)

WARMUP_STEPS = 3  # first steps excluded: worker start-up, allocator and cuDNN warm-up
MAX_STAGE_STEPS = 50  # steps per stage-alone measurement
MIN_STAGE_STEPS = 5  # fewest steps per stage-alone measurement, however short the run
WAIT_PERCENTILE = 0.95  # the tail of the waits reported beside their mean (wait_p95_s)


def default_device() -> str:
    """'cuda' when PyTorch is installed and sees a GPU, else 'cpu'."""
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_positive(name: str, value: object, *, zero: bool = False) -> None:
    """None, or a finite number above 0 (at least 0 with `zero`): a rate, a size, a count."""
    if value is None:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero):
        bound = ">= 0" if zero else "> 0"
        raise ValueError(f"{name} must be None or a finite number {bound}, got {value!r}")


def _check_arguments(
    loader: object,
    step_fn: object,
    utilization_fn: object,
    cores: object,
    share: object,
    numbers: dict[str, object],
) -> None:
    """profile()'s arguments, checked before anything runs: one ValueError naming the first
    wrong one (negative cores or sizes, NaN rates and shares above 1 gave nonsense what-ifs)."""
    if not hasattr(loader, "__iter__"):
        raise ValueError(f"loader must be iterable, got {type(loader).__name__}")
    if not callable(step_fn):
        raise ValueError(f"step_fn must be callable, got {type(step_fn).__name__}")
    if utilization_fn is not None and not callable(utilization_fn):
        raise ValueError(f"utilization_fn must be callable, got {type(utilization_fn).__name__}")
    if cores is not None:
        _check_count("cores_available", cores, 1)
    _check_positive("decode_share", share, zero=True)
    if share is not None and share > 1:  # type: ignore[operator]
        raise ValueError(f"decode_share must be a fraction between 0 and 1, got {share!r}")
    for name, value in numbers.items():
        _check_positive(name, value)


def detect_loop(loader: object) -> tuple[Loop, int]:
    """(how the loop overlaps loading, loader workers), from the loader's type and num_workers."""
    workers = getattr(loader, "num_workers", 0)
    workers = workers if isinstance(workers, int) and not isinstance(workers, bool) else 0
    if isinstance(loader, Prefetcher):
        return Loop.PREFETCHED, workers
    return (Loop.ASYNC_LOAD if workers > 0 else Loop.SERIAL), workers


class BatchMover:
    """Copies a batch's CPU tensors to the device the way a plain loop does (`.to(device)`)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.torch: Any = None
        if device != "cpu":
            from dlrig.pipeline.cuda import import_torch

            self.torch = import_torch()
            if not self.torch.cuda.is_available():
                raise ValueError(f"device={device!r} but torch.cuda.is_available() is False")

    def clock(self) -> WallClock | CudaClock:
        return WallClock() if self.torch is None else CudaClock(self.torch, self.device)

    def _is_host_tensor(self, leaf: Any) -> bool:
        return isinstance(leaf, self.torch.Tensor) and leaf.device.type == "cpu"

    def move(self, batch: Any, *, pinned: bool = False) -> Any:
        if self.torch is None:
            return batch

        def to(leaf: Any) -> Any:
            if not self._is_host_tensor(leaf):
                return leaf
            return leaf.to(self.device, non_blocking=pinned)

        return map_leaves(to, batch)

    def pin(self, batch: Any) -> Any:
        return map_leaves(lambda t: t.pin_memory() if self._is_host_tensor(t) else t, batch)

    def has_host_tensors(self, batch: Any) -> bool:
        return self.torch is not None and any(self._is_host_tensor(t) for t in leaves(batch))


def _time_loader(loader: Iterable[Any], n: int) -> float | None:
    """Seconds per batch of the loader alone (None when it cannot be iterated again)."""
    it = iter(loader)
    if it is loader:  # a one-shot iterator, already consumed by the loop
        return None
    start, count = time.perf_counter(), 0  # bound even when the second pass yields nothing
    try:
        next(it)  # start-up (workers, threads) is not a per-batch cost
        start = time.perf_counter()
        for _ in range(n):
            next(it)
            count += 1
    except StopIteration:
        pass
    finally:
        close = getattr(it, "close", None)
        if callable(close):
            close()
    return (time.perf_counter() - start) / count if count else None


def _time_repeat(fn: Callable[[], Any], clock: WallClock | CudaClock, n: int) -> float:
    fn()
    clock.sync()
    a = clock.mark()
    for _ in range(n):
        fn()
    b = clock.mark()
    clock.sync()
    return clock.seconds(a, b) / n


def _util_fn(device: str, utilization_fn: UtilizationFn | None) -> tuple[Any, str, Any]:
    if utilization_fn is not None:
        return utilization_fn, "", lambda: None
    if device == "cpu":
        return None, "unavailable: CPU run", lambda: None
    index = int(device.partition(":")[2] or 0)
    return nvml_utilization_fn(index, cuda_uuid=_cuda_uuid(device))


def _cuda_uuid(device: str) -> str | None:
    """The CUDA device's UUID, to find its NVML row whatever CUDA_VISIBLE_DEVICES says."""
    try:
        import torch

        index = int(device.partition(":")[2]) if ":" in device else torch.cuda.current_device()
        return str(torch.cuda.get_device_properties(index).uuid)
    except (ImportError, AttributeError, RuntimeError, AssertionError, ValueError):
        # no torch, no CUDA, a bad index, or an old torch without .uuid: fall back to the index
        return None


def profile(
    loader: Iterable[Any],
    step_fn: Callable[[Any], Any],
    steps: int = 200,
    device: object | None = None,
    *,
    warmup_steps: int = WARMUP_STEPS,
    stage_steps: int | None = None,
    measure_stages: bool = True,
    loop: Loop | str | None = None,
    cores_available: int | None = None,
    bytes_per_batch: float | None = None,
    disk_read_mbs: float | None = None,
    faster_disk_read_mbs: float | None = None,
    dataset_bytes: float | None = None,
    available_ram_bytes: float | None = None,
    decode_share: float | None = None,
    utilization_fn: UtilizationFn | None = None,
) -> PipelineReport:
    """Run `step_fn(batch)` over `steps` batches of `loader` and report where the time goes.

    `device=None` means "cuda" when PyTorch sees a GPU, "cpu" otherwise.
    `cores_available`, `available_ram_bytes` (e.g. from psutil), `disk_read_mbs` (e.g. from
    `dlrig probe`) and `bytes_per_batch` feed the what-if predictions; each prediction says
    which of them it used or why it could not be made.
    """
    steps = _check_count("steps", steps, 1)
    warmup_steps = _check_count("warmup_steps", warmup_steps, 0)
    _check_arguments(
        loader,
        step_fn,
        utilization_fn,
        cores_available,
        decode_share,
        {
            "bytes_per_batch": bytes_per_batch,
            "disk_read_mbs": disk_read_mbs,
            "faster_disk_read_mbs": faster_disk_read_mbs,
            "dataset_bytes": dataset_bytes,
            "available_ram_bytes": available_ram_bytes,
        },
    )
    dev = parse_device(device if device is not None else default_device())
    mover = BatchMover(dev)
    clock = mover.clock()
    auto_loop, workers = detect_loop(loader)
    loop = Loop(loop) if loop is not None else auto_loop
    fn, reason, close_util = _util_fn(dev, utilization_fn)

    waits: list[float] = []
    marks: list[tuple[Any, Any, Any]] = []
    host_batch = dev_batch = None
    it = iter(loader)
    try:
        with UtilizationSampler(fn, reason) as sampler:
            start = time.perf_counter()
            for i in range(warmup_steps + steps):
                if i == warmup_steps:
                    clock.sync()
                    start = time.perf_counter()
                t0 = time.perf_counter()
                try:
                    host_batch = next(it)
                except StopIteration:
                    break
                t1 = time.perf_counter()
                m0 = clock.mark()
                dev_batch = mover.move(host_batch)
                m1 = clock.mark()
                step_fn(dev_batch)
                m2 = clock.mark()
                if i >= warmup_steps:
                    waits.append(t1 - t0)
                    marks.append((m0, m1, m2))
            clock.sync()
            total_s = time.perf_counter() - start
    finally:
        close_util()
        close = getattr(it, "close", None)
        if callable(close) and it is not loader:
            close()
    n = len(waits)
    if n == 0:
        raise ValueError(f"the loader yielded no batches after {warmup_steps} warm-up steps")
    step_s = total_s / n
    h2d_s = 0.0 if dev == "cpu" else statistics.fmean(clock.seconds(a, b) for a, b, _ in marks)
    compute_s = statistics.fmean(clock.seconds(b, c) for _, b, c in marks)
    wait_s = statistics.fmean(waits)
    input_fraction = min(max((wait_s + h2d_s) / step_s, 0.0), 1.0) if step_s > 0 else 0.0
    report = PipelineReport(
        device=dev,
        loop=str(loop),
        steps=n,
        step_s=step_s,
        wait_s=wait_s,
        wait_p95_s=sorted(waits)[min(n - 1, math.ceil(WAIT_PERCENTILE * n) - 1)],
        h2d_s=h2d_s,
        compute_s=compute_s,
        input_fraction=input_fraction,
        verdict=classify(input_fraction),
        gpu_util_pct=sampler.mean_pct,
        gpu_util_unavailable=sampler.unavailable,
    )
    if not measure_stages:
        return report

    k = (
        stage_steps
        if stage_steps is not None
        else max(MIN_STAGE_STEPS, min(n // 4, MAX_STAGE_STEPS))
    )
    k = _check_count("stage_steps", k, 1)
    load_s = _time_loader(loader, k)
    if load_s is None:
        load_s = wait_s if loop == Loop.SERIAL else wait_s + compute_s
        report.notes.append(
            "the loader is a one-shot iterator: its time alone is estimated from the loop's waits"
        )
    compute_alone_s = _time_repeat(lambda: step_fn(dev_batch), clock, k)
    h2d_pinned_s = None
    if mover.has_host_tensors(host_batch):
        h2d_s = _time_repeat(lambda: mover.move(host_batch), clock, k)
        pinned = mover.pin(host_batch)
        h2d_pinned_s = _time_repeat(lambda: mover.move(pinned, pinned=True), clock, k)
    stages = Stages(
        load_s=load_s,
        compute_s=compute_alone_s,
        h2d_s=h2d_s,
        h2d_pinned_s=h2d_pinned_s,
        loop=loop,
        workers=workers,
        cores_available=cores_available,
        bytes_per_batch=bytes_per_batch,
        disk_read_mbs=disk_read_mbs,
        faster_disk_read_mbs=faster_disk_read_mbs,
        dataset_bytes=dataset_bytes,
        available_ram_bytes=available_ram_bytes,
        decode_share=decode_share,
    )
    report.stages = stages
    report.model_step_s = model_step_s(stages)
    # One verdict: the bottleneck named agrees with the loop's measured verdict.
    report.bottleneck = bottleneck(stages, report.verdict)
    if (note := disagreement(stages, report.verdict)) is not None:
        report.notes.append(note)
    report.predictions = predictions(stages)
    return report
