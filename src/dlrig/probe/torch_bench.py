"""Measurements that need PyTorch and a CUDA GPU: host<->device copies from pinned and pageable
memory, GPU 0 -> GPU 1 copies, dense matmul TFLOPS per dtype against the catalog peak, device
memory bandwidth and, in full mode, a sustained load that watches clocks, temperature, throttle
reasons and the PCIe link through NVML.

Without torch or without CUDA every field is None with the reason. The torch module is a
parameter (`tc`) so tests can run the measuring code over a stand-in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from dlrig.probe.backend import GpuBackend, same_gpu
from dlrig.probe.models import GpuInfo
from dlrig.probe.result import TorchBench

Progress = Callable[[float], None]
BYTES_PER_GB = 1e9
BYTES_PER_MB = 1e6
FLOPS_PER_TFLOP = 1e12
SUSTAINED_SAMPLE_S = 1.0
# Floor for a timed call, so a call faster than the clock's resolution cannot divide by zero.
MIN_TIMED_S = 1e-9
# (name, dtype attribute, allow_tf32); allow_tf32 None leaves the setting alone.
MATMUL_DTYPES = (
    ("fp32", "float32", False),
    ("tf32", "float32", True),
    ("bf16", "bfloat16", None),
    ("fp16", "float16", None),
)
FIELDS = (
    "h2d_pinned_gbs", "h2d_pageable_gbs", "d2h_pinned_gbs", "d2h_pageable_gbs", "p2p_gbs",
    "device_bandwidth_gbs", "matmul_tflops", "sustained_s",
)  # fmt: skip


def probe_torch(
    *,
    copy_mb: float,
    matmul_n: int,
    runs: int,
    sustained_s: float | None,
    gpus: list[GpuInfo],
    backend: GpuBackend | None,
    progress: Progress | None = None,
    tc: Any = None,
) -> TorchBench:
    bench = TorchBench()
    if tc is None:
        try:
            import torch as tc
        except ImportError:
            return _all_missing(bench, "PyTorch is not installed (pip install 'dlrig[torch]')")
    bench.torch_version = str(tc.__version__)
    if not tc.cuda.is_available():
        cuda = getattr(tc.version, "cuda", None) or "none (CPU-only build)"
        return _all_missing(bench, f"no CUDA device visible to PyTorch (torch CUDA build: {cuda})")
    bench.loaded_gpu_index = nvml_index_of_cuda0(tc, gpus)
    step = _stepper(progress, 5 + bool(sustained_s))
    n = int(copy_mb * BYTES_PER_MB)
    try:
        _copies(tc, bench, n, runs)
        step()
        _p2p(tc, bench, n, runs)
        step()
        bench.device_bandwidth_gbs = _device_copy(tc, 4 * n, runs)
        step()
        bench.matmul_tflops = _matmuls(tc, matmul_n, runs)
        loaded = next((g for g in gpus if g.index == bench.loaded_gpu_index), None)
        bench.matmul_pct_of_peak = pct_of_peak(bench.matmul_tflops, loaded.name if loaded else None)
        step()
        if sustained_s:
            _sustained(tc, bench, matmul_n, sustained_s, backend, bench.loaded_gpu_index)
        else:
            bench.missing("sustained_s", "full mode only (drop --quick)")
        step()
    except RuntimeError as exc:  # CUDA errors surface as RuntimeError (out of memory, Xid ...)
        for f in FIELDS:
            if getattr(bench, f) in (None, {}):
                bench.unavailable.setdefault(f, f"CUDA error: {str(exc).splitlines()[0]}")
    return bench


def _all_missing(bench: TorchBench, reason: str) -> TorchBench:
    for f in FIELDS:
        bench.missing(f, reason)
    return bench


def _stepper(progress: Progress | None, steps: int) -> Callable[[], None]:
    done = [0]

    def step() -> None:
        done[0] += 1
        if progress:
            progress(done[0] / steps)

    return step


def _sync(tc: Any, devices: Sequence[int]) -> None:
    """Wait for the GPUs a measurement uses (a GPU 0 -> GPU 1 copy may run on either device's
    stream), and only those: synchronizing a device creates a CUDA context on it, which takes
    memory there and fails on a GPU in exclusive-process mode that another process holds."""
    for i in devices:
        tc.cuda.synchronize(i)


def best_seconds(
    tc: Any, fn: Callable[[], object], runs: int, devices: Sequence[int] = (0,)
) -> float:
    """Fastest of `runs` timed calls, each fenced by a synchronize of `devices` (one warm-up
    call first)."""
    fn()
    _sync(tc, devices)
    fastest = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        _sync(tc, devices)
        fastest = min(fastest, time.perf_counter() - t0)
    return max(fastest, MIN_TIMED_S)


def _copies(tc: Any, bench: TorchBench, n: int, runs: int) -> None:
    dev = tc.empty(n, dtype=tc.uint8, device="cuda:0")
    pinned = tc.empty(n, dtype=tc.uint8, pin_memory=True)
    pageable = tc.empty(n, dtype=tc.uint8)

    def gbs(dst: Any, src: Any) -> float:
        seconds = best_seconds(tc, lambda: dst.copy_(src, non_blocking=True), runs)
        return round(n / BYTES_PER_GB / seconds, 2)

    bench.h2d_pinned_gbs = gbs(dev, pinned)
    bench.h2d_pageable_gbs = gbs(dev, pageable)  # non_blocking is a no-op from pageable memory
    bench.d2h_pinned_gbs = gbs(pinned, dev)
    bench.d2h_pageable_gbs = gbs(pageable, dev)


def _p2p(tc: Any, bench: TorchBench, n: int, runs: int) -> None:
    if tc.cuda.device_count() < 2:
        bench.missing("p2p_gbs", "needs two GPUs")
        return
    src = tc.empty(n, dtype=tc.uint8, device="cuda:0")
    dst = tc.empty(n, dtype=tc.uint8, device="cuda:1")
    seconds = best_seconds(tc, lambda: dst.copy_(src), runs, devices=(0, 1))
    bench.p2p_gbs = round(n / BYTES_PER_GB / seconds, 2)
    bench.p2p_direct = bool(tc.cuda.can_device_access_peer(0, 1))  # False: it went via host


def _device_copy(tc: Any, n: int, runs: int) -> float:
    a = tc.empty(n, dtype=tc.uint8, device="cuda:0")
    b = tc.empty_like(a)
    return round(2 * n / BYTES_PER_GB / best_seconds(tc, lambda: b.copy_(a), runs), 1)


def matmul_tflops(n: int, iterations: int, seconds: float) -> float:
    """2 n^3 floating-point operations per n x n matmul."""
    return 2 * n**3 * iterations / seconds / FLOPS_PER_TFLOP


def _save_tf32(matmul: Any) -> tuple[bool | None, str | None]:
    """The cuBLAS TF32 setting as (legacy `allow_tf32`, `fp32_precision`), None where unreadable.

    torch >= 2.9 keeps two settings: the legacy flag and `fp32_precision` ("none" inherits,
    "ieee", "tf32"), which is what cuBLAS reads. Reading the legacy flag raises a RuntimeError
    once a process has set only the new one; `fp32_precision` is absent before 2.9.
    """
    try:
        legacy = bool(matmul.allow_tf32)
    except RuntimeError:
        legacy = None
    try:
        precision = str(matmul.fp32_precision)
    except AttributeError:
        precision = None
    return legacy, precision


def _restore_tf32(matmul: Any, legacy: bool | None, precision: str | None) -> None:
    if legacy is not None:
        matmul.allow_tf32 = legacy
    if precision is not None:
        matmul.fp32_precision = precision


def _matmuls(tc: Any, n: int, runs: int) -> dict[str, float]:
    out: dict[str, float] = {}
    matmul = tc.backends.cuda.matmul
    saved = _save_tf32(matmul)
    iterations = 10
    try:
        for name, dtype_name, tf32 in MATMUL_DTYPES:
            if tf32 is not None:
                # The legacy setter sets both settings, so they never disagree while measuring.
                matmul.allow_tf32 = tf32
            a = tc.randn(n, n, dtype=getattr(tc, dtype_name), device="cuda:0")
            b = tc.randn(n, n, dtype=getattr(tc, dtype_name), device="cuda:0")

            def work(a: Any = a, b: Any = b) -> None:
                for _ in range(iterations):
                    a @ b

            out[name] = round(matmul_tflops(n, iterations, best_seconds(tc, work, runs)), 1)
    finally:
        _restore_tf32(matmul, *saved)
    return out


def pct_of_peak(tflops: dict[str, float], gpu_name: str | None) -> dict[str, float]:
    """Measured TFLOPS as a percentage of the catalog's dense peak for this GPU (empty if the
    GPU is not in the catalog)."""
    from dlrig.catalog.lookup import find_gpu
    from dlrig.errors import CatalogLookupError

    if not gpu_name:
        return {}
    try:
        spec = find_gpu(gpu_name)
    except CatalogLookupError:
        return {}
    from dlrig.estimate.compute import peak
    from dlrig.model.choices import Precision

    # The estimator's peaks: TF32 only where the architecture has it (Ampere and newer).
    peaks = {name: peak(spec, Precision(name)).tflops for name in ("fp32", "tf32", "bf16", "fp16")}
    return {k: round(100 * v / p, 1) for k, v in tflops.items() if (p := peaks.get(k))}


def nvml_index_of_cuda0(tc: Any, gpus: list[GpuInfo]) -> int | None:
    """NVML numbers GPUs by PCI bus, CUDA fastest first and after CUDA_VISIBLE_DEVICES: match
    cuda:0 to its NVML row by UUID; with one GPU, or no UUID to compare, assume NVML's first."""
    try:
        uuid = str(tc.cuda.get_device_properties(0).uuid).lower()
    except (AttributeError, RuntimeError):
        uuid = ""
    for g in gpus:
        if same_gpu(g.uuid, uuid):
            return g.index
    return gpus[0].index if gpus else None


