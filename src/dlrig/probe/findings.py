"""Findings from a probe's measurements: pure functions, the same `Finding` model as `check`.

Ids: pcie-link-degraded, gpu-throttling, power-limit-lowered, persistence-off, p2p-unavailable,
pageable-copies-slow (GPU side, in `gpu_findings`), cgroup-cpu-limit, shm-small, disk-slow,
swap-active (host side, here). Thresholds and sources: `dlrig.probe.thresholds`.
"""

from __future__ import annotations

from dlrig.model.finding import Finding, Severity, qty
from dlrig.probe import gpu_findings
from dlrig.probe import thresholds as t
from dlrig.probe.result import CpuInfo, DiskInfo, MemoryInfo, ProbeResult
from dlrig.rules.base import RuleInfo

CPU_LIMIT = RuleInfo(
    id="cgroup-cpu-limit",
    section="cpu",
    title="CPUs limited for this process",
    why=(
        "Data-loader workers decode and augment every sample on the CPU; a container or "
        "affinity mask that hides cores starves the GPUs however many the machine has."
    ),
    source=t.CGROUP_SOURCE,
)
SHM = RuleInfo(
    id="shm-small",
    section="memory",
    title="/dev/shm too small for data-loader workers",
    why=(
        "Workers pass batches through shared memory; when it fills, they die with "
        "'bus error' or 'unable to write to file </torch_...>'."
    ),
    source=t.SHM_SOURCE,
)
DISK = RuleInfo(
    id="disk-slow",
    section="disk",
    title="Data disk too slow for the GPUs",
    why=(
        "Every sample of every step is read from this disk unless it fits in the page cache; "
        "a slow disk (or a network share) leaves the GPUs waiting."
    ),
    source=t.DISK_PROBE_SOURCE,
)
SWAP = RuleInfo(
    id="swap-active",
    section="memory",
    title="The machine is swapping",
    why=(
        "Swapped-out pages of the data loader or the training process stall steps by "
        "milliseconds to seconds; RAM should hold at least the GPUs' memory plus the workers."
    ),
    source=t.SWAP_SOURCE,
)


def probe_findings(result: ProbeResult) -> list[Finding]:
    """Every finding for a probe result, errors first (stable within a severity)."""
    n_gpus = len(result.gpus)
    out: list[Finding | None] = []
    for g in result.gpus:
        out += [
            gpu_findings.pcie_link(g, result.torch),
            gpu_findings.throttling(g, result.torch),
            gpu_findings.power_limit(g),
        ]
    out += [
        gpu_findings.persistence(result.gpus),
        gpu_findings.p2p(result.gpu_system),
        gpu_findings.pageable(result.torch),
        cpu_limit(result.cpu, n_gpus),
        shm(result.disk, n_gpus),
        disk_speed(result.disk, n_gpus),
        swap(result.memory),
    ]
    return sorted((f for f in out if f is not None), key=lambda f: f.severity.rank)


def _per(n_gpus: int) -> str:
    """How many GPUs a requirement is sized for: those found, or one when NVML found none."""
    return f"{n_gpus} GPU(s)" if n_gpus else "1 GPU (none found)"


def required_cores(n_gpus: int) -> int:
    """cores = n_gpu x (workers + 1) + 4, with at least one GPU's worth (ML Engineering)."""
    return max(1, n_gpus) * (t.DEFAULT_NUM_WORKERS + 1) + t.CPU_CORES_RESERVED


def cpu_limit(cpu: CpuInfo, n_gpus: int) -> Finding | None:
    if cpu.usable is None or cpu.threads is None:
        return None
    need = required_cores(n_gpus)
    numbers = {"usable": qty(cpu.usable, "CPUs"), "threads": qty(cpu.threads, "CPUs")}
    if cpu.usable >= cpu.threads:
        return CPU_LIMIT.finding(
            Severity.OK,
            f"This process may use all {cpu.threads} CPUs.",
            numbers=numbers,
            title="All CPUs usable",
        )
    by = []
    if cpu.cgroup_cpus is not None and cpu.cgroup_cpus < cpu.threads:
        by.append(f"a cgroup quota of {cpu.cgroup_cpus:g} CPUs")
    if cpu.affinity is not None and cpu.affinity < cpu.threads:
        by.append(f"an affinity mask of {cpu.affinity} CPUs")
    short = cpu.usable < need
    numbers["needed"] = qty(need, "CPUs")
    return CPU_LIMIT.finding(
        Severity.WARNING if short else Severity.INFO,
        f"Only {cpu.usable:g} of {cpu.threads} CPUs are usable ({' and '.join(by)}); "
        f"{_per(n_gpus)} x ({t.DEFAULT_NUM_WORKERS} workers + 1) + "
        f"{t.CPU_CORES_RESERVED} = {need} wanted.",
        fix="Raise the container's CPU limit (docker --cpus, Kubernetes resources.limits.cpu, "
        "Slurm --cpus-per-task) or the taskset mask; set num_workers to fit."
        if short
        else "",
        numbers=numbers,
    )


