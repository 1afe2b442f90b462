"""Guide section "PSU": capacity, connectors and transient spikes."""

from __future__ import annotations

import math

from dlrig.catalog import load
from dlrig.model import thresholds as t
from dlrig.model.build import Build, GpuGroup
from dlrig.model.finding import Severity, qty
from dlrig.rules.base import RuleInfo, RuleResult, fmt, pcie_groups

CAPACITY = RuleInfo(
    id="psu-capacity",
    section="power",
    title="PSU capacity",
    why=(
        "A PSU run near its rating is inefficient, hot and trips under GPU load spikes; size it so "
        "the sustained load is at most 80 % of its rating, and not below the GPU vendor's minimum."
    ),
    source=t.PSU_SOURCE,
)
CONNECTORS = RuleInfo(
    id="psu-connectors",
    section="power",
    title="PCIe power cables",
    why=(
        "Each GPU needs its own PCIe power cables (6/8-pin: 75/150 W, 12V-2x6: 600 W); splitting "
        "one cable's pigtails across a high-draw card overloads it."
    ),
    source=t.CONNECTOR_SOURCE,
)
TRANSIENTS = RuleInfo(
    id="psu-transients",
    section="power",
    title="GPU power spikes",
    why=(
        "Cards of 450 W and up spike far above their rating for under a millisecond (RTX 4090 "
        "~619 W, RTX 5090 ~900 W); older PSUs' protection can trip and shut the machine down. "
        "ATX 3.x PSUs are specified to ride out 200 % for 100 µs."
    ),
    source=t.TRANSIENT_SOURCE,
)


def other_w(build: Build) -> tuple[float, list[str]]:
    """DC watts of everything but CPU and GPUs, and the default note if assumed."""
    if build.power is not None and build.power.other_w is not None:
        return build.power.other_w, []
    return t.DEFAULT_OTHER_W, [
        f"other components = {fmt(t.DEFAULT_OTHER_W)} W (board, RAM, drives, fans)"
    ]


def system_dc_w(build: Build) -> tuple[float, list[str]]:
    """Sustained DC load: CPU package power x sockets + Σ GPU power + other.

    Intel K parts hold 253 W (MTP) and Ryzen 7000/9000 230 W (PPT) under all-core load, well
    above their 125/170 W TDP; data loaders keep every core busy, so the limit is what counts.
    """
    other, defaults = other_w(build)
    cpu = build.cpu.total_power_w if build.cpu is not None else 0.0
    if build.cpu is None:
        defaults = [*defaults, "no [cpu]: CPU power not counted"]
    return cpu + build.gpu_power_total_w + other, defaults


def required_psu_w(load_w: float) -> float:
    """The PSU rating that keeps `load_w` at 80 % of it."""
    return load_w / t.PSU_MAX_LOAD_FRACTION


def guide_2018_psu_w(cpu_w: float, gpu_w: list[float], other: float = t.DEFAULT_OTHER_W) -> float:
    """The 2018 guide: (CPU + GPUs + ~100 W) x 1.1; 150 + 4 x 250 + 100 = 1250 → 1375 W."""
    return (cpu_w + sum(gpu_w) + other) * t.GUIDE_2018_PSU_HEADROOM


def check_capacity(build: Build) -> RuleResult:
    if build.psu is None:
        return [CAPACITY.skip("needs [psu] watts")]
    if not build.gpus and build.cpu is None:
        return [CAPACITY.skip("needs [cpu] or [[gpus]]")]
    load_w, defaults = system_dc_w(build)
    need = required_psu_w(load_w)
    vendor = max((g.spec.recommended_psu_w or 0 for g in build.gpus), default=0)
    have = build.psu.watts
    numbers = {
        "load_w": qty(load_w, "W"),
        "required_w": qty(max(need, vendor), "W"),
        "psu_w": qty(have, "W"),
        "load_fraction": qty(load_w / have * 100, "%"),
    }
    text = (
        f"Sustained load {fmt(load_w)} W (CPU + GPUs + other) / 0.8 = {fmt(need)} W needed; "
        f"the PSU gives {fmt(have)} W ({fmt(load_w / have * 100)} % load)."
    )
    if vendor:
        numbers["vendor_minimum_w"] = qty(vendor, "W")
        text += f" The GPU vendor's minimum is {fmt(vendor)} W."
    if have < max(need, vendor):
        step = t.PSU_SIZE_STEP_W
        buy = math.ceil(max(need, vendor) / step) * step
        return [
            CAPACITY.finding(
                Severity.ERROR,
                text,
                fix=f"Use a PSU of at least {fmt(buy)} W or power-limit the GPUs (nvidia-smi -pl).",
                numbers=numbers,
                defaults_used=defaults,
            )
        ]
    return [CAPACITY.finding(Severity.OK, text, numbers=numbers, defaults_used=defaults)]


