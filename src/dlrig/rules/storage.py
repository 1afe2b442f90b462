"""Guide section "Hard drive / SSD": can the data disk keep up with the GPUs?"""

from __future__ import annotations

from dlrig.model import thresholds as t
from dlrig.model.build import Build, Storage
from dlrig.model.finding import Severity, qty
from dlrig.rules.base import STORAGE_NAMES, RuleInfo, RuleResult, fmt

DISK = RuleInfo(
    id="disk-throughput",
    section="storage",
    title="Disk read rate against what the GPUs consume",
    why=(
        "Every sample of every step is read from the data disk (unless the dataset fits in the "
        "page cache). JPEGs need about a tenth of the bandwidth of decoded tensors: the guide's "
        "ImageNet needs ~47 MB/s as JPEG per GPU, ~257 MB/s uncompressed."
    ),
    source=t.DISK_SOURCE,
)


def required_read_mbs(
    batch_size: int, sample_bytes: float, step_time_s: float, n_gpus: int
) -> float:
    """batch x bytes per sample / step seconds x GPUs, in MB/s (10^6 B/s).

    128 x 110 KB / 0.3 s = 47 MB/s; 128 x 602,112 B / 0.3 s = 257 MB/s.
    """
    return batch_size * sample_bytes / step_time_s * n_gpus / 1e6


def data_disk(storage: list[Storage]) -> tuple[Storage, str | None]:
    """The disk the training data is read from, and the assumption made to pick it, if any."""
    marked = [s for s in storage if s.holds_data]
    if marked:
        return max(marked, key=lambda s: s.read_mbs), None
    if len(storage) == 1:
        return storage[0], None
    best = max(storage, key=lambda s: s.read_mbs)
    return (
        best,
        f"data on the fastest disk ({STORAGE_NAMES[best.kind]}); "
        "mark the data disk with holds_data = true",
    )


def check_disk(build: Build) -> RuleResult:
    w = build.workload
    if not build.storage:
        return [DISK.skip("needs [[storage]]")]
    if not build.gpus:
        return [DISK.skip("no GPUs")]
    if w is None or w.batch_size is None or w.sample_bytes is None or w.step_time_s is None:
        return [DISK.skip("needs workload.batch_size, workload.sample_bytes, workload.step_time_s")]
    disk, assumed = data_disk(build.storage)
    defaults = [assumed] if assumed else []
    if disk.read_mbs_is_default:
        defaults.append(
            f"read_mbs = {fmt(disk.read_mbs)} MB/s, typical for a {STORAGE_NAMES[disk.kind]}"
        )
    need = required_read_mbs(w.batch_size, w.sample_bytes, w.step_time_s, build.n_gpus)
    share = need / disk.read_mbs
    numbers = {
        "required_mbs": qty(need, "MB/s"),
        "available_mbs": qty(disk.read_mbs, "MB/s"),
        "utilization": qty(share * 100, "%"),
    }
    text = (
        f"{build.n_gpus} GPU(s) x {w.batch_size} x {fmt(w.sample_bytes / 1e3)} KB every "
        f"{fmt(w.step_time_s)} s = {fmt(need)} MB/s from the {STORAGE_NAMES[disk.kind]} reading "
        f"{fmt(disk.read_mbs)} MB/s ({fmt(share * 100)} %)."
    )
    fix = (
        "Put the dataset on an NVMe SSD, cache it in RAM if it fits, store compressed samples "
        "(JPEG/WebDataset shards) or read them with a sequential sharded format."
    )
    if share > t.DISK_ERROR_FRACTION:
        return [DISK.finding(Severity.ERROR, text, fix, numbers, defaults)]
    if share > t.DISK_WARN_FRACTION:
        return [DISK.finding(Severity.WARNING, text + " Little headroom.", fix, numbers, defaults)]
    return [DISK.finding(Severity.OK, text, numbers=numbers, defaults_used=defaults)]
