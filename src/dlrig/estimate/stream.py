"""The streaming roof: the fraction of its datasheet DRAM bandwidth a card's element-wise work
reaches (the memory-bound share of a training step: the ops between GEMMs, the optimizer step,
LoRA's adapter path, a CNN's batch norm and activations).

catalog/data/stream_bandwidth.csv holds published measurements of large-array streaming
(device-local copies timed by cuda-samples' p2pBandwidthLatencyTest, clpeak's read kernel, a
memcopy), one row each, with the kernel, the tool and what was measured.

fraction(gpu) =
1. The card measured: the median of its rows over its datasheet bandwidth. The median, because
   the sources differ in method (copy vs read-only, one card vs the median of a box) and one
   board with memory clocked above reference must not set it.
2. A card never measured: the median fraction of the measured cards of its memory family
   (HBM, GDDR6X, GDDR6, GDDR7, GDDR5, LPDDR), one value per card, when at least
   MIN_FAMILY_CARDS cards of the family are measured. The family, because the DRAM protocol
   and controller set how close a stream gets to the pin rate (refresh, bank and read/write
   turnaround overheads differ by protocol), while the SMs' clock and power limit barely do:
   the RTX 4090 at a 248 W limit still reads 921 GB/s (clpeak#106).
3. Otherwise efficiencies.csv elementwise_bandwidth_fraction (0.8, the round lower end of
   commonly reported 80-92 %): the prior this table refines.
The fraction is derived from the table every run, never typed in.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from dlrig.catalog import load
from dlrig.catalog import stream_bandwidth as sb
from dlrig.estimate import params as p
from dlrig.model.parts import GpuSpec

# A family median from a single card would just copy that card; two is the least a median
# of cards means anything for.
MIN_FAMILY_CARDS = 2
PRIOR_KEY = "elementwise_bandwidth_fraction"


@dataclass(frozen=True)
class Stream:
    fraction: float  # of the datasheet DRAM bandwidth
    basis: str  # where the fraction comes from, for the estimate's sources


def memory_family(gpu: GpuSpec) -> str:
    """HBM2/HBM2e/HBM3/HBM3e -> "HBM", LPDDR5/5X -> "LPDDR", GDDR kinds as listed; "" when
    gpus.csv does not say."""
    kind = (gpu.memory_type or "").upper()
    if kind.startswith("HBM"):
        return "HBM"
    if kind.startswith("LPDDR"):
        return "LPDDR"
    return kind


def card_fraction(gpu: GpuSpec, rows: Iterable[sb.StreamRate]) -> tuple[float, int] | None:
    """Median measured rate over the datasheet bandwidth, and the number of rows; None when no
    row measured the card."""
    mine = [r.gbs for r in rows if r.gpu == gpu.name]
    if not mine or not gpu.memory_bandwidth_gbs:
        return None
    return statistics.median(mine) / gpu.memory_bandwidth_gbs, len(mine)


def family_fractions(
    gpus: Iterable[GpuSpec], rows: Iterable[sb.StreamRate]
) -> dict[str, tuple[float, int]]:
    """Median card fraction per memory family over the measured cards (one value per card)."""
    rows = tuple(rows)
    per: dict[str, list[float]] = {}
    for gpu in gpus:
        found = card_fraction(gpu, rows)
        if found:
            per.setdefault(memory_family(gpu), []).append(found[0])
    return {k: (statistics.median(v), len(v)) for k, v in per.items()}


def fraction_from(
    gpu: GpuSpec, gpus: Iterable[GpuSpec], rows: Iterable[sb.StreamRate], prior: float
) -> Stream:
    """The streaming fraction of `gpu` from a given table (the pure rule; `stream` applies
    it to the shipped one)."""
    rows = tuple(rows)
    return _rule(gpu, rows, family_fractions(gpus, rows), prior)


def _rule(
    gpu: GpuSpec,
    rows: tuple[sb.StreamRate, ...],
    families: dict[str, tuple[float, int]],
    prior: float,
) -> Stream:
    found = card_fraction(gpu, rows)
    if found:
        return Stream(found[0], f"median of {found[1]} measured streaming rate(s)")
    family = memory_family(gpu)
    frac, n = families.get(family, (0.0, 0))
    if family and n >= MIN_FAMILY_CARDS:
        return Stream(frac, f"not measured: median fraction of the {n} measured {family} cards")
    return Stream(prior, f"not measured, too few measured {family or 'other'} cards: {PRIOR_KEY}")


@cache
def _shipped_families() -> dict[str, tuple[float, int]]:
    """The family medians of the shipped table, derived once per process (as roof.py's
    class_fractions)."""
    return family_fractions(load.gpus(), sb.rates())


def fraction(gpu: GpuSpec) -> float:
    """The fraction of `gpu`'s datasheet DRAM bandwidth its element-wise work streams at."""
    return stream(gpu).fraction


def stream(gpu: GpuSpec) -> Stream:
    """The shipped table's rule for any card, a catalog one or one probed or described by the
    user (a card outside the table takes its family's median)."""
    return _rule(gpu, sb.rates(), _shipped_families(), p.value(PRIOR_KEY))
