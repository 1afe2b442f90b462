"""Guide section "Motherboard" made concrete: the board's lane map, what shares it (M.2, SATA,
the chipset uplink), NVLink bridge spacing, risers, and the firmware settings (Above 4G, ReBAR,
IOMMU/ACS) that decide whether many GPUs enumerate and talk to each other."""

from __future__ import annotations

from dlrig.model import thresholds as t
from dlrig.model.build import Build
from dlrig.model.finding import Severity, qty
from dlrig.rules.base import RuleInfo, RuleResult, fmt, pcie_groups, pcie_name
from dlrig.rules.pcie import card_links, in_use, link_gbs, m2_in_use, shared_lanes

SHARING = RuleInfo(
    id="lane-sharing",
    section="pcie",
    title="M.2 and SATA sharing the GPU slots' lanes",
    why=(
        "Boards wire some M.2 sockets to the same lanes as a GPU slot or some SATA ports: a drive "
        "in the wrong socket halves a GPU's link or makes a SATA drive disappear. The manual's "
        "bandwidth-sharing table says which."
    ),
    source="Board manuals' bandwidth-sharing tables, e.g. ASUS ROG MAXIMUS XIII HERO user manual "
    "E18089 pp. viii, xiii (via rog-forum.asus.com/t5/previous-forum/"
    "maximus-xiii-hero-z590-board-and-sata-problems-among-other/td-p/821746); MSI MEG B550 "
    "UNIFY-X manual p. 20 (easymanua.ls/msi/meg-b550-unify-x/manual/412143?p=32)",
)
CHIPSET = RuleInfo(
    id="chipset-link",
    section="pcie",
    title="GPU slots behind the chipset",
    why=(
        "A slot wired to the chipset shares the chipset's uplink to the CPU (AMD: PCIe 4.0 x4, "
        "7.9 GB/s; Intel 12th-14th gen: DMI 4.0 x8) with every drive, USB and network port "
        "behind it; a training GPU there is starved."
    ),
    source=t.PCIE_LANES_SOURCE,
)
NVLINK = RuleInfo(
    id="nvlink-bridge",
    section="gpu",
    title="NVLink bridge spacing",
    why=(
        "NVLink bridges are rigid and come in fixed spacings (2, 3 or 4 slots): the two cards' "
        "slot positions must differ by exactly the bridge's width, and both must be the same "
        "NVLink-capable model."
    ),
    source=t.NVLINK_SOURCE,
)
RISERS = RuleInfo(
    id="risers",
    section="pcie",
    title="PCIe risers",
    why=(
        "A link runs at the lowest generation of slot, riser and card; a riser rated below the "
        "slot's generation gives link errors (AER, 'GPU has fallen off the bus') unless the slot "
        "is set to the riser's generation in the BIOS. Signal loss grows with length."
    ),
    source=t.RISER_SOURCE,
)
BAR = RuleInfo(
    id="bar-space",
    section="pcie",
    title="Above 4G decoding and Resizable BAR",
    why=(
        "Each GPU asks the firmware for address space (BAR1): datacenter cards map their whole "
        "memory and several cards together overflow the 32-bit window; without Above 4G "
        "decoding the board fails to boot or GPUs go missing."
    ),
    source=t.BAR_SOURCE,
)
IOMMU = RuleInfo(
    id="iommu-acs",
    section="gpu",
    title="IOMMU / ACS and GPU peer-to-peer",
    why=(
        "With PCIe ACS or an IOMMU in translation mode, peer-to-peer traffic between GPUs is "
        "redirected through the CPU's root complex: NCCL gets much slower or hangs."
    ),
    source=t.NCCL_ACS_SOURCE,
)


