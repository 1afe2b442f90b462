"""Guide section "PSU": capacity, connectors and transient spikes."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlrig.catalog import load
from dlrig.model import thresholds as t
from dlrig.model.build import Build, GpuGroup
from dlrig.model.finding import Severity, qty
from dlrig.model.parts import GpuSpec
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
        "GPUs spike far above their board power for milliseconds (RTX 3090 ~465 W on 350 W, RTX "
        "4090 ~619 W on 450 W, RTX 5090 901 W on 575 W for under 1 ms); a PSU without an ATX 3.x "
        "excursion rating may trip its over-current protection. ATX 3.x PSUs are specified for "
        "200 % of their rating for 100 µs, 180 % for 1 ms, 160 % for 10 ms and 120 % for 100 ms."
    ),
    source=t.TRANSIENT_SOURCE,
)


CONNECTOR16 = RuleInfo(
    id="gpu-power-connector",
    section="power",
    title="12V-2x6 connector headroom and adapters",
    why=(
        "One 12V-2x6 (12VHPWR) connector carries at most 600 W (9.2 A per pin); a card near that "
        "leaves no margin for a half-seated plug or a sharp bend. An adapter's 8-pin inputs set "
        "the sense level the card sees: 150 W per 8-pin cable."
    ),
    source=t.CONNECTOR_16PIN_SOURCE,
)
DUAL = RuleInfo(
    id="dual-psu",
    section="power",
    title="Two PSUs",
    why=(
        "With two PSUs each card must take all its cable power from one of them (its slot's 75 W "
        "comes from the main PSU through the board); both must switch on together (add2psu or "
        "relay board) and share ground: same circuit, same outlet strip."
    ),
    source=t.DUAL_PSU_SOURCE,
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
    have = build.psu.watts + (build.second_psu.watts if build.second_psu else 0.0)
    if build.second_psu is not None:
        defaults = [*defaults, "two PSUs counted together (each one's share: see dual-psu)"]
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
    units = [("main", build.psu)] + ([("second", build.second_psu)] if build.second_psu else [])
    if all(u.pcie_8pin is None and u.pcie_16pin is None for _, u in units):
        return [CONNECTORS.skip("needs psu.pcie_8pin and/or psu.pcie_16pin")]
    out: RuleResult = []
    for which, psu in units:
        cards = [c for c in build.cards() if (c.psu or "main") == which]
        if not cards and which == "second":
            continue
        have8, have16 = psu.pcie_8pin or 0, psu.pcie_16pin or 0
        need8 = need16 = 0
        for card in cards:
            if card.spec.power_connectors.board:
                continue
            use_native = need16 + card.spec.power_connectors.pin16 <= have16
            e, sixteen = cables_needed(card, use_native)
            need8 += e
            need16 += sixteen
        numbers = {
            "needed_8pin": qty(need8, "cables"),
            "needed_16pin": qty(need16, "cables"),
            "psu_8pin": qty(have8, "cables"),
            "psu_16pin": qty(have16, "cables"),
        }
        unit = "the PSU" if len(units) == 1 else f"the {which} PSU"
        prefix = "GPUs" if len(units) == 1 else f"GPUs on the {which} PSU"
        text = (
            f"{prefix} need {need8} x 8-pin and {need16} x 16-pin; {unit} has {have8} x 8-pin "
            f"and {have16} x 16-pin."
        )
        if need8 > have8:
            out.append(
                CONNECTORS.finding(
                    Severity.ERROR,
                    text,
                    fix="Choose a PSU with enough separate PCIe cables (or native 12V-2x6 cables "
                    "for 16-pin cards); do not daisy-chain pigtails on high-draw cards.",
                    numbers=numbers,
                )
            )
        else:
            out.append(CONNECTORS.finding(Severity.OK, text, numbers=numbers))
    return out


def generation(card: GpuGroup) -> str:
    """The architecture family: 'Ampere (GA102)' -> 'Ampere', 'Ada Lovelace (AD102)' -> 'Ada'."""
    return card.spec.architecture.split()[0]


@dataclass(frozen=True)
class Excursion:
    """One card's peak draw over each window: (window upper bound ms, peak W)."""

    peaks: tuple[tuple[float, float], ...]
    basis: str
    measured: bool


