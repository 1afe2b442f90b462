"""Parts that can be bought now, with prices: what `dlrig recommend` builds machines from.

Rows of `catalog/data/{market_prices,platforms,psus,memory_kits,drives,currencies}.csv`
(documented in `catalog/data/MARKET.md`). Prices are in US dollars with the month they were
seen; a user prices file overrides them. Field names carry their units.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dlrig.model.parts import PsuRating, StorageKind
from dlrig.model.price import Condition, MarketPrice, PriceKind  # noqa: F401  (re-exported)

MemoryType = Literal["ddr5-udimm", "ddr5-rdimm"]
LinkWidth = Literal[1, 2, 4, 8, 16]
GpuMount = Literal["slots", "risers"]
CaseKind = Literal["tower", "mesh-tower", "open-frame", "4u-chassis", "2u-server"]
# A price seen more than this many months before today is flagged as possibly stale: GPU and
# memory street prices moved by 40 % or more within six months in 2025-2026 (MARKET.md).
STALE_AFTER_MONTHS = 6
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def price_age_months(price_date: str | None, today: date) -> int | None:
    """Whole months from a `YYYY-MM` price date to `today`; None for "user" or no date."""
    match = _YEAR_MONTH.match(price_date or "")
    if match is None:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    return (today.year - year) * 12 + (today.month - month)


def is_stale(price_date: str | None, today: date) -> bool:
    """True when the price is more than STALE_AFTER_MONTHS months old."""
    age = price_age_months(price_date, today)
    return age is not None and age > STALE_AFTER_MONTHS


def price_label(kind: str, condition: str = "new") -> str:
    """How a price is described next to it: "launch MSRP", "new street", "used"."""
    if condition == "used" and kind != "used":
        return f"used, {PRICE_KIND_LABEL.get(kind, kind)}"
    return PRICE_KIND_LABEL.get(kind, kind)


PRICE_KIND_LABEL = {
    "msrp": "launch MSRP",
    "street": "new street",
    "used": "used",
    "user": "your price",
}


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Platform(_Row):
    """A motherboard and case pair: the slots, lanes and room the GPUs get."""

    id: str
    name: str
    socket: str
    board: str
    board_price_usd: float = Field(ge=0)
    memory_type: MemoryType
    memory_slots: int = Field(gt=0)
    memory_channels: int = Field(gt=0)
    memory_modules_min: int = Field(
        default=1, gt=0, description="DIMMs the board is built with: one per channel it wires"
    )
    max_memory_gb: float = Field(gt=0)
    pcie_gen: int = Field(ge=1, le=6)
    gpu_lanes: tuple[tuple[LinkWidth, ...], ...] = Field(
        description="lanes of each GPU slot when n GPUs are installed: gpu_lanes[n - 1]"
    )
    gpu_mount: GpuMount = Field(
        default="slots", description="cards in the board's slots, or on a frame over risers"
    )
    board_expansion_slots: int = Field(gt=0)
    case: str
    case_price_usd: float = Field(ge=0)
    case_expansion_slots: int = Field(gt=0)
    case_max_gpu_length_mm: float = Field(gt=0)
    cpu_cooler_price_usd: float = Field(ge=0)
    psu_included_w: float | None = Field(default=None, gt=0)
    psu_included_rating: PsuRating | None = None
    psu_included_pcie_8pin: int | None = Field(default=None, ge=0)
    psu_included_pcie_16pin: int | None = Field(default=None, ge=0)
    price_date: str
    price_kind: PriceKind = "msrp"
    source: str
    notes: str = ""
    cpus: tuple[str, ...] = Field(
        default=(), description="the only CPUs the board takes (empty: any of the socket)"
    )

    @property
    def max_gpus(self) -> int:
        return len(self.gpu_lanes)

    @property
    def price_usd(self) -> float:
        return self.board_price_usd + self.case_price_usd + self.cpu_cooler_price_usd


class Psu(_Row):
    name: str
    watts: float = Field(gt=0)
    rating: PsuRating
    atx3: bool
    atx_version: str = Field(default="", description="3.1 (12V-2x6), 3.0 (12VHPWR), 2.x")
    pcie_8pin: int = Field(ge=0)
    pcie_16pin: int = Field(ge=0)
    price_usd: float = Field(gt=0)
    price_date: str
    price_kind: PriceKind = "msrp"
    source: str
    notes: str = ""


class MemoryKit(_Row):
    name: str
    memory_type: MemoryType
    size_gb: float = Field(gt=0)
    modules: int = Field(gt=0)
    speed_mts: float = Field(gt=0)
    price_usd: float = Field(gt=0)
    price_date: str
    price_kind: PriceKind = "street"
    source: str
    notes: str = ""


class Drive(_Row):
    name: str
    kind: StorageKind
    size_tb: float = Field(gt=0)
    read_mbs: float = Field(gt=0)
    price_usd: float = Field(gt=0)
    price_date: str
    price_kind: PriceKind = "street"
    source: str
    notes: str = ""


class Case(_Row):
    """A case, open frame or chassis (platforms.csv pairs one with each board)."""

    name: str
    kind: CaseKind
    expansion_slots: int = Field(gt=0, description="slot positions (GPU positions on a frame)")
    max_gpu_length_mm: float = Field(gt=0)
    gpu_mount: GpuMount
    max_gpus: int = Field(gt=0)
    psu_bays: int = Field(gt=0, description="2: takes a second PSU (dual_psu.csv)")
    price_usd: float = Field(ge=0, description="0: sold only as part of a platform barebone")
    price_date: str
    price_kind: PriceKind
    source: str
    notes: str = ""


class Riser(_Row):
    """A PCIe riser cable for open frames: its generation and length limit the link."""

    name: str
    pcie_gen: int = Field(ge=1, le=6)
    lanes: int = Field(ge=1, le=16)
    length_mm: float = Field(gt=0)
    price_usd: float = Field(gt=0)
    price_date: str
    price_kind: PriceKind
    source: str
    notes: str = ""


class DualPsu(_Row):
    """Two PSUs started together (add2psu relay or sync cable): caveats in `notes`."""

    name: str
    psu: str = Field(description="a psus.csv name")
    count: int = Field(ge=2)
    sync: str
    sync_price_usd: float = Field(ge=0)
    combined_w: float = Field(gt=0)
    price_date: str
    price_kind: PriceKind
    source: str
    notes: str = ""


class VatRate(_Row):
    """A region's standard VAT rate: catalog prices are before tax; shops there add it."""

    region: str
    country: str
    currency: str
    vat_pct: float = Field(ge=0, lt=100)
    date: str
    source: str
    notes: str = ""


class Currency(_Row):
    code: str
    per_usd: float = Field(gt=0, description="units of this currency per US dollar")
    date: str
    source: str


class Market(BaseModel):
    """Everything the recommender may buy. Prices stay in US dollars (a user's prices file is
    converted on reading); `currency` and `per_usd` say how to show them."""

    model_config = ConfigDict(frozen=True)

    currency: str = "USD"
    per_usd: float = Field(default=1.0, gt=0, description="units of `currency` per US dollar")
    rate_note: str = Field(default="", description="the exchange rate's date and source")
    vat_pct: float = Field(default=0.0, ge=0, lt=100, description="added to every price shown")
    today: date | None = Field(default=None, description="prices older than 6 months are flagged")
    vat_note: str = Field(default="", description="the VAT rate's region, date and source")
    gpu_prices: dict[str, MarketPrice] = Field(description="by catalog GPU name")
    cpu_prices: dict[str, MarketPrice] = Field(description="by catalog CPU name")
    platforms: tuple[Platform, ...]
    psus: tuple[Psu, ...]
    memory_kits: tuple[MemoryKit, ...]
    drives: tuple[Drive, ...]
    price_note: str = Field(default="", description="where the prices come from, for the report")
