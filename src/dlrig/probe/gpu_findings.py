"""Findings about the GPUs from what NVML (and the sustained load) measured: pure functions."""

from __future__ import annotations

from dlrig.model.finding import Finding, Severity, qty
from dlrig.probe import thresholds as t
from dlrig.probe.models import GpuInfo, GpuSystem
from dlrig.probe.result import TorchBench
from dlrig.rules.base import RuleInfo

PCIE_LINK = RuleInfo(
    id="pcie-link-degraded",
    section="pcie",
    title="PCIe link below what the card and slot support",
    why=(
        "Every batch crosses this link; at x4 four GPUs lose 5-10 % in data parallel training, "
        "below x4 (or through the chipset) much more."
    ),
    source=t.PCIE_LINK_SOURCE,
)
THROTTLING = RuleInfo(
    id="gpu-throttling",
    section="cooling",
    title="GPU throttling or about to",
    why=(
        "A throttling GPU lowers its clocks: the same job runs slower, and in multi-GPU boxes "
        "adjacent cards heat each other (10-25 % loss)."
    ),
    source=t.THROTTLE_SOURCE,
)
POWER_LIMIT = RuleInfo(
    id="power-limit-lowered",
    section="power",
    title="GPU power limit below its default",
    why=(
        "Down to about 80 % of the default a power limit costs ~5 % of speed and saves heat "
        "and PSU headroom; below that the loss grows quickly."
    ),
    source=t.POWER_SOURCE,
)
PERSISTENCE = RuleInfo(
    id="persistence-off",
    section="gpu",
    title="Persistence mode off",
    why=(
        "Without it the driver unloads between jobs: every CUDA start pays seconds of "
        "initialisation, and clocks and power settings may reset."
    ),
    source=t.PERSISTENCE_SOURCE,
)
P2P = RuleInfo(
    id="p2p-unavailable",
    section="gpu",
    title="No peer-to-peer between GPUs",
    why=(
        "Without P2P, gradients between GPUs go through the CPU and RAM: all-reduce is bounded "
        "by host memory and PCIe, not by the GPUs."
    ),
    source=t.P2P_PROBE_SOURCE,
)
PAGEABLE = RuleInfo(
    id="pageable-copies-slow",
    section="pcie",
    title="Host-to-device copies from pageable memory",
    why=(
        "Pageable memory goes through a staging copy and `non_blocking=True` does not "
        "overlap it with compute; only pinned memory allows asynchronous DMA."
    ),
    source=t.PINNED_SOURCE,
)


def _is_idle(g: GpuInfo) -> bool:
    if g.utilization_pct is not None:
        return g.utilization_pct < t.GPU_IDLE_UTIL_PCT
    return "gpu_idle" in (g.throttle_reasons or [])


def pcie_link(g: GpuInfo, bench: TorchBench | None = None) -> Finding | None:
    """x16 card at x4, or gen 4 card at gen 1: lanes lost to an M.2 drive, a riser, a dirty slot."""
    width, gen = g.pcie_width_current, g.pcie_gen_current
    under_load = (
        bench is not None
        and g.index == bench.loaded_gpu_index
        and bench.sustained_pcie_width is not None
    )
    if under_load and bench is not None:
        width, gen = bench.sustained_pcie_width, bench.sustained_pcie_gen
    if width is None or g.pcie_width_max is None:
        return None
    numbers = {"width_current": qty(width, "lanes"), "width_max": qty(g.pcie_width_max, "lanes")}
    if gen is not None and g.pcie_gen_max is not None:
        numbers |= {"gen_current": qty(gen, "gen"), "gen_max": qty(g.pcie_gen_max, "gen")}
    link = (
        f"GPU {g.index} ({g.name}) runs at PCIe gen {gen} x{width} "
        f"of gen {g.pcie_gen_max} x{g.pcie_width_max}"
    )
    severity = None
    if width < t.PCIE_LANES_WARN:
        severity = Severity.ERROR
    elif width < t.PCIE_LANES_OK or width < g.pcie_width_max:
        severity = Severity.WARNING
    elif gen is not None and g.pcie_gen_max is not None and gen < g.pcie_gen_max:
        if _is_idle(g) and not under_load:
            return PCIE_LINK.finding(
                Severity.INFO,
                f"{link}; idle GPUs lower the link generation to save power.",
                fix="Run `dlrig probe` without --quick (it loads the GPU) or read "
                "`nvidia-smi -q -d PCI` while training.",
                numbers=numbers,
                title="PCIe link measured while the GPU was idle",
            )
        severity = Severity.WARNING
    if severity is None:
        return PCIE_LINK.finding(
            Severity.OK, f"{link}.", numbers=numbers, title="PCIe link at its best"
        )
    when = " under load" if under_load else ""
    return PCIE_LINK.finding(
        severity,
        f"{link}{when}.",
        fix="Check the board manual for slots that share lanes with M.2 drives, reseat the card, "
        "avoid x1 risers; `lspci -vv` shows LnkCap against LnkSta.",
        numbers=numbers,
    )


