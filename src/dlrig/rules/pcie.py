"""Guide sections "CPU and PCIe lanes" and "PCIe / DMA transfer"."""

from __future__ import annotations

from dataclasses import dataclass

from dlrig.catalog import load
from dlrig.model import thresholds as t
from dlrig.model.build import Build, GpuGroup
from dlrig.model.finding import Severity, qty
from dlrig.rules.base import RuleInfo, RuleResult, fmt, pcie_name

LANES = RuleInfo(
    id="pcie-lanes",
    section="pcie",
    title="PCIe lanes per GPU",
    why=(
        "Every batch and, in data parallel training, every gradient all-reduce crosses each "
        "GPU's PCIe link. x16 and x8 are fine; x4 costs about 5-10 % with four GPUs; narrower "
        "links or slots wired through the chipset starve training."
    ),
    source=t.PCIE_LANES_SOURCE,
)
TRANSFER = RuleInfo(
    id="pcie-transfer",
    section="pcie",
    title="Host-to-GPU batch transfer",
    why=(
        "The guide's arithmetic: a batch must cross PCIe every step. Copied synchronously from "
        "pageable memory the copy adds to the step time; from pinned memory on a side stream it "
        "overlaps the previous step and costs nothing, as long as it is shorter than a step."
    ),
    source=t.PCIE_TRANSFER_SOURCE,
)


def link_gbs(gen: int, lanes: int) -> float:
    """Theoretical one-direction rate: per-lane GB/s of the generation x lanes.

    PCIe 3.0: 8 GT/s x 128/130 / 8 bits = 0.985 GB/s per lane, x16 = 15.75 GB/s.
    """
    return load.pcie_gens()[gen].per_lane_gbs * lanes


def dma_gbs(gen: int, lanes: int) -> float:
    """Realistic DMA rate: the link rate x the guide's observed efficiency (~12 of 15.75 GB/s)."""
    return link_gbs(gen, lanes) * t.PCIE_DMA_EFFICIENCY


def transfer_time_s(nbytes: float, rate_gbs: float) -> float:
    """Seconds to move nbytes at rate_gbs (10^9 bytes/s): 0.085 GB at 6.4 GB/s = 13 ms."""
    return nbytes / (rate_gbs * 1e9)


def link_width(lanes: float) -> int:
    """The widest standard link (x16, x8, x4, x2, x1) that fits in `lanes`; 0 if none."""
    return next((w for w in t.LINK_WIDTHS if w <= lanes), 0)


ASSUMED_WIDTH = "CPU lanes / GPUs"  # CardLink.how when the build gives no lane map


@dataclass(frozen=True)
class CardLink:
    card: GpuGroup
    slot: int  # index in build.cards()
    lanes: int
    gen: int
    how: str
    source: str = "cpu"  # where the slot's lanes come from: cpu, chipset or switch
    position: int | None = None
    wired_lanes: int = 0  # the slot's lanes before the card's own width caps them


def m2_in_use(build: Build) -> set[str]:
    """M.2 sockets the build's drives sit in."""
    return {s.m2_slot for s in build.storage if s.m2_slot is not None}


def in_use(build: Build) -> set[str]:
    """What a sharing table's `when` can name: M.2 sockets with a drive, and the names (or
    positions, as text) of slots holding a GPU or a NIC."""
    used = m2_in_use(build)
    board = build.motherboard
    taken = {p for p in build.card_slots() if p is not None}
    taken |= {n.slot for n in build.nics if n.slot is not None}
    used |= {str(p) for p in taken}
    if board is not None and board.slots:
        used |= {s.name for s in board.slots if s.name and s.position in taken}
    return used


def shared_lanes(build: Build) -> dict[int, tuple[int, str]]:
    """Slot position -> (lanes left, why) for slots the board's sharing table cuts because an
    M.2 socket in use takes their lanes (manual: "when M.2_2 is used, PCIEX16_2 runs x4")."""
    board = build.motherboard
    if board is None or not board.lane_sharing:
        return {}
    used = in_use(build)
    out: dict[int, tuple[int, str]] = {}
    for rule in board.lane_sharing:
        if rule.slot is None or rule.lanes is None or rule.when not in used:
            continue
        lanes = min(rule.lanes, out.get(rule.slot, (16, ""))[0])
        out[rule.slot] = (lanes, f"{rule.when} in use")
    return out