def excursion(card: GpuGroup) -> Excursion:
    """Measured peaks of the card's generation scaled to its power; else the largest measured
    ratio (assumed). A power-limited card is scaled by its limit."""
    return spike_windows(card.spec, card.power_w)


def spike_windows(spec: GpuSpec, power_w: float) -> Excursion:
    """`excursion` for a catalog card at `power_w` (recommend's search uses it too)."""
    gen = spec.architecture.split()[0]
    known = t.GPU_EXCURSIONS.get(gen)
    geforce = spec.name.startswith("GeForce")
    if known is not None:
        who, board_w, peaks, _ = known
        scaled = tuple((ms, w / board_w * power_w) for ms, w in peaks)
        if geforce:
            return Excursion(scaled, f"{gen} measured on the {who}", True)
        return Excursion(scaled, f"assumed like the {who} ({gen})", False)
    # No measurement of this generation: the steepest measured sub-millisecond ratio.
    who, board_w, peaks, _ = max(t.GPU_EXCURSIONS.values(), key=lambda e: e[2][0][1] / e[1])
    ratio = peaks[0][1] / board_w
    return Excursion(((1.0, ratio * power_w),), f"assumed like the {who}", False)


def psu_allowance_pct(atx3: bool | None, window_ms: float, psu_w: float = 1000.0) -> float:
    """What a PSU promises for a spike lasting up to `window_ms`, in % of its rating.

    ATX 3.x: the shortest Table 3-3 duration that covers the window (a < 1 ms spike gets the
    1 ms row, 180 %; 145 % for units of 450 W or less); anything else: the sustained rating.
    """
    if not atx3:
        return t.NON_ATX3_EXCURSION_PCT
    table = t.ATX3_SMALL_EXCURSION_PCT if psu_w <= t.ATX3_SMALL_PSU_W else t.ATX3_EXCURSION_PCT
    for duration_ms, pct in table:
        if window_ms <= duration_ms:
            return pct
    return 100.0


def peak_system_w(build: Build) -> tuple[float, list[tuple[float, float]], list[str], bool]:
    """(sub-millisecond system peak W, [(window ms, system W)], bases, all measured).

    CPU, other and SXM/OAM modules at their sustained power; each PCIe card at its peak.
    """
    load_w, _ = system_dc_w(build)
    pcie = [g for _, g in pcie_groups(build)]
    steady = load_w - sum(g.power_w * g.count for g in pcie)
    windows: dict[float, float] = {}
    bases: list[str] = []
    measured = True
    for g in pcie:
        e = excursion(g)
        measured = measured and e.measured
        bases.append(f"{g.name}: {e.basis}")
        for ms, w in e.peaks:
            windows[ms] = windows.get(ms, 0.0) + w * g.count
    # A window a card has no measurement for: its shortest-window peak (the conservative one).
    for g in pcie:
        e = excursion(g)
        have = {ms for ms, _ in e.peaks}
        for ms in windows:
            if ms not in have:
                windows[ms] += max(w for _, w in e.peaks) * g.count
    series = sorted((ms, steady + w) for ms, w in windows.items())
    return max(w for _, w in series), series, bases, measured


