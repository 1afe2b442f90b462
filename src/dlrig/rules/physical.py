"""Guide section "Motherboard and case": slot spacing and card length."""

from __future__ import annotations

import math

from dlrig.model import thresholds as t
from dlrig.model.build import Build
from dlrig.model.finding import Severity, qty
from dlrig.rules.base import RuleInfo, RuleResult, fmt, no_pcie_reason, pcie_groups
from dlrig.rules.placement import Placed, gaps, placed_cards, positions

SLOTS = RuleInfo(
    id="slot-spacing",
    section="physical",
    title="Expansion slots for the GPUs",
    why=(
        "Each card covers its slot width in brackets (2, 2.5, 3 or 3.5); the last card may hang "
        "past the board into the case's extra bracket, so a 7-slot board in an 8-slot case holds "
        "four 2-slot cards and no more."
    ),
    source=t.PHYSICAL_SOURCE,
)
LENGTH = RuleInfo(
    id="case-length",
    section="physical",
    title="GPU length against the case",
    why="Modern cards reach ~360 mm; a case that cannot take the card's length cannot hold it.",
    source=t.PHYSICAL_SOURCE,
)


def slots_available(build: Build) -> int | None:
    """Brackets the cards can use: the board's slots plus one overhang, capped by the case."""
    board = build.motherboard.expansion_slots if build.motherboard else None
    case = build.case.expansion_slots if build.case else None
    if board is not None and case is not None:
        return min(board + t.OVERHANG_SLOTS, case)
    return board if board is not None else case


def check_slots(build: Build) -> RuleResult:
    pcie = pcie_groups(build)
    if not pcie:
        return [SLOTS.skip(no_pcie_reason(build))]
    unknown = [i for i, g in pcie if g.slot_width is None]
    if unknown:
        name = build.gpus[unknown[0]].name
        return [SLOTS.skip(f"slot width of '{name}' unknown; set gpus[{unknown[0]}].slot_width")]
    placed, missing = placed_cards(build)
    if placed and not missing:
        return _by_position(build, placed)
    available = slots_available(build)
    if available is None:
        return [SLOTS.skip("needs motherboard.expansion_slots or case.expansion_slots")]
    on_board = [(i, g) for i, g in pcie if g.riser is None]
    needed = sum((g.slot_width or 0) * g.count for _, g in on_board)
    numbers = {"slots_needed": qty(needed, "slots"), "slots_available": qty(available, "slots")}
    text = f"The GPUs cover {fmt(needed)} slot brackets; {available} are usable."
    defaults = [
        "card positions not given: only bracket counts compared, cards assumed packed from the "
        "first slot (set gpus[i].slots and motherboard.slots to check real positions)"
    ]
    if build.case is None or build.case.expansion_slots is None:
        defaults.append("no case.expansion_slots: no overhang slot assumed")
    if needed > available:
        return [
            SLOTS.finding(
                Severity.ERROR,
                text,
                fix="Use narrower (blower or 2-slot) cards, a board/case with more slots, riser "
                "cables in an open frame, or fewer GPUs.",
                numbers=numbers,
                defaults_used=defaults,
            )
        ]
    return [SLOTS.finding(Severity.OK, text, numbers=numbers, defaults_used=defaults)]


def _by_position(build: Build, placed: list[Placed]) -> RuleResult:
    """Each card from its slot position and width: no card may cover the next one's slot, and
    the last must end within the board's slots plus one overhang bracket (capped by the case)."""
    available = slots_available(build)
    layout = ", ".join(f"slot {p.position}: {fmt(p.width)}-slot {p.card.name}" for p in placed)
    numbers = {"gpus_placed": qty(len(placed), "GPUs")}
    out: RuleResult = []
    for a, b, gap in gaps(placed):
        if gap < 0:
            out.append(
                SLOTS.finding(
                    Severity.ERROR,
                    f"The {fmt(a.width)}-slot {a.card.name} in slot {a.position} covers slots "
                    f"{a.position}-{a.last_bracket}, so the card in slot {b.position} cannot fit "
                    f"({layout}).",
                    fix=f"Move the second card to slot {math.ceil(a.position + a.width)} or "
                    "later, use a narrower card, or mount it on a riser.",
                    numbers=numbers,
                )
            )
    last = placed[-1]
    if available is not None:
        numbers["slots_available"] = qty(available, "slots")
        numbers["last_bracket"] = qty(last.last_bracket, "slot")
        if last.last_bracket > available:
            out.append(
                SLOTS.finding(
                    Severity.ERROR,
                    f"The {fmt(last.width)}-slot {last.card.name} in slot {last.position} needs "
                    f"brackets up to {last.last_bracket}; the board and case give {available}.",
                    fix="Put the card in a higher slot, use a case with more expansion slots, "
                    "or a narrower card.",
                    numbers=numbers,
                )
            )
    if positions(build)[1]:
        note = "cards without gpus[i].slots placed in motherboard.slots' free slots in order"
        out = [f.model_copy(update={"defaults_used": [*f.defaults_used, note]}) for f in out]
    if out:
        return out
    defaults = []
    if positions(build)[1]:
        defaults = ["cards without gpus[i].slots placed in motherboard.slots' free slots in order"]
    return [
        SLOTS.finding(
            Severity.OK,
            f"Cards fit by position: {layout}.",
            numbers=numbers,
            defaults_used=defaults,
        )
    ]


def check_length(build: Build) -> RuleResult:
    if build.case is None or build.case.max_gpu_length_mm is None:
        return [LENGTH.skip("needs case.max_gpu_length_mm")]
    pcie = pcie_groups(build)
    if not pcie:
        return [LENGTH.skip(no_pcie_reason(build))]
    limit = build.case.max_gpu_length_mm
    out: RuleResult = []
    for i, g in pcie:
        if g.length_mm is None:
            out.append(LENGTH.skip(f"length of '{g.name}' unknown; set gpus[{i}].length_mm"))
            continue
        numbers = {"gpu_length_mm": qty(g.length_mm, "mm"), "case_max_mm": qty(limit, "mm")}
        text = f"{g.name}: {fmt(g.length_mm)} mm in a case that takes {fmt(limit)} mm."
        if g.length_mm > limit:
            fix = "Choose a larger case or a shorter model of the card."
            out.append(LENGTH.finding(Severity.ERROR, text, fix, numbers))
        else:
            out.append(LENGTH.finding(Severity.OK, text, numbers=numbers))
    return out
