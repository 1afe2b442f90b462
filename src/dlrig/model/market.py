"""Parts that can be bought now, with prices: what `dlrig recommend` builds machines from.

Rows of `catalog/data/{market_prices,platforms,psus,memory_kits,drives,currencies}.csv`
(documented in `catalog/data/MARKET.md`). Prices are in US dollars with the month they were
seen; a user prices file overrides them. Field names carry their units.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dlrig.model.parts import PsuRating, StorageKind

MemoryType = Literal["ddr5-udimm", "ddr5-rdimm"]
Condition = Literal["new", "used", "refurbished"]
LinkWidth = Literal[1, 2, 4, 8, 16]


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class MarketPrice(_Row):
    """What one GPU or CPU of the spec catalog costs to buy now."""

    kind: Literal["gpu", "cpu"]
    name: str
    price_usd: float = Field(gt=0)
    price_date: str
    condition: Condition = "new"
    source: str
    notes: str = ""


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
    max_memory_gb: float = Field(gt=0)
    pcie_gen: int = Field(ge=1, le=6)
    gpu_lanes: tuple[tuple[LinkWidth, ...], ...] = Field(
        description="lanes of each GPU slot when n GPUs are installed: gpu_lanes[n - 1]"
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
    pcie_8pin: int = Field(ge=0)
    pcie_16pin: int = Field(ge=0)
    price_usd: float = Field(gt=0)
    price_date: str
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
    source: str
    notes: str = ""


class Drive(_Row):
    name: str
    kind: StorageKind
    size_tb: float = Field(gt=0)
    read_mbs: float = Field(gt=0)
    price_usd: float = Field(gt=0)
    price_date: str
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
    gpu_prices: dict[str, MarketPrice] = Field(description="by catalog GPU name")
    cpu_prices: dict[str, MarketPrice] = Field(description="by catalog CPU name")
    platforms: tuple[Platform, ...]
    psus: tuple[Psu, ...]
    memory_kits: tuple[MemoryKit, ...]
    drives: tuple[Drive, ...]
    price_note: str = Field(default="", description="where the prices come from, for the report")