def check_transients(build: Build) -> RuleResult:
    if build.psu is None:
        return [TRANSIENTS.skip("needs [psu]")]
    if not build.gpus:
        return [TRANSIENTS.skip("no GPUs")]
    # SXM/OAM baseboards and their server PSUs are designed together for the modules' spikes.
    pcie = [g for _, g in pcie_groups(build)]
    if not pcie:
        return [TRANSIENTS.skip("no PCIe GPUs (server baseboards are sized by their vendor)")]
    psu_w = build.psu.watts + (build.second_psu.watts if build.second_psu else 0.0)
    atx3 = build.psu.atx3 and (build.second_psu is None or build.second_psu.atx3)
    peak, series, bases, measured = peak_system_w(build)
    worst_ms, worst_w = max(series, key=lambda s: s[1] / psu_allowance_pct(atx3, s[0], psu_w))
    allowed_pct = psu_allowance_pct(atx3, worst_ms, psu_w)
    allowed_w = psu_w * allowed_pct / 100
    numbers = {
        "largest_gpu_w": qty(max(g.power_w for g in pcie), "W"),
        "peak_w": qty(peak, "W"),
        "psu_w": qty(psu_w, "W"),
        "worst_window_ms": qty(worst_ms, "ms"),
        "worst_window_peak_w": qty(worst_w, "W"),
        "psu_allowance_w": qty(allowed_w, "W"),
    }
    defaults = [f"GPU spikes: {b}" for b in bases]
    if build.psu.atx3 is None:
        defaults.append("psu.atx3 not given: treated as not ATX 3.x (no excursion rating)")
    kind = "an ATX 3.x PSU" if atx3 else "a PSU with no ATX 3.x excursion rating"
    window = "under 1 ms" if worst_ms <= 1 else f"up to {fmt(worst_ms)} ms"
    text = (
        f"With the GPUs at their {'measured' if measured else 'assumed'} peaks the system draws "
        f"up to {fmt(peak)} W for under a millisecond ({fmt(peak / psu_w * 100)} % of "
        f"{fmt(psu_w)} W); the tightest window is "
        f"{window} at {fmt(worst_w)} W against the {fmt(allowed_w)} W ({fmt(allowed_pct)} %) "
        f"{kind} promises."
    )
    if worst_w <= allowed_w:
        return [TRANSIENTS.finding(Severity.OK, text, numbers=numbers, defaults_used=defaults)]
    step = t.PSU_SIZE_STEP_W
    need_atx3 = max(w / (psu_allowance_pct(True, ms) / 100) for ms, w in series)
    need_plain = max(w for _, w in series)
    sustained = required_psu_w(system_dc_w(build)[0])
    need_atx3 = max(need_atx3, sustained)
    need_plain = max(need_plain, sustained)
    fix = (
        f"Use an ATX 3.x PSU of at least {fmt(math.ceil(need_atx3 / step) * step)} W (rated for "
        "200 % for 100 µs, 180 % for 1 ms), a non-ATX-3 unit of at least "
        f"{fmt(math.ceil(need_plain / step) * step)} W, or power-limit the GPUs "
        "(nvidia-smi -pl); spikes scale with the limit."
    )
    # A measured generation over the PSU's promise trips real machines; an assumed one warns.
    severity = Severity.ERROR if measured else Severity.WARNING
    return [
        TRANSIENTS.finding(
            severity,
            text + " Over-current protection may shut the machine down under load.",
            fix=fix,
            numbers=numbers,
            defaults_used=defaults,
        )
    ]