def check_sharing(build: Build) -> RuleResult:
    board = build.motherboard
    if board is None or not board.lane_sharing:
        return [SHARING.skip("needs motherboard.lane_sharing (the manual's sharing table)")]
    used = in_use(build)
    positions = {p for p in build.card_slots() if p is not None}
    out: RuleResult = []
    cut = shared_lanes(build)
    for pos, (lanes, why) in sorted(cut.items()):
        if pos not in positions:
            continue
        what = "is disabled" if lanes == 0 else f"drops to x{lanes}"
        severity = Severity.ERROR if lanes < t.PCIE_LANES_WARN else Severity.WARNING
        out.append(
            SHARING.finding(
                severity,
                f"A GPU sits in slot {pos}, which {what} because {why} (the board's sharing "
                "table).",
                fix="Move the drive to an M.2 socket that shares nothing with the GPU slots "
                "(often a chipset socket) or the GPU to another slot.",
                numbers={"slot": qty(pos, "slot"), "lanes_left": qty(lanes, "lanes")},
            )
        )
    sata_used = {s.sata_port: i for i, s in enumerate(build.storage) if s.sata_port is not None}
    for rule in board.lane_sharing:
        if rule.when not in used or not rule.sata_ports:
            continue
        lost = sorted(set(rule.sata_ports) & set(sata_used))
        if lost:
            out.append(
                SHARING.finding(
                    Severity.ERROR,
                    f"SATA port(s) {', '.join(map(str, lost))} are disabled when {rule.when} is "
                    "used, but a drive is plugged in there: it will not be seen.",
                    fix="Move the SATA drive to another port or the M.2 drive to another socket.",
                    numbers={"sata_ports_lost": qty(len(lost), "ports")},
                )
            )
    if not out:
        m2 = sorted(m2_in_use(build))
        detail = f"M.2 in use: {', '.join(m2)}" if m2 else "no M.2 socket in use"
        out.append(
            SHARING.finding(
                Severity.OK, f"{detail}; no GPU slot or used SATA port loses its lanes."
            )
        )
    return out


def check_chipset(build: Build) -> RuleResult:
    if not build.gpus:
        return [CHIPSET.skip("no GPUs")]
    links, _, missing = card_links(build)
    if missing or not any(link.position is not None for link in links):
        return [CHIPSET.skip("needs motherboard.slots with each slot's source")]
    behind = [link for link in links if link.source == "chipset"]
    if not behind:
        return [CHIPSET.finding(Severity.OK, "Every GPU slot is wired to the CPU.")]
    board = build.motherboard
    uplink = ""
    numbers = {"gpus_behind_chipset": qty(len(behind), "GPUs")}
    if board is not None and board.chipset_uplink_lanes and board.chipset_uplink_gen:
        rate = link_gbs(board.chipset_uplink_gen, board.chipset_uplink_lanes)
        numbers["uplink_gbs"] = qty(rate, "GB/s")
        uplink = (
            f" The chipset's {pcie_name(board.chipset_uplink_gen)} x{board.chipset_uplink_lanes} "
            f"uplink ({fmt(rate)} GB/s) is shared with every drive and port behind it."
        )
    names = ", ".join(f"GPU {link.slot + 1} (slot {link.position})" for link in behind)
    training = build.workload is None or build.workload.task != "infer"
    return [
        CHIPSET.finding(
            Severity.ERROR if training else Severity.WARNING,
            f"{names} hang(s) off the chipset, not the CPU.{uplink}",
            fix="Use CPU-wired slots only for GPUs (a board or CPU with more CPU lanes); a "
            "chipset slot suits a NIC or a display card.",
            numbers=numbers,
        )
    ]


