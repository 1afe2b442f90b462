"""What `dlrig recommend` returns: proposals for a budget and a workload, the cost/throughput
Pareto front, a performance-per-money table across GPUs, and what was left out and why.

Money is in `currency` throughout (catalog prices are USD, converted at a dated rate, or the
user's prices file). The JSON form is `Recommendation.model_dump(by_alias=True)`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dlrig.model.estimate import Interval
from dlrig.model.finding import Finding

RECOMMEND_SCHEMA = "dlrig.recommend/1"


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class PriceLine(_Out):
    """One part of a proposal's price."""

    part: str = Field(description="gpu, cpu, platform, cooler, psu, memory, storage")
    name: str
    count: int
    unit_price: float
    price: float = Field(description="unit_price x count")
    price_date: str | None = None
    condition: str = Field(default="new", description="new, used or refurbished")
    price_kind: str = Field(
        default="msrp", description="msrp (launch list price), street, used, or user"
    )
    source: str = Field(description="catalog file, or the user's prices file")
    stale: bool = Field(default=False, description="the price is more than 6 months old")


class Proposal(_Out):
    name: str
    gpu: str
    gpu_condition: str = Field(default="new", description="used: the GPUs are bought used")
    n_gpus: int
    cpu: str
    platform: str
    price: float = Field(description="total, in `currency`")
    currency: str
    throughput: float = Field(description="the estimator's rate for the workload, whole machine")
    throughput_unit: str = Field(description="tokens/s or samples/s")
    throughput_interval: Interval | None = Field(
        default=None, description="of `throughput`: the fitted group's LOSO p80 |error|"
    )
    score: float = Field(description="throughput per 1000 units of currency")
    score_unit: str
    on_pareto_front: bool
    value_rank: int | None = Field(default=None, description="1 = best throughput per money")
    time_hours: float | None = Field(
        default=None, description="for --tokens / --epochs of work, at the estimated rate"
    )
    time_hours_interval: Interval | None = Field(
        default=None, description="from the rate's interval: time = work / rate"
    )
    wall_power_w: float = Field(description="at the wall under load: GPUs + CPU + other / PSU eff.")
    energy_kwh: float = Field(description="over the energy period, under load")
    energy_cost: float | None = None
    cloud_price_per_gpu_hour: float | None = Field(
        default=None,
        description="renting one of these GPUs, in `currency`: --cloud-price-per-gpu-hour, or "
        "the shipped on-demand price of this GPU (cloud_price_source)",
    )
    cloud_price_source: str | None = None
    cloud_break_even_hours: float | None = Field(
        default=None,
        description="hours of use above which buying beats renting the same GPUs (with power)",
    )
    cloud_break_even_months: float | None = Field(
        default=None, description="cloud_break_even_hours in months of round-the-clock use"
    )
    cloud_cost: float | None = Field(
        default=None,
        description="renting the same GPUs for the work (--tokens / --epochs), in `currency`",
    )
    cloud_cost_interval: Interval | None = Field(
        default=None, description="from time_hours_interval: the rent scales with the time"
    )
    price_lines: list[PriceLine]
    findings: list[Finding] = Field(description="dlrig check on the build: no errors")
    reasons: list[str] = Field(description="why it ranks where it does")
    build: dict[str, Any] = Field(description="the build file as written to TOML")


class GpuValue(_Out):
    """One row of the performance-per-money table: a single card of each GPU model."""

    gpu: str
    memory_gb: float
    price: float | None
    price_date: str | None
    condition: str | None
    throughput_per_gpu: float | None
    score: float | None = Field(description="throughput per 1000 units of currency, one card")
    min_gpus: int | None = Field(description="fewest cards on which the workload fits")
    fits: bool
    reason: str | None = Field(default=None, description="why it is not a candidate")


class StepUp(_Out):
    """The cheapest build that is faster than the best proposal, when the budget stops short."""

    gpu: str
    n_gpus: int
    price: float = Field(description="the cheapest valid build of this configuration")
    throughput: float


class Rejection(_Out):
    """A part or combination left out, and why (`--explain`)."""

    what: str
    reason: str


class Recommendation(_Out):
    schema_: str = Field(default=RECOMMEND_SCHEMA, alias="schema", serialization_alias="schema")
    workload: str = Field(description="model:task as given")
    model: str
    task: str
    quant: str
    seq_len: int | None
    budget: float
    currency: str
    throughput_unit: str
    score_unit: str
    energy_hours: float = Field(description="the period energy costs are given for")
    electricity_price: float | None
    cloud_price_per_gpu_hour: float | None
    candidates_evaluated: int
    candidates_within_budget: int
    cheapest_valid_price: float | None = Field(
        default=None, description="the cheapest build that passes the checks, whatever the budget"
    )
    rank_by: str = Field(
        default="speed", description="speed: fastest first; value: throughput per money first"
    )
    proposals: list[Proposal] = Field(description="top N, one per GPU x count, in rank_by order")
    pareto_front: list[Proposal] = Field(description="cheapest build for each throughput level")
    gpu_value: list[GpuValue]
    budget_note: str | None = Field(
        default=None,
        description="why the fastest proposal leaves more than a third of the budget unspent",
    )
    next_step_up: StepUp | None = None
    rejected: list[Rejection] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)

    model_config = ConfigDict(frozen=True, populate_by_name=True, defer_build=True)