def throttling(g: GpuInfo, bench: TorchBench | None = None) -> Finding | None:
    reasons = set(g.throttle_reasons or [])
    if bench is not None and g.index == bench.loaded_gpu_index:
        reasons |= set(bench.sustained_throttle_reasons or [])
    thermal = sorted(reasons & set(t.THERMAL_REASONS))
    temp, slow = g.temperature_c, g.slowdown_temp_c
    numbers = {}
    if temp is not None:
        numbers["temperature"] = qty(temp, "°C")
    if slow is not None:
        numbers["slowdown_at"] = qty(slow, "°C")
    near = temp is not None and slow is not None and temp >= slow - t.SLOWDOWN_MARGIN_C
    dips = False
    if bench is not None and g.index == bench.loaded_gpu_index and bench.sustained_sm_clock_max_mhz:
        lo, hi = bench.sustained_sm_clock_min_mhz or 0, bench.sustained_sm_clock_max_mhz
        numbers |= {"sm_clock_min": qty(lo, "MHz"), "sm_clock_max": qty(hi, "MHz")}
        dips = lo < t.SUSTAINED_CLOCK_FLOOR_FRACTION * hi
    if not (thermal or near or dips or numbers):
        return None
    fix = (
        "Improve airflow (blower cards or more spacing for several GPUs), raise fan curves, or "
        "lower the power limit (`nvidia-smi -pl`): 80 % of TDP keeps ~95 % of the speed."
    )
    if thermal or near or dips:
        parts = [f"GPU {g.index} ({g.name})"]
        if temp is not None:
            parts.append(f"at {temp:g} °C" + (f" (slows down at {slow:g} °C)" if slow else ""))
        if thermal:
            parts.append("reports " + ", ".join(thermal))
        if dips:
            parts.append("its SM clock dipped under sustained load")
        return THROTTLING.finding(Severity.WARNING, " ".join(parts) + ".", fix=fix, numbers=numbers)
    hot = temp is not None and temp > t.GPU_TARGET_MAX_C
    where = f"at {temp:g} °C" if temp is not None else "(temperature unavailable)"
    return THROTTLING.finding(
        Severity.INFO if hot else Severity.OK,
        f"GPU {g.index} ({g.name}) {where}, no thermal slowdown reported"
        + (f"; aim for <= {t.GPU_TARGET_MAX_C:g} °C under load." if hot else "."),
        fix=fix if hot else "",
        numbers=numbers,
        title="GPU runs hot" if hot else "GPU not throttling",
    )


def power_limit(g: GpuInfo) -> Finding | None:
    limit, default = g.power_limit_w, g.power_default_limit_w
    if limit is None or default is None:
        return None
    if limit >= default * (1 - t.POWER_LIMIT_TOLERANCE):
        return None
    numbers = {"power_limit": qty(limit, "W"), "default_limit": qty(default, "W")}
    if g.power_max_limit_w is not None:
        numbers["max_limit"] = qty(g.power_max_limit_w, "W")
    share = limit / default
    deliberate = share >= t.SUGGESTED_POWER_LIMIT_FRACTION
    return POWER_LIMIT.finding(
        Severity.INFO if deliberate else Severity.WARNING,
        f"GPU {g.index} ({g.name}) is limited to {limit:g} W of its {default:g} W "
        f"default ({share:.0%}).",
        fix=""
        if deliberate
        else f"Raise it with `sudo nvidia-smi -i {g.index} -pl "
        f"{default * t.SUGGESTED_POWER_LIMIT_FRACTION:.0f}` or more, unless the PSU or cooling "
        "needs the low limit.",
        numbers=numbers,
    )


def persistence(gpus: list[GpuInfo]) -> Finding | None:
    off = [g.index for g in gpus if g.persistence_mode is False]
    if not off:
        return None
    return PERSISTENCE.finding(
        Severity.INFO,
        f"GPU(s) {', '.join(map(str, off))} have persistence mode off.",
        fix="`sudo nvidia-smi -pm 1`, or enable nvidia-persistenced at boot.",
        numbers={"gpus_without": qty(len(off), "GPUs")},
    )


def p2p(system: GpuSystem | None) -> Finding | None:
    if system is None or len(system.p2p_read) < 2:
        return None
    cells = [(i, j, c) for i, row in enumerate(system.p2p_read) for j, c in enumerate(row) if i < j]
    unknown = [(i, j) for i, j, c in cells if c.startswith("unavailable")]
    bad = [(i, j, c) for i, j, c in cells if c not in ("OK", "X") and (i, j) not in unknown]
    if bad:
        pairs = "; ".join(f"GPU {i}-{j}: {c}" for i, j, c in bad[:6])
        return P2P.finding(
            Severity.WARNING,
            f"P2P reads unavailable for {len(bad)} of {len(cells)} GPU pairs ({pairs}).",
            fix="Expect lower multi-GPU scaling (GeForce RTX 40/50 have no P2P); "
            "use NVLink-capable or data-centre cards where all-reduce matters.",
            numbers={"pairs_without_p2p": qty(len(bad), "pairs")},
        )
    if unknown:
        return P2P.finding(
            Severity.INFO,
            f"NVML refused the P2P query for {len(unknown)} GPU pair(s).",
            fix="Rerun with access to all GPUs, or check `nvidia-smi topo -p2p r`.",
            title="P2P status unreadable",
        )
    return P2P.finding(
        Severity.OK,
        f"P2P reads OK for all {len(cells)} GPU pairs.",
        title="P2P between all GPUs",
    )


def pageable(bench: TorchBench) -> Finding | None:
    pinned, paged = bench.h2d_pinned_gbs, bench.h2d_pageable_gbs
    if not pinned or paged is None:
        return None
    share = paged / pinned
    numbers = {"pinned": qty(pinned, "GB/s"), "pageable": qty(paged, "GB/s")}
    slow = share < t.PAGEABLE_SLOW_FRACTION
    return PAGEABLE.finding(
        Severity.WARNING if slow else Severity.OK,
        f"Pageable memory copies at {paged:g} GB/s, {share:.0%} of pinned ({pinned:g} GB/s).",
        fix="DataLoader(pin_memory=True) and tensor.to(device, non_blocking=True)." if slow else "",
        numbers=numbers,
    )