def card_links(build: Build) -> tuple[list[CardLink], list[str], str | None]:
    """Each card's electrical lanes and generation, the assumptions made, or why it can't tell."""
    cards = build.cards()
    board = build.motherboard
    slot_map = board.gpu_slot_lanes if board and board.gpu_slot_lanes else None
    slots = {s.position: s for s in board.slots} if board and board.slots else None
    positions = build.card_slots()
    cut = shared_lanes(build)
    free = sorted(p for p in slots if p not in positions) if slots else []
    shared = None
    assumed: list[str] = []
    if build.cpu is not None and build.cpu.pcie_lanes > 0 and cards:
        shared = link_width(build.cpu.pcie_lanes * build.cpu.count / len(cards))
    links = []
    for i, card in enumerate(cards):
        source, slot_gen, pos = "cpu", None, positions[i]
        if slots is not None and pos is None and free:
            pos = free.pop(0)
        if card.slot_lanes is not None:
            lanes, how = card.slot_lanes, f"gpus '{card.name}' pcie_lanes"
        elif slots is not None and pos is not None and pos in slots:
            entry = slots[pos]
            lanes, how = entry.lanes, f"motherboard.slots position {pos}"
            source, slot_gen = entry.source, entry.gen
        elif slots is not None:
            lanes, how = 0, f"no free slot in motherboard.slots for GPU {i + 1}"
        elif slot_map is not None and i < len(slot_map):
            lanes, how = slot_map[i], f"motherboard.gpu_slot_lanes[{i}]"
        elif slot_map is not None:
            lanes, how = 0, f"no slot left in motherboard.gpu_slot_lanes for GPU {i + 1}"
        elif shared is not None:
            lanes, how = shared, ASSUMED_WIDTH
            if ASSUMED_WIDTH not in assumed:
                assumed.append(
                    "lanes per GPU = CPU lanes / GPUs (give motherboard.gpu_slot_lanes for the "
                    "board's real lane map; M.2 drives may take lanes)"
                )
        else:
            return [], [], "needs [cpu] pcie_lanes or motherboard.gpu_slot_lanes"
        if pos is not None and pos in cut and lanes > cut[pos][0]:
            lanes, how = cut[pos][0], f"{how}, cut to x{cut[pos][0]} ({cut[pos][1]})"
        wired = lanes
        gens = [card.spec.pcie_gen]
        if build.cpu is not None:
            gens.append(build.cpu.pcie_gen)
        if board is not None and board.pcie_gen is not None:
            gens.append(board.pcie_gen)
        if slot_gen is not None:
            gens.append(slot_gen)
        if card.riser is not None:
            gens.append(card.riser.gen)
            if card.riser.lanes is not None:
                lanes = min(lanes, card.riser.lanes)
        if source == "chipset" and board is not None and board.chipset_uplink_lanes:
            lanes = min(lanes, board.chipset_uplink_lanes)
        link = CardLink(
            card, i, min(lanes, card.spec.pcie_lanes), min(gens), how, source, pos, wired
        )
        links.append(link)
    return links, assumed, None


def cpu_lane_budget(build: Build, links: list[CardLink]) -> tuple[int, int, list[str]] | None:
    """(CPU lanes the slot map asks for, lanes the CPU has, what asks) or None without a CPU.

    Lanes come from the CPU: every CPU-wired GPU slot at its wired width, plus CPU-wired M.2
    sockets in use, must fit in the CPU's usable lanes (a 20-lane i9-14900K cannot wire
    x16/x16/x16). Slots behind the chipset or a PCIe switch share an uplink instead.
    """
    if build.cpu is None:
        return None
    asks = [
        (link.wired_lanes, f"GPU {link.slot + 1} x{link.wired_lanes}")
        for link in links
        if link.source == "cpu" and link.how != ASSUMED_WIDTH
    ]
    board = build.motherboard
    if board is not None and board.m2:
        used = m2_in_use(build)
        asks += [
            (m.lanes, f"{m.name} x{m.lanes}")
            for m in board.m2
            if m.source == "cpu" and m.name in used
        ]
    total = sum(n for n, _ in asks)
    return total, build.cpu.pcie_lanes * build.cpu.count, [w for _, w in asks]


