"""Where each card sits: slot positions and widths, shared by slot-spacing, cooling and NVLink.

A slot position is the physical expansion slot counted from the CPU (1 = nearest); positions are
one bracket (20.32 mm) apart, so a card of width w in slot p covers p .. p + w and the next card
must start at or after p + w. The gap between two cards is the empty width between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

from dlrig.model.build import Build, GpuGroup


@dataclass(frozen=True)
class Placed:
    card: GpuGroup
    index: int  # 0-based in build.cards()
    position: int
    width: float

    @property
    def last_bracket(self) -> int:
        """The last bracket the card covers: a 2.5-slot card in slot 1 covers 1, 2 and 3."""
        return self.position + math.ceil(self.width) - 1


def positions(build: Build) -> tuple[list[int | None], bool]:
    """Each card's slot position: the file's, else the board's free slots in order when the
    file gives a slot map (as pcie-lanes assigns them); and whether any was assumed."""
    given = build.card_slots()
    board = build.motherboard
    if board is None or not board.slots or all(p is not None for p in given):
        return given, False
    free = sorted(s.position for s in board.slots if s.position not in given)
    out: list[int | None] = []
    assumed = False
    for pos in given:
        if pos is None and free:
            pos, assumed = free.pop(0), True
        out.append(pos)
    return out, assumed


def placed_cards(build: Build) -> tuple[list[Placed], list[int]]:
    """Cards with a slot position and a known width, sorted by position, and the indexes of
    PCIe cards in the board's slots that lack a position or width. Cards on risers are left
    out: they are mounted away from the board's slot row."""
    placed: list[Placed] = []
    missing: list[int] = []
    where, _ = positions(build)
    for i, (card, pos) in enumerate(zip(build.cards(), where, strict=True)):
        if card.spec.form_factor != "pcie" or card.riser is not None:
            continue
        if pos is None or card.slot_width is None:
            missing.append(i)
            continue
        placed.append(Placed(card, i, pos, card.slot_width))
    return sorted(placed, key=lambda p: p.position), missing


def gaps(placed: list[Placed]) -> list[tuple[Placed, Placed, float]]:
    """(card, next card, free slots between them) for neighbours; negative = they collide."""
    return [(a, b, b.position - (a.position + a.width)) for a, b in pairwise(placed)]
