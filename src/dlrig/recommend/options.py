"""`dlrig recommend`'s options as one validated model, and the one function that turns them into
a Recommendation: the command line and `dlrig serve`'s /api/recommend both call it, so the two
take the same names, apply the same limits and say the same errors."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dlrig.model.choices import Precision, Quant
from dlrig.model.recommend import Recommendation
from dlrig.recommend.request import DEFAULT_ENERGY_HOURS, DEFAULT_TOP, MAX_GPUS_LIMIT, Request

# A list of GPU names longer than the catalog is a mistake or an attack, not a search.
MAX_GPU_NAMES = 100
MAX_NAME_CHARS = 200


class RecommendOptions(BaseModel):
    """The options by their command-line names ("--max-gpus" is `max_gpus`); `gpu` is the
    repeated `--gpu`. Strict types: "5000" is not a budget, a number is; `true` is not a count
    (the enums take their text, as JSON carries them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    budget: float = Field(strict=True)
    workload: str = Field(strict=True, min_length=1, max_length=MAX_NAME_CHARS)
    currency: str | None = Field(strict=True, default=None, min_length=3, max_length=3)
    region: str | None = Field(strict=True, default=None, min_length=1, max_length=MAX_NAME_CHARS)
    vat: float | None = Field(default=None, strict=True)  # range: market.vat_choice
    max_gpus: int = Field(default=MAX_GPUS_LIMIT, strict=True)
    gpu: list[str] = Field(strict=True, default_factory=list, max_length=MAX_GPU_NAMES)
    precision: Precision | None = None  # None: the card's own (model.workload.default_precision)
    quant: Quant = Quant.NONE
    seq_len: int | None = Field(strict=True, default=None, ge=1, le=10_000_000)
    context: int | None = Field(strict=True, default=None, ge=1, le=10_000_000)
    batch_size: int | None = Field(strict=True, default=None, ge=1, le=1_000_000)
    tokens: float | None = Field(default=None, strict=True)
    epochs: float | None = Field(default=None, strict=True)
    dataset_size: int | None = Field(strict=True, default=None, ge=1, le=10**13)
    electricity_price: float | None = Field(default=None, strict=True)
    energy_hours: float = Field(default=DEFAULT_ENERGY_HOURS, strict=True)
    cloud_price_per_gpu_hour: float | None = Field(default=None, strict=True)
    mains_voltage: float | None = Field(default=None, strict=True)
    circuit_amps: float | None = Field(default=None, strict=True)
    top: int = Field(strict=True, default=DEFAULT_TOP, ge=1, le=50)
    rank: Literal["speed", "value"] = "speed"
    used: bool = Field(default=False, strict=True)


def parse_options(data: Any, shown: str) -> RecommendOptions:
    """`data` (a JSON object) as options, or one BuildFileError naming the key."""
    from dlrig.model.messages import validation_error

    try:
        return RecommendOptions.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, shown, RecommendOptions) from None


def options_from_flags(**values: Any) -> RecommendOptions:
    """The options the command line gave (typed by typer), a bad one named as its flag."""
    from dlrig.model.messages import flag_error

    try:
        return RecommendOptions(**values)
    except ValidationError as exc:
        raise flag_error(exc, {"cloud_price_per_gpu_hour": "--cloud-price-per-gpu-hour"}) from None


def recommend_for(
    opts: RecommendOptions,
    *,
    today: date,
    prices: dict[str, Any] | None = None,
    prices_shown: str = "",
) -> Recommendation:
    """The recommendation `opts` asks for, at today's prices (plus a parsed prices file)."""
    from dlrig.recommend import recommend
    from dlrig.recommend.market import apply_prices, catalog_market, region_currency
    from dlrig.recommend.request import parse_workload

    currency = opts.currency or (region_currency(opts.region) if opts.region else "USD")
    model, task = parse_workload(opts.workload)
    job = {
        "precision": opts.precision.value if opts.precision is not None else None,
        "quant": opts.quant.value if opts.quant != Quant.NONE else None,
        "seq_len": opts.seq_len,
        "context": opts.context,
        "batch_size": opts.batch_size,
    }
    request = Request(
        workload=opts.workload,
        model=model,
        task=task,
        budget=opts.budget,
        currency=currency.upper(),
        max_gpus=opts.max_gpus,
        top=opts.top,
        job={k: v for k, v in job.items() if v is not None},
        tokens=opts.tokens,
        epochs=opts.epochs,
        dataset_size=opts.dataset_size,
        electricity_price=opts.electricity_price,
        energy_hours=opts.energy_hours,
        cloud_price_per_gpu_hour=opts.cloud_price_per_gpu_hour,
        mains_voltage=opts.mains_voltage,
        circuit_amps=opts.circuit_amps,
        gpus=tuple(opts.gpu),
        rank=opts.rank,
        used=opts.used,
    )
    market = catalog_market(request.currency, region=opts.region, vat_pct=opts.vat, today=today)
    if prices is not None:
        market = apply_prices(market, prices, prices_shown)
    return recommend(request, market)