def shm(disk: DiskInfo, n_gpus: int) -> Finding | None:
    if disk.shm_gb is None:
        return None
    need = max(1, n_gpus) * t.SHM_PER_GPU_GB
    small = disk.shm_gb < need
    return SHM.finding(
        Severity.WARNING if small else Severity.OK,
        f"/dev/shm holds {disk.shm_gb:g} GB; {_per(n_gpus)} x "
        f"{t.DEFAULT_NUM_WORKERS} workers x {t.DATALOADER_PREFETCH_FACTOR} ImageNet batches "
        f"want {need:.2f} GB.",
        fix="docker run --ipc=host or --shm-size=16g; on Kubernetes mount an emptyDir with "
        "medium: Memory at /dev/shm."
        if small
        else "",
        numbers={"shm": qty(disk.shm_gb, "GB"), "needed": qty(need, "GB")},
        title=None if small else "/dev/shm size",
    )


def disk_speed(disk: DiskInfo, n_gpus: int) -> Finding | None:
    if disk.read_mbs is None:
        return None
    need = max(1, n_gpus) * t.GUIDE_JPEG_MBS_PER_GPU
    if disk.read_mbs <= 0:  # a stalled share or a rate that rounded to nothing
        return DISK.finding(
            Severity.ERROR,
            f"{disk.path} read nothing measurable; {need:.0f} MB/s is needed.",
            fix="Check the mount (a stalled network share?) and measure again.",
            numbers={"read": qty(0, "MB/s"), "needed": qty(need, "MB/s")},
        )
    share = need / disk.read_mbs
    numbers = {
        "read": qty(disk.read_mbs, "MB/s"),
        "needed": qty(need, "MB/s"),
        "utilization": qty(100 * share, "%"),
    }
    base = (
        f"{disk.path} reads at {disk.read_mbs:g} MB/s ({disk.read_method}); "
        f"{_per(n_gpus)} x {t.GUIDE_BATCH} x {t.GUIDE_JPEG_BYTES // 1000} KB JPEGs "
        f"every {t.GUIDE_STEP_S:g} s need {need:.0f} MB/s ({share:.0%})."
    )
    if disk.read_method == "cached":
        return DISK.finding(
            Severity.INFO,
            base + f" {disk.read_note or ''}".rstrip(),
            fix="Point --data-dir at the directory on the disk that holds the data.",
            numbers=numbers,
            title="Disk read measured from memory",
        )
    if share > t.DISK_ERROR_FRACTION:
        severity = Severity.ERROR
    elif share > t.DISK_WARN_FRACTION:
        severity = Severity.WARNING
    else:
        severity = Severity.OK
    if severity == Severity.OK:
        return DISK.finding(severity, base, numbers=numbers, title="Data disk speed")
    return DISK.finding(
        severity,
        base,
        fix="Copy the dataset to a local NVMe SSD, cache it in RAM, or pack it into larger "
        "shards (WebDataset, TFRecord) read sequentially.",
        numbers=numbers,
    )


def swap(memory: MemoryInfo) -> Finding | None:
    if memory.swap_used_gb is None:
        return None
    active = memory.swap_used_gb > t.SWAP_ACTIVE_GB
    return SWAP.finding(
        Severity.WARNING if active else Severity.OK,
        f"{memory.swap_used_gb:g} GB of swap in use"
        + (f" (of {memory.swap_total_gb:g} GB)." if memory.swap_total_gb else "."),
        fix="Add RAM, lower num_workers or the dataset cache, and find what filled memory "
        "(`free -g`, `smem`)."
        if active
        else "",
        numbers={"swap_used": qty(memory.swap_used_gb, "GB")},
        title=None if active else "No swap in use",
    )