def check_nvlink(build: Build) -> RuleResult:
    if not build.nvlink_bridges:
        return [NVLINK.skip("no nvlink_bridges")]
    at = {pos: card for card, pos in zip(build.cards(), build.card_slots(), strict=True) if pos}
    out: RuleResult = []
    for j, bridge in enumerate(build.nvlink_bridges):
        a, b = sorted(bridge.slots)
        ca, cb = at.get(a), at.get(b)
        numbers = {"bridge_slots": qty(bridge.width, "slots"), "spacing_slots": qty(b - a, "slots")}
        if ca is None or cb is None:
            empty = a if ca is None else b
            out.append(
                NVLINK.finding(
                    Severity.ERROR,
                    f"nvlink_bridges[{j}] joins slots {a} and {b}, but no GPU is placed in slot "
                    f"{empty} (gpus[i].slots).",
                    fix="Give each bridged card its slot position in gpus[i].slots.",
                    numbers=numbers,
                )
            )
            continue
        if not (ca.spec.nvlink and cb.spec.nvlink) or ca.name != cb.name:
            out.append(
                NVLINK.finding(
                    Severity.ERROR,
                    f"nvlink_bridges[{j}]: {ca.name} and {cb.name} cannot be bridged (both must "
                    "be the same NVLink-capable model).",
                    fix="Bridge two identical NVLink cards (RTX 3090, RTX A6000, ...) or drop "
                    "the bridge.",
                    numbers=numbers,
                )
            )
            continue
        if b - a != bridge.width:
            out.append(
                NVLINK.finding(
                    Severity.ERROR,
                    f"A {bridge.width}-slot bridge cannot join slots {a} and {b}: they are "
                    f"{b - a} slots apart.",
                    fix=f"Buy a {b - a}-slot bridge if one exists for this card (RTX 3090: 3 or "
                    f"4; RTX A6000: 2 or 3), or move the cards {bridge.width} slots apart.",
                    numbers=numbers,
                )
            )
            continue
        width = ca.slot_width
        if width is not None and b - a < width:
            out.append(
                NVLINK.finding(
                    Severity.ERROR,
                    f"The {fmt(width)}-slot {ca.name} in slot {a} covers slot {b}: a "
                    f"{bridge.width}-slot bridge is too short for these cards.",
                    fix="Use a wider bridge and move the second card, or narrower cards.",
                    numbers=numbers,
                )
            )
            continue
        gap = (b - a) - (width or 0)
        if width is not None and ca.cooler == "open-air" and gap < t.MIN_OPEN_AIR_GAP_SLOTS:
            out.append(
                NVLINK.finding(
                    Severity.WARNING,
                    f"The bridge fits slots {a} and {b}, but leaves {fmt(gap)} slot(s) of air "
                    f"between two open-air {ca.name}: the upper card will throttle.",
                    fix="Use the 4-slot bridge with one empty slot between the cards (ZOTAC "
                    "recommends it for 2.5-3-slot open-air cards), or blower cards.",
                    numbers=numbers,
                )
            )
            continue
        out.append(
            NVLINK.finding(
                Severity.OK,
                f"A {bridge.width}-slot bridge joins the {ca.name} in slots {a} and {b}.",
                numbers=numbers,
            )
        )
    return out


def check_risers(build: Build) -> RuleResult:
    on_risers = [(i, g) for i, g in pcie_groups(build) if g.riser is not None]
    if not on_risers:
        return [RISERS.skip("no gpus[i].riser")]
    board_gen = build.motherboard.pcie_gen if build.motherboard else None
    out: RuleResult = []
    for i, g in on_risers:
        assert g.riser is not None
        riser = g.riser
        gens = [g.spec.pcie_gen] + ([board_gen] if board_gen else [])
        if build.cpu is not None:
            gens.append(build.cpu.pcie_gen)
        link_gen = min(gens)
        numbers = {"riser_gen": qty(riser.gen, "gen"), "link_gen": qty(link_gen, "gen")}
        length = ""
        if riser.length_mm is not None:
            numbers["riser_length_mm"] = qty(riser.length_mm, "mm")
            length = f", {fmt(riser.length_mm)} mm"
        if riser.gen < link_gen:
            lanes = g.slot_lanes or 16
            out.append(
                RISERS.finding(
                    Severity.WARNING,
                    f"gpus[{i}] ({g.name}) sits on a {pcie_name(riser.gen)} riser{length} while "
                    f"card and slot run {pcie_name(link_gen)}: expect link errors unless the "
                    f"slot is forced to {pcie_name(riser.gen)}, which caps the link at "
                    f"{fmt(link_gbs(riser.gen, lanes))} GB/s.",
                    fix=f"Buy a riser rated for {pcie_name(link_gen)} at this length, or set "
                    f"the slot to Gen{riser.gen} in the BIOS.",
                    numbers=numbers,
                )
            )
        else:
            text = (
                f"gpus[{i}] ({g.name}): {pcie_name(riser.gen)} riser{length} for a "
                f"{pcie_name(link_gen)} link."
            )
            if link_gen >= 4:
                text += (
                    " At Gen4 and above margins are thin: if the kernel logs PCIe AER errors, "
                    "force the slot one generation lower or use a shorter riser."
                )
            out.append(RISERS.finding(Severity.OK, text, numbers=numbers))
    return out


