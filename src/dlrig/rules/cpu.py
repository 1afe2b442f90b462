"""Guide sections "CPU cores", "CPU cache" and "CPU clock"."""

from __future__ import annotations

from dlrig.model import thresholds as t
from dlrig.model.build import Build
from dlrig.model.finding import Severity, qty
from dlrig.rules.base import RuleInfo, RuleResult, fmt

CORES = RuleInfo(
    id="cpu-cores",
    section="cpu",
    title="CPU cores for data loading",
    why=(
        "Each GPU needs a main process plus data-loader workers that decode and augment its "
        "batches; when cores run out, the GPUs wait for data."
    ),
    source=t.CPU_CORES_SOURCE,
)
CACHE = RuleInfo(
    id="cpu-cache",
    section="cpu",
    title="CPU cache size barely matters",
    why=(
        "Batches stream from RAM to the GPU: an ImageNet batch of 128 (77 MB as float32) is "
        "larger than any CPU cache, so cache size does not speed up the CPU-to-GPU pipeline."
    ),
    source=t.guide("CPU cache size"),
)
CLOCK = RuleInfo(
    id="cpu-clock",
    section="cpu",
    title="CPU clock barely matters",
    why=(
        "The guide's downclocking experiment: GPU training speed hardly changed with CPU clock. "
        "Money is better spent on cores (for loader workers) and on the GPU."
    ),
    source=t.guide("CPU clock rate"),
)


def cores_needed(n_gpus: int, num_workers: int) -> int:
    """n_gpu x (num_workers + 1) + 4 (ML Engineering)."""
    return n_gpus * (num_workers + t.CPU_CORES_PER_GPU_MAIN) + t.CPU_CORES_RESERVED


def cores_for_loaders(n_gpus: int, num_workers: int) -> int:
    """n_gpu x (num_workers + 1): one core per loader worker and per GPU's main process, without
    the OS reserve (below this the rule warns)."""
    return n_gpus * (num_workers + t.CPU_CORES_PER_GPU_MAIN)


def batch_mb(batch_size: int, sample_bytes: float) -> float:
    """Size of one batch in MB: 128 x 3 x 224 x 224 x 4 B = 77 MB."""
    return batch_size * sample_bytes / 1e6


def cores_minimum(n_gpus: int) -> int:
    """One core per GPU's main process and one for the OS (the 2015 guide's floor)."""
    return n_gpus * t.CPU_CORES_MIN_PER_GPU + t.CPU_CORES_OS


def check_cores(build: Build) -> RuleResult:
    if build.cpu is None:
        return [CORES.skip("needs [cpu]")]
    if not build.gpus:
        return [CORES.skip("no GPUs")]
    w = build.workload
    defaults = []
    given = w is not None and w.num_workers is not None
    if w is not None and w.num_workers is not None:
        workers = w.num_workers
    else:
        workers = t.DEFAULT_NUM_WORKERS
        defaults.append(f"num_workers = {workers} per GPU (vision; about 2 suffice for NLP)")
    n = build.n_gpus
    cores = build.cpu.total_cores
    needed = cores_needed(n, workers)
    loaders = cores_for_loaders(n, workers)
    floor = cores_minimum(n)
    numbers = {
        "cores": qty(cores, "cores"),
        "cores_needed": qty(needed, "cores"),
        "cores_minimum": qty(floor, "cores"),
        "num_workers": qty(workers, "per GPU"),
    }
    text = (
        f"{cores} cores for {n} GPU(s) x ({workers} workers + 1) + "
        f"{t.CPU_CORES_RESERVED} = {needed} comfortable, {floor} at the least (one per GPU "
        "process and one for the OS)."
    )
    fix = (
        f"Choose a CPU with at least {needed} cores, or run fewer loader workers "
        "(pre-process the dataset offline, use GPU decoding such as DALI)."
    )
    if cores >= needed:
        return [CORES.finding(Severity.OK, text, numbers=numbers, defaults_used=defaults)]
    if cores < floor:
        return [
            CORES.finding(
                Severity.ERROR,
                text + " There are fewer cores than GPU processes: the GPUs wait on the CPU.",
                fix=fix,
                numbers=numbers,
                defaults_used=defaults,
            )
        ]
    few = n <= t.CPU_FEW_GPUS
    if cores < loaders and (given or not few):
        why = (
            f" {loaders} loader and main processes share {cores} cores: with a decode-heavy "
            "pipeline (JPEG, augmentation) the GPUs will wait; text or pre-processed data needs "
            "far less."
        )
        return [
            CORES.finding(
                Severity.WARNING, text + why, fix=fix, numbers=numbers, defaults_used=defaults
            )
        ]
    why = (
        " Short of the comfortable count only by the reserve for the OS"
        if cores >= loaders
        else f" With {n} GPU(s) and assumed workers the formula overstates"
    )
    why += (
        ": enough for text and pre-processed data; image decoding may need more (measure with "
        "`dlrig pipeline`)."
    )
    return [CORES.finding(Severity.INFO, text + why, numbers=numbers, defaults_used=defaults)]


def check_cache(build: Build) -> RuleResult:
    if build.cpu is None:
        return [CACHE.skip("needs [cpu]")]
    w = build.workload
    numbers = {}
    if w is not None and w.batch_size and (w.tensor_bytes or w.sample_bytes):
        size_mb = batch_mb(w.batch_size, w.tensor_bytes or w.sample_bytes or 0)
        what = f"Your batch is {fmt(size_mb)} MB"
    else:
        size_mb = t.IMAGENET_BATCH_MB
        what = f"An ImageNet batch of 128 is {fmt(size_mb)} MB"
    numbers["batch_mb"] = qty(size_mb, "MB")
    cache = build.cpu.l3_cache_mb
    if cache is not None:
        numbers["l3_cache_mb"] = qty(cache, "MB")
        what += f" against {fmt(cache)} MB of L3"
    text = (
        f"{what}. MNIST ({t.MNIST_BATCH_MB} MB) and CIFAR ({t.CIFAR_BATCH_MB} MB) batches fit in "
        "cache but are cheap anyway; larger ones stream from RAM. Do not pay extra for cache."
    )
    return [CACHE.finding(Severity.INFO, text, numbers=numbers)]


def check_clock(build: Build) -> RuleResult:
    if build.cpu is None:
        return [CLOCK.skip("needs [cpu]")]
    numbers = {}
    text = "CPU clock has little effect on GPU training speed; prefer cores over GHz."
    if build.cpu.boost_ghz is not None:
        numbers["boost_ghz"] = qty(build.cpu.boost_ghz, "GHz")
        text = f"{build.cpu.name} boosts to {fmt(build.cpu.boost_ghz)} GHz. " + text
    return [CLOCK.finding(Severity.INFO, text, numbers=numbers)]