def cables_needed(card: GpuGroup, native_16pin: bool) -> tuple[int, int]:
    """(8-pin cables, 16-pin cables) one card needs.

    6-pin inputs take a 6+2-pin cable; EPS inputs take NVIDIA's 2 x 8-pin adapter; a 16-pin input
    takes a native cable or the card's adapter with one 8-pin per 150 W of rated power.
    """
    pc = card.spec.power_connectors
    eight = pc.pin6 + pc.pin8 + pc.eps8 * t.EPS_ADAPTER_PCIE_8PIN
    if pc.pin16 == 0:
        return eight, 0
    if native_16pin:
        return eight, pc.pin16
    per_8pin = load.connectors()["8pin"].max_w
    return eight + math.ceil(card.spec.tdp_w / per_8pin), 0


def check_connectors(build: Build) -> RuleResult:
    if build.psu is None:
        return [CONNECTORS.skip("needs [psu]")]
    if not build.gpus:
        return [CONNECTORS.skip("no GPUs")]
    psu = build.psu
    if psu.pcie_8pin is None and psu.pcie_16pin is None:
        return [CONNECTORS.skip("needs psu.pcie_8pin and/or psu.pcie_16pin")]
    have8, have16 = psu.pcie_8pin or 0, psu.pcie_16pin or 0
    need8 = need16 = 0
    for card in build.cards():
        if card.spec.power_connectors.board:
            continue
        use_native = need16 + card.spec.power_connectors.pin16 <= have16
        e, s = cables_needed(card, use_native)
        need8 += e
        need16 += s
    numbers = {
        "needed_8pin": qty(need8, "cables"),
        "needed_16pin": qty(need16, "cables"),
        "psu_8pin": qty(have8, "cables"),
        "psu_16pin": qty(have16, "cables"),
    }
    text = (
        f"GPUs need {need8} x 8-pin and {need16} x 16-pin; the PSU has {have8} x 8-pin and "
        f"{have16} x 16-pin."
    )
    if need8 > have8:
        return [
            CONNECTORS.finding(
                Severity.ERROR,
                text,
                fix="Choose a PSU with enough separate PCIe cables (or native 12V-2x6 cables for "
                "16-pin cards); do not daisy-chain pigtails on high-draw cards.",
                numbers=numbers,
            )
        ]
    return [CONNECTORS.finding(Severity.OK, text, numbers=numbers)]


def check_transients(build: Build) -> RuleResult:
    if build.psu is None:
        return [TRANSIENTS.skip("needs [psu]")]
    if not build.gpus:
        return [TRANSIENTS.skip("no GPUs")]
    # SXM/OAM baseboards and their server PSUs are designed together for the modules' spikes.
    pcie = [g for _, g in pcie_groups(build)]
    if not pcie:
        return [TRANSIENTS.skip("no PCIe GPUs (server baseboards are sized by their vendor)")]
    big = [g for g in pcie if g.power_w >= t.TRANSIENT_GPU_W]
    numbers = {"largest_gpu_w": qty(max(g.power_w for g in pcie), "W")}
    if not big:
        text = f"No GPU draws {fmt(t.TRANSIENT_GPU_W)} W or more; spikes are modest."
        return [TRANSIENTS.finding(Severity.OK, text, numbers=numbers)]
    names = ", ".join(f"{g.name} ({fmt(g.power_w)} W)" for g in big)
    if build.psu.atx3:
        text = f"{names} on an ATX 3.x PSU, which is specified for such spikes."
        return [TRANSIENTS.finding(Severity.OK, text, numbers=numbers)]
    state = "is not ATX 3.x" if build.psu.atx3 is False else "is not stated to be ATX 3.x"
    defaults = [] if build.psu.atx3 is False else ["psu.atx3 not given: treated as not ATX 3.x"]
    return [
        TRANSIENTS.finding(
            Severity.WARNING,
            f"{names}: the PSU {state}; millisecond spikes may trip its protection.",
            fix="Use an ATX 3.x PSU (native 12V-2x6), or power-limit the cards below 450 W.",
            numbers=numbers,
            defaults_used=defaults,
        )
    ]