def _large_bar(build: Build) -> list[str]:
    """Cards whose BAR1 maps their whole memory by default: datacenter and pro parts."""
    return sorted({g.name for g in build.gpus if not g.name.startswith(("GeForce", "Titan"))})


def check_bar(build: Build) -> RuleResult:
    if not build.gpus:
        return [BAR.skip("no GPUs")]
    bios = build.bios
    big = _large_bar(build)
    many = build.n_gpus > t.BAR_MANY_GPUS
    needs = bool(big) or many
    reason = (
        f"{', '.join(big)} map(s) the whole GPU memory as a 64-bit BAR"
        if big
        else f"{build.n_gpus} GPUs together need more address space than the 32-bit window"
    )
    numbers = {"gpus": qty(build.n_gpus, "GPUs")}
    if bios is None or bios.above_4g_decoding is None:
        if not needs:
            return [BAR.skip("bios.above_4g_decoding not given (1-2 consumer GPUs rarely need it)")]
        return [
            BAR.finding(
                Severity.INFO,
                f"{reason}: enable Above 4G decoding in the BIOS (and Resizable BAR where "
                "offered).",
                fix="Set bios.above_4g_decoding = true once it is enabled.",
                numbers=numbers,
                defaults_used=["bios.above_4g_decoding not given"],
            )
        ]
    if not bios.above_4g_decoding and needs:
        return [
            BAR.finding(
                Severity.ERROR,
                f"{reason}, but Above 4G decoding is off: the board may not boot or GPUs will be "
                "missing from nvidia-smi.",
                fix="Enable Above 4G decoding (and Resizable BAR, which requires it) in the BIOS.",
                numbers=numbers,
            )
        ]
    if bios.resizable_bar and not bios.above_4g_decoding:
        return [
            BAR.finding(
                Severity.WARNING,
                "Resizable BAR is on but Above 4G decoding is off: ReBAR needs it and stays off.",
                fix="Enable Above 4G decoding.",
                numbers=numbers,
            )
        ]
    state = "on" if bios.above_4g_decoding else "off (fine for 1-2 consumer GPUs)"
    return [BAR.finding(Severity.OK, f"Above 4G decoding {state}.", numbers=numbers)]


def check_iommu(build: Build) -> RuleResult:
    if build.n_gpus < 2:
        return [IOMMU.skip("fewer than 2 GPUs")]
    p2p = [g for g in build.gpus if g.spec.p2p == "yes" or g.spec.nvlink]
    if not p2p:
        return [IOMMU.skip("no GPUs that use PCIe peer-to-peer")]
    bios = build.bios
    if bios is None or (bios.iommu is None and bios.acs is None):
        return [
            IOMMU.finding(
                Severity.INFO,
                "P2P-capable GPUs: if IOMMU or ACS is on, P2P is routed through the CPU. Check "
                "with `nvidia-smi topo -p2p r` and NCCL's p2pBandwidthLatencyTest.",
                fix="Set bios.iommu and bios.acs; for bare-metal training: ACS off, IOMMU off "
                "or iommu=pt on the kernel command line.",
                defaults_used=["bios.iommu and bios.acs not given"],
            )
        ]
    problems = []
    if bios.acs:
        problems.append("ACS is enabled")
    if bios.iommu == "on":
        problems.append("the IOMMU translates DMA (not passthrough)")
    if problems:
        return [
            IOMMU.finding(
                Severity.WARNING,
                f"{' and '.join(problems).capitalize()}: GPU peer-to-peer traffic is redirected "
                "through the CPU root complex, so NCCL runs much slower or hangs.",
                fix="Disable ACS in the BIOS (or with setpci on the PCIe bridges) and use "
                "iommu=pt or turn the IOMMU off, unless the GPUs are passed to VMs.",
            )
        ]
    return [
        IOMMU.finding(Severity.OK, "ACS off and the IOMMU off or in passthrough: P2P is direct.")
    ]
