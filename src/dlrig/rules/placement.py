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


def placed_cards(build: Build) -> tuple[list[Placed], list[int]]:
    """Cards with a slot position and a known width, sorted by position, and the indexes of
    PCIe cards in the board's slots that lack a position or width. Cards on risers are left
    out: they are mounted away from the board's slot row."""
    placed: list[Placed] = []
    missing: list[int] = []
    for i, (card, pos) in enumerate(zip(build.cards(), build.card_slots(), strict=True)):
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