def _sustained(
    tc: Any,
    bench: TorchBench,
    n: int,
    seconds: float,
    backend: GpuBackend | None,
    index: int | None,
) -> None:
    a = tc.randn(n, n, dtype=tc.float16, device="cuda:0")
    samples: list[GpuInfo] = []
    t0 = last = time.perf_counter()
    while (now := time.perf_counter()) - t0 < seconds:
        for _ in range(4):
            a @ a
        tc.cuda.synchronize(0)
        if backend is not None and index is not None and now - last >= SUSTAINED_SAMPLE_S:
            samples.append(backend.gpu(index))
            last = now
    bench.sustained_s = round(time.perf_counter() - t0, 1)
    summarise_samples(bench, samples)


def summarise_samples(bench: TorchBench, samples: list[GpuInfo]) -> None:
    """Fold NVML samples taken under load into the sustained_* fields."""
    if not samples:
        for f in ("sustained_sm_clock_min_mhz", "sustained_temp_max_c", "sustained_pcie_width"):
            bench.missing(f, "no NVML samples during the load")
        return
    clocks = [s.sm_clock_mhz for s in samples if s.sm_clock_mhz is not None]
    temps = [s.temperature_c for s in samples if s.temperature_c is not None]
    if clocks:
        bench.sustained_sm_clock_min_mhz = min(clocks)
        bench.sustained_sm_clock_max_mhz = max(clocks)
    if temps:
        bench.sustained_temp_max_c = max(temps)
    reasons = {r for s in samples for r in (s.throttle_reasons or []) if r != "gpu_idle"}
    bench.sustained_throttle_reasons = sorted(reasons)
    bench.sustained_pcie_gen = samples[-1].pcie_gen_current
    bench.sustained_pcie_width = samples[-1].pcie_width_current
