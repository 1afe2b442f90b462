"""Run the whole probe: each device class in turn, findings at the end (`dlrig probe`).

`run_probe` reports progress through a callback `(step label, fraction done)`, so the terminal
can draw bars without the probe knowing about rich. A step that fails in a way its module did
not foresee becomes a section of `unavailable` fields, never a crash.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from dlrig.errors import DlrigError
from dlrig.model.thresholds import MAX_GPUS_PER_NODE
from dlrig.probe.backend import GpuBackend, Unavailable
from dlrig.probe.findings import probe_findings
from dlrig.probe.models import GpuInfo, GpuSystem, Section
from dlrig.probe.result import CpuInfo, DiskInfo, MemoryInfo, ProbeResult, TorchBench

StepProgress = Callable[[str, float], None]
S = TypeVar("S", bound=Section)
FAKE_NVML_ENV = "DLRIG_FAKE_NVML"


@dataclass(frozen=True)
class Sizes:
    """How much each measurement does: `QUICK` aims at <= 10 s in all, `FULL` at accuracy."""

    memory_buffer_mb: float
    memory_runs: int
    disk_test_mb: float
    disk_iops_s: float | None
    disk_write_budget_s: float | None
    copy_mb: float
    matmul_n: int
    gpu_runs: int
    sustained_s: float | None


QUICK = Sizes(
    memory_buffer_mb=256,
    memory_runs=3,
    disk_test_mb=256,
    disk_iops_s=None,
    disk_write_budget_s=3.0,
    copy_mb=64,
    matmul_n=4096,
    gpu_runs=3,
    sustained_s=None,
)
FULL = Sizes(
    memory_buffer_mb=1024,
    memory_runs=5,
    disk_test_mb=1024,
    disk_iops_s=3.0,
    disk_write_budget_s=30.0,
    copy_mb=256,
    matmul_n=8192,
    gpu_runs=5,
    sustained_s=60.0,
)


def gpu_backend() -> GpuBackend | Unavailable:
    """NVML, or the scenario file named by $DLRIG_FAKE_NVML (demos and CLI tests)."""
    from dlrig.probe.nvml import open_backend

    fake = os.environ.get(FAKE_NVML_ENV)
    if not fake:
        return open_backend()
    from dlrig.probe.fake import FakeNvml

    nv = FakeNvml.from_file(fake, f"{FAKE_NVML_ENV}={fake}")  # BuildFileError: exit 2
    try:
        return open_backend(nv)
    except (OSError, ValueError) as exc:  # defence in depth: the scenario was validated
        raise DlrigError(f"{FAKE_NVML_ENV}={fake}: not an NVML scenario: {exc}") from None


def check_data_dir(path: Path) -> Path:
    if not path.exists():
        raise DlrigError(f"--data-dir {path}: no such directory")
    if not path.is_dir():
        raise DlrigError(f"--data-dir {path}: not a directory")
    return path.resolve()


def run_probe(
    *,
    quick: bool,
    data_dir: Path,
    sizes: Sizes | None = None,
    progress: StepProgress | None = None,
    backend_factory: Callable[[], GpuBackend | Unavailable] = gpu_backend,
) -> ProbeResult:
    from dlrig.probe.cpu import probe_cpu
    from dlrig.probe.disk import probe_disk
    from dlrig.probe.memory import probe_memory
    from dlrig.probe.torch_bench import probe_torch

    data_dir = check_data_dir(data_dir)
    sz = sizes or (QUICK if quick else FULL)
    t0 = time.perf_counter()

    def report(label: str) -> Callable[[float], None]:
        return lambda fraction: progress(label, fraction) if progress else None

    cpu = _guard(CpuInfo, "cores_physical", lambda: probe_cpu())
    report("CPU")(1.0)
    threads = int(cpu.usable or 1)
    memory = _guard(
        MemoryInfo,
        "bandwidth_gbs",
        lambda: probe_memory(
            buffer_mb=sz.memory_buffer_mb,
            runs=sz.memory_runs,
            threads=threads,
            progress=report("Memory bandwidth"),
        ),
    )
    disk = _guard(
        lambda: DiskInfo(path=str(data_dir)),
        "read_mbs",
        lambda: probe_disk(
            data_dir,
            test_mb=sz.disk_test_mb,
            iops_s=sz.disk_iops_s,
            write_budget_s=sz.disk_write_budget_s,
            progress=report("Disk read"),
        ),
    )
    backend = backend_factory()
    gpus: list[GpuInfo] = []
    system: GpuSystem | None = None
    if isinstance(backend, Unavailable):
        gpu_status = str(backend)
        torch = _all_unavailable(f"no NVIDIA GPU ({backend.reason})")
    else:
        try:
            gpus, system, gpu_status = _read_gpus(backend)
            report("GPUs (NVML)")(1.0)
            torch = _guard(
                TorchBench,
                "matmul_tflops",
                lambda: (
                    probe_torch(
                        copy_mb=sz.copy_mb,
                        matmul_n=sz.matmul_n,
                        runs=sz.gpu_runs,
                        sustained_s=sz.sustained_s,
                        gpus=gpus,
                        backend=backend,
                        progress=report("GPU benchmarks"),
                    )
                    if gpus
                    else _all_unavailable("NVML lists no GPU")
                ),
            )
        finally:
            backend.close()
    result = ProbeResult(
        quick=quick,
        duration_s=0.0,
        cpu=cpu,
        memory=memory,
        disk=disk,
        gpu_status=gpu_status,
        gpu_system=system,
        gpus=gpus,
        torch=torch,
    )
    result.findings = probe_findings(result)
    result.duration_s = round(time.perf_counter() - t0, 1)
    return result


def _read_gpus(backend: GpuBackend) -> tuple[list[GpuInfo], GpuSystem | None, str]:
    try:
        count = backend.device_count()
        if not 0 <= count <= MAX_GPUS_PER_NODE:  # a driver fault, not a machine
            why = f"NVML reports {count} GPUs; one node holds at most {MAX_GPUS_PER_NODE}"
            return [], None, f"unavailable: out of range: {why}"
        gpus = [backend.gpu(i) for i in range(count)]
        return gpus, backend.system(), "ok"
    except Exception as exc:  # NvmlBackend wraps every call; this is the last line of defence
        return [], None, f"unavailable: NVML probe failed: {type(exc).__name__}: {exc}"


def _all_unavailable(reason: str) -> TorchBench:
    from dlrig.probe.torch_bench import FIELDS

    bench = TorchBench()
    for f in FIELDS:
        bench.missing(f, reason)
    return bench


def _guard(make_empty: Callable[[], S], key: str, measure: Callable[[], S]) -> S:
    """Run one device probe; an unforeseen error leaves an empty section saying what failed."""
    try:
        return measure()
    except Exception as exc:  # a probe must never take the whole report down
        section = make_empty()
        section.missing(key, f"probe failed: {type(exc).__name__}: {exc}")
        return section