def check_connector16(build: Build) -> RuleResult:
    cards = [g for g in build.gpus if g.spec.power_connectors.pin16 > 0]
    if not cards:
        return [CONNECTOR16.skip("no GPU with a 12V-2x6 / 12VHPWR input")]
    out: RuleResult = []
    for g in cards:
        per_connector = g.power_w / g.spec.power_connectors.pin16
        limit = t.CONNECTOR_16PIN_W
        how = "native 12V-2x6 cable"
        if g.adapter_8pin is not None:
            limit = min(limit, g.adapter_8pin * t.CONNECTOR_8PIN_W)
            how = f"adapter fed by {g.adapter_8pin} x 8-pin"
        headroom = 1 - per_connector / limit
        numbers = {
            "connector_w": qty(per_connector, "W"),
            "limit_w": qty(limit, "W"),
            "headroom": qty(headroom * 100, "%"),
        }
        text = (
            f"{g.name}: {fmt(per_connector)} W through one 16-pin connector ({how}, "
            f"{fmt(limit)} W), {fmt(headroom * 100)} % headroom."
        )
        if per_connector > limit:
            out.append(
                CONNECTOR16.finding(
                    Severity.ERROR,
                    text + " The sense pins cap the card below its power: it will throttle or "
                    "refuse to start.",
                    fix=f"Plug {math.ceil(per_connector / t.CONNECTOR_8PIN_W)} separate 8-pin "
                    "cables into the adapter, use a native 12V-2x6 cable, or power-limit the card.",
                    numbers=numbers,
                )
            )
        elif headroom < t.CONNECTOR_TIGHT_HEADROOM:
            out.append(
                CONNECTOR16.finding(
                    Severity.WARNING,
                    text + " Near the connector's limit a half-seated plug or a tight bend "
                    "overheats it.",
                    fix="Seat the plug fully (no gap at the latch), keep the cable straight for "
                    "~35 mm, use one native 12V-2x6 cable without extensions, or power-limit the "
                    f"card to {fmt(t.SUGGESTED_POWER_LIMIT_FRACTION * g.spec.tdp_w)} W.",
                    numbers=numbers,
                )
            )
        else:
            out.append(CONNECTOR16.finding(Severity.OK, text, numbers=numbers))
    return out


def psu_loads(build: Build) -> tuple[float, float]:
    """(main PSU W, second PSU W): cards on the second PSU draw all but their slot's 75 W from
    it; the slot power, CPU and the rest come from the main PSU through the board."""
    total, _ = system_dc_w(build)
    slot_w = load.connectors()["slot"].max_w
    second = sum(max(g.power_w - slot_w, 0.0) * g.count for g in build.gpus if g.psu == "second")
    return total - second, second


def check_dual(build: Build) -> RuleResult:
    second = build.second_psu
    if second is None or build.psu is None:
        return [DUAL.skip("no [second_psu]")]
    main_w, second_w = psu_loads(build)
    numbers = {
        "main_load_w": qty(main_w, "W"),
        "main_psu_w": qty(build.psu.watts, "W"),
        "second_load_w": qty(second_w, "W"),
        "second_psu_w": qty(second.watts, "W"),
    }
    out: RuleResult = []
    for name, load_w, have in (
        ("main", main_w, build.psu.watts),
        ("second", second_w, second.watts),
    ):
        if load_w > have * t.PSU_MAX_LOAD_FRACTION:
            out.append(
                DUAL.finding(
                    Severity.ERROR,
                    f"The {name} PSU carries {fmt(load_w)} W, over 80 % of its {fmt(have)} W.",
                    fix="Move a card to the other PSU (gpus[i].psu) or use a larger unit.",
                    numbers=numbers,
                )
            )
    if second_w == 0:
        out.append(
            DUAL.finding(
                Severity.WARNING,
                'No GPU is fed by the second PSU (set gpus[i].psu = "second").',
                fix="Give each card's cables to one PSU in the build file.",
                numbers=numbers,
            )
        )
    caveats = []
    if second.sync in (None, "none"):
        caveats.append("nothing switches the second PSU on with the first (add2psu or relay)")
    if second.same_circuit is False:
        caveats.append(
            "it is on another circuit: the grounds of the two PSUs may differ, and a card fed "
            "by both (slot from one, cables from the other) carries the difference"
        )
    elif second.same_circuit is None:
        caveats.append("second_psu.same_circuit not given: plug both into one outlet strip")
    if caveats:
        out.append(
            DUAL.finding(
                Severity.WARNING,
                "Second PSU: " + "; ".join(caveats) + ".",
                fix="Use an add2psu/relay board (or a server backplane), both PSUs on one "
                "circuit and outlet strip, and never split one card's cables across PSUs.",
                numbers=numbers,
            )
        )
    if not out:
        out.append(
            DUAL.finding(
                Severity.OK,
                f"Main PSU {fmt(main_w)} W of {fmt(build.psu.watts)} W; second PSU "
                f"{fmt(second_w)} W of {fmt(second.watts)} W, synchronised, same circuit.",
                numbers=numbers,
            )
        )
    return out
