"""Guide section "RAM": size against GPU memory, and why RAM speed barely matters."""

from __future__ import annotations

from dlrig.model import thresholds as t
from dlrig.model.build import Build
from dlrig.model.finding import Severity, qty
from dlrig.rules.base import RuleInfo, RuleResult, fmt, pcie_name
from dlrig.rules.pcie import card_links, link_gbs

SIZE = RuleInfo(
    id="ram-size",
    section="memory",
    title="RAM size against GPU memory",
    why=(
        "Checkpoints, pinned staging buffers, data-loader workers and preprocessing all live in "
        "RAM; with less RAM than GPU memory you cannot even hold a full copy of the GPUs' state."
    ),
    source=t.RAM_SOURCE,
)
CHANNELS = RuleInfo(
    id="ram-channels",
    section="memory",
    title="Memory channels populated",
    why=(
        "Host memory bandwidth is MT/s x 8 B x populated channels: a 12-channel EPYC with 4 "
        "DIMMs has a third of its bandwidth, which CPU offload, data loading for many GPUs and "
        "pinned copies to all GPUs at once then share."
    ),
    source=t.guide("RAM"),
)
BANDWIDTH = RuleInfo(
    id="ram-bandwidth",
    section="memory",
    title="RAM bandwidth barely matters",
    why=(
        "RAM bandwidth (MT/s x 8 B x channels) is several times a GPU's PCIe link, so the link, "
        "not the RAM clock, limits host-to-GPU copies. Do not pay for fast RAM kits."
    ),
    source=t.guide("RAM"),
)


def ram_bandwidth_gbs(speed_mts: float, channels: int) -> float:
    """Peak bandwidth: 1600 MT/s x 8 B x 4 channels = 51.2 GB/s."""
    return speed_mts * t.BYTES_PER_TRANSFER * channels / 1000


def check_size(build: Build) -> RuleResult:
    if build.memory is None:
        return [SIZE.skip("needs [memory] size_gb")]
    if not build.gpus:
        return [SIZE.skip("no GPUs")]
    ram = build.memory.size_gb
    gpu_mem = build.gpu_memory_total_gb
    numbers = {"ram_gb": qty(ram, "GB"), "gpu_memory_gb": qty(gpu_mem, "GB")}
    text = f"{fmt(ram)} GB RAM for {fmt(gpu_mem)} GB of GPU memory."
    if ram < gpu_mem:
        return [
            SIZE.finding(
                Severity.WARNING,
                text,
                fix=f"Buy at least {fmt(gpu_mem)} GB of RAM (more leaves room for loader workers).",
                numbers=numbers,
            )
        ]
    return [SIZE.finding(Severity.OK, text, numbers=numbers)]


def check_bandwidth(build: Build) -> RuleResult:
    if build.memory is None:
        return [BANDWIDTH.skip("needs [memory]")]
    defaults = []
    speed = build.memory.speed_mts
    channels = build.memory.channels
    cpu = build.cpu
    if speed is None and cpu is not None and cpu.max_memory_mts is not None:
        speed = cpu.max_memory_mts
        defaults.append(f"memory.speed_mts = {fmt(speed)} (the CPU's rated maximum)")
    if channels is None and cpu is not None and cpu.memory_channels is not None:
        channels = cpu.memory_channels * cpu.count
        defaults.append(f"memory.channels = {channels} (all of the CPU's channels populated)")
    if speed is None or channels is None:
        return [BANDWIDTH.skip("needs memory.speed_mts and memory.channels (or a catalog CPU)")]
    gens = [cpu.pcie_gen] if cpu is not None else [g.spec.pcie_gen for g in build.gpus]
    if not gens:
        return [BANDWIDTH.skip("needs [cpu] or [[gpus]] for the PCIe generation")]
    ram = ram_bandwidth_gbs(speed, channels)
    gen = max(gens)
    pcie = link_gbs(gen, 16)
    numbers = {"ram_gbs": qty(ram, "GB/s"), "pcie_gbs": qty(pcie, "GB/s")}
    text = (
        f"{fmt(speed)} MT/s x 8 B x {channels} channels = {fmt(ram)} GB/s, against "
        f"{fmt(pcie)} GB/s for one {pcie_name(gen)} x16 link."
    )
    links, _, _ = card_links(build)
    total = sum(link_gbs(link.gen, link.lanes) for link in links if link.lanes)
    if len(links) > 1 and ram < total:
        numbers["gpu_links_total_gbs"] = qty(total, "GB/s")
        text += (
            f" All {len(links)} GPU links together carry up to {fmt(total)} GB/s, more than the "
            "RAM gives, but input pipelines rarely fill a link."
        )
    return [BANDWIDTH.finding(Severity.INFO, text, numbers=numbers, defaults_used=defaults)]


def check_channels(build: Build) -> RuleResult:
    cpu = build.cpu
    if build.memory is None or build.memory.channels is None:
        return [CHANNELS.skip("needs memory.channels (channels populated)")]
    if cpu is None or cpu.memory_channels is None:
        return [CHANNELS.skip("needs a catalog CPU or cpu.memory_channels")]
    have = build.memory.channels
    total = cpu.memory_channels * cpu.count
    fraction = min(have / total, 1.0)
    numbers = {
        "channels_populated": qty(have, "channels"),
        "channels": qty(total, "channels"),
        "bandwidth_fraction": qty(fraction * 100, "%"),
    }
    text = f"{have} of {total} memory channels populated ({fmt(fraction * 100)} % of the bandwidth)"
    speed = build.memory.speed_mts or cpu.max_memory_mts
    if speed:
        full = ram_bandwidth_gbs(speed, total)
        numbers["ram_gbs"] = qty(ram_bandwidth_gbs(speed, min(have, total)), "GB/s")
        text += f": {fmt(ram_bandwidth_gbs(speed, min(have, total)))} of {fmt(full)} GB/s"
    if have >= total:
        return [CHANNELS.finding(Severity.OK, text + ".", numbers=numbers)]
    fix = f"Install one DIMM per channel ({total} DIMMs, or a multiple) of equal size."
    offload = build.workload is not None and build.workload.offload not in (None, "none")
    if fraction <= t.MEMORY_CHANNELS_WARN_FRACTION and (offload or build.n_gpus >= 4):
        why = "CPU offload" if offload else f"{build.n_gpus} GPUs' pinned copies and loaders"
        return [
            CHANNELS.finding(Severity.WARNING, f"{text}; {why} share it.", fix=fix, numbers=numbers)
        ]
    return [CHANNELS.finding(Severity.INFO, text + ".", fix=fix, numbers=numbers)]
