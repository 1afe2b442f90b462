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


@dataclass(frozen=True)
class CardLink:
    card: GpuGroup
    slot: int
    lanes: int
    gen: int
    how: str


def card_links(build: Build) -> tuple[list[CardLink], list[str], str | None]:
    """Each card's electrical lanes and generation, the assumptions made, or why it can't tell."""
    cards = build.cards()
    board = build.motherboard
    slot_map = board.gpu_slot_lanes if board and board.gpu_slot_lanes else None
    shared = None
    assumed: list[str] = []
    if build.cpu is not None and build.cpu.pcie_lanes > 0 and cards:
        shared = link_width(build.cpu.pcie_lanes * build.cpu.count / len(cards))
    links = []
    for i, card in enumerate(cards):
        if card.slot_lanes is not None:
            lanes, how = card.slot_lanes, f"gpus '{card.name}' pcie_lanes"
        elif slot_map is not None and i < len(slot_map):
            lanes, how = slot_map[i], f"motherboard.gpu_slot_lanes[{i}]"
        elif slot_map is not None:
            lanes, how = 0, f"no slot left in motherboard.gpu_slot_lanes for GPU {i + 1}"
        elif shared is not None:
            lanes, how = shared, "CPU lanes / GPUs"
            if "CPU lanes / GPUs" not in assumed:
                assumed.append(
                    "lanes per GPU = CPU lanes / GPUs (give motherboard.gpu_slot_lanes for the "
                    "board's real lane map; M.2 drives may take lanes)"
                )
        else:
            return [], [], "needs [cpu] pcie_lanes or motherboard.gpu_slot_lanes"
        gens = [card.spec.pcie_gen]
        if build.cpu is not None:
            gens.append(build.cpu.pcie_gen)
        if board is not None and board.pcie_gen is not None:
            gens.append(board.pcie_gen)
        links.append(CardLink(card, i, min(lanes, card.spec.pcie_lanes), min(gens), how))
    return links, assumed, None


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