def check_lanes(build: Build) -> RuleResult:
    if not build.gpus:
        return [LANES.skip("no GPUs")]
    links, assumed, missing = card_links(build)
    if missing:
        return [LANES.skip(missing)]
    worst = min(links, key=lambda link: link.lanes)
    lanes = worst.lanes
    numbers = {
        "lanes_per_gpu": qty(lanes, "lanes"),
        "pcie_gen": qty(worst.gen, "gen"),
        "link_gbs": qty(link_gbs(worst.gen, lanes) if lanes else 0, "GB/s"),
        "x16_gbs": qty(link_gbs(worst.gen, 16), "GB/s"),
    }
    budget = cpu_lane_budget(build, links)
    if budget is not None and budget[0] > budget[1] and build.cpu is not None:
        asked, have, parts = budget
        numbers["cpu_lanes_asked"] = qty(asked, "lanes")
        numbers["cpu_lanes"] = qty(have, "lanes")
        return [
            LANES.finding(
                Severity.ERROR,
                f"The slot map asks the CPU for {asked} lanes ({', '.join(parts)}); the "
                f"{build.cpu.name} has {have}. The board cannot wire that: with this CPU its "
                "slots split (x8/x8, x8/x4/x4) or hang off the chipset, so these link widths "
                "are not real.",
                fix="Read the board manual's lane table for this CPU and enter the widths it "
                "gives, or choose a CPU with more lanes (Threadripper, Xeon W, EPYC); a board "
                'with a PCIe switch lists its slots with source = "switch".',
                numbers=numbers,
                defaults_used=assumed,
            )
        ]
    summary = ", ".join(f"x{link.lanes}" for link in links)
    where = f"GPU {worst.slot + 1} ({worst.card.name}) via {worst.how}"
    if lanes >= t.PCIE_LANES_OK:
        return [
            LANES.finding(
                Severity.OK,
                f"Links {summary} at {pcie_name(worst.gen)}; the narrowest is x{lanes} "
                f"({fmt(link_gbs(worst.gen, lanes))} GB/s).",
                numbers=numbers,
                defaults_used=assumed,
            )
        ]
    if lanes >= t.PCIE_LANES_WARN:
        lo, hi = t.PCIE_X4_LOSS_PCT
        return [
            LANES.finding(
                Severity.WARNING,
                f"{where} runs at x{lanes} ({fmt(link_gbs(worst.gen, lanes))} GB/s); expect "
                f"about {lo}-{hi} % slower data-parallel training than at x8/x16.",
                fix="Use a CPU/board with more lanes (Threadripper, Xeon W, EPYC) or fewer GPUs; "
                "check the manual for M.2 slots that share the GPU slots' lanes.",
                numbers=numbers,
                defaults_used=assumed,
            )
        ]
    detail = f"x{lanes}" if lanes else "no usable slot"
    return [
        LANES.finding(
            Severity.ERROR,
            f"{where}: {detail}. Below x4 a GPU cannot be fed for training.",
            fix="Move the card to a CPU-attached x8/x16 slot, drop a GPU, or choose a platform "
            "with more CPU lanes.",
            numbers=numbers,
            defaults_used=assumed,
        )
    ]


def check_transfer(build: Build) -> RuleResult:
    w = build.workload
    if not build.gpus:
        return [TRANSFER.skip("no GPUs")]
    if w is None or w.batch_size is None or w.step_time_s is None:
        return [TRANSFER.skip("needs workload.batch_size and workload.step_time_s")]
    per_sample = w.tensor_bytes or w.sample_bytes
    if per_sample is None:
        return [TRANSFER.skip("needs workload.tensor_bytes (or sample_bytes)")]
    links, assumed, missing = card_links(build)
    if missing:
        return [TRANSFER.skip(missing)]
    defaults = list(assumed)
    if w.tensor_bytes is None:
        defaults.append("tensor_bytes = sample_bytes (the batch is copied as read)")
    worst = min(links, key=lambda link: dma_gbs(link.gen, link.lanes) if link.lanes else 0)
    if worst.lanes == 0:
        return [TRANSFER.skip("a GPU has no usable slot (see pcie-lanes)")]
    rate = dma_gbs(worst.gen, worst.lanes)
    batch_bytes = w.batch_size * per_sample
    transfer_s = transfer_time_s(batch_bytes, rate)
    share = transfer_s / w.step_time_s
    numbers = {
        "batch_gb": qty(batch_bytes / 1e9, "GB"),
        "dma_gbs": qty(rate, "GB/s"),
        "transfer_ms": qty(transfer_s * 1e3, "ms"),
        "step_ms": qty(w.step_time_s * 1e3, "ms"),
        "share_of_step": qty(share * 100, "%"),
    }
    text = (
        f"A {fmt(batch_bytes / 1e9)} GB batch takes {fmt(transfer_s * 1e3)} ms at "
        f"{fmt(rate)} GB/s ({pcie_name(worst.gen)} x{worst.lanes}), {fmt(share * 100)} % of the "
        f"{fmt(w.step_time_s * 1e3)} ms step."
    )
    if share >= 1:
        return [
            TRANSFER.finding(
                Severity.ERROR,
                text + " The copy is longer than the step: the GPU waits even with prefetching.",
                fix="Copy uint8 images and normalise on the GPU (4x fewer bytes), use a wider or "
                "newer link, or larger per-step compute.",
                numbers=numbers,
                defaults_used=defaults,
            )
        ]
    if share >= t.INPUT_BOUND_FRACTION:
        return [
            TRANSFER.finding(
                Severity.WARNING,
                text + " Copied synchronously this makes the job input-bound.",
                fix="Prefetch asynchronously: pin_memory=True and copy on a side stream "
                "(dlrig.pipeline.Prefetcher), so the copy overlaps compute.",
                numbers=numbers,
                defaults_used=defaults,
            )
        ]
    return [
        TRANSFER.finding(
            Severity.OK,
            text + " Small enough to hide behind compute.",
            numbers=numbers,
            defaults_used=defaults,
        )
    ]
