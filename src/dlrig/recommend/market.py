"""The parts `dlrig recommend` may buy: the catalog's market files, converted to the user's
currency at a dated rate, with a user prices file laid over them.

A prices file (TOML) names its currency and any prices it wants to set; a GPU or CPU of the spec
catalog that has no market price becomes buyable when the file gives it one:

    currency = "EUR"
    [gpus]
    "RTX 3090" = 650          # used, from a local listing
    [platforms]
    am5-x870e-2gpu = 420      # board + case + cooler
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dlrig.catalog import load
from dlrig.catalog.lookup import find_cpu, find_gpu
from dlrig.errors import BuildFileError, CatalogLookupError, DlrigError
from dlrig.model.market import Market, MarketPrice
from dlrig.model.messages import validation_error

# Sanity limit on any one price (the dearest single parts are ~$50,000 GPUs; a full 8-GPU
# server ~$400,000): it only catches a misplaced digit, it is not advice.
MAX_PRICE = 10_000_000
SUGGESTIONS = 3

Price = Annotated[float, Field(gt=0, le=MAX_PRICE)]


class PricesFile(BaseModel):
    """A user prices file: every price in `currency`."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    currency: str = Field(min_length=3, max_length=3, description="ISO 4217, e.g. EUR")
    gpus: dict[str, Price] = Field(default_factory=dict)
    cpus: dict[str, Price] = Field(default_factory=dict)
    platforms: dict[str, Price] = Field(
        default_factory=dict, description="by platform id: board + case + cooler"
    )
    psus: dict[str, Price] = Field(default_factory=dict)
    memory_kits: dict[str, Price] = Field(default_factory=dict)
    drives: dict[str, Price] = Field(default_factory=dict)


def exchange_rate(code: str) -> tuple[float, str]:
    """(units of `code` per US dollar, a note with the rate's date and source)."""
    rates = load.currencies()
    code = code.upper()
    if code not in rates:
        known = ", ".join(sorted(rates))
        raise DlrigError(f"--currency: no exchange rate for {code!r}; known: {known}")
    rate = rates[code]
    if code == "USD":
        return 1.0, "catalog prices are in USD"
    return rate.per_usd, f"1 USD = {rate.per_usd:g} {code} ({rate.date}, {rate.source})"


def catalog_market(currency: str = "USD") -> Market:
    per_usd, note = exchange_rate(currency)
    prices = load.market_prices()
    return Market(
        currency=currency.upper(),
        per_usd=per_usd,
        rate_note=note,
        gpu_prices={p.name: p for p in prices if p.kind == "gpu"},
        cpu_prices={p.name: p for p in prices if p.kind == "cpu"},
        platforms=load.platforms(),
        psus=load.psus(),
        memory_kits=load.memory_kits(),
        drives=load.drives(),
        price_note="catalog market prices (catalog/data/market_prices.csv and the part files)",
    )


def _close(name: str, options: list[str]) -> list[str]:
    return difflib.get_close_matches(name, options, n=SUGGESTIONS, cutoff=0.4)


def _named(name: str, options: list[str], shown: str, key: str, kind: str) -> str:
    if name in options:
        return name
    folded = {o.lower(): o for o in options}
    if name.lower() in folded:
        return folded[name.lower()]
    raise BuildFileError(shown, key, f"unknown {kind} '{name}'", _close(name, options))


def _catalog_name(kind: str, name: str, shown: str, key: str) -> str:
    try:
        return (find_gpu if kind == "gpu" else find_cpu)(name).name
    except CatalogLookupError as exc:
        raise BuildFileError(shown, key, f"unknown {kind} '{name}'", exc.suggestions) from None


def _user_price(
    kind: str, name: str, usd: float, old: MarketPrice | None, shown: str
) -> MarketPrice:
    return MarketPrice(
        kind=kind,  # type: ignore[arg-type]
        name=name,
        price_usd=usd,
        price_date="user",
        condition=old.condition if old else "new",
        source=f"prices file {shown}",
    )


def apply_prices(market: Market, data: dict[str, Any], shown: str) -> Market:
    """Lay a parsed prices file over `market`; unknown names fail with close matches."""
    try:
        prices = PricesFile.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, shown) from None
    try:
        per_usd, _ = exchange_rate(prices.currency)
    except DlrigError as exc:
        raise BuildFileError(shown, "currency", str(exc).removeprefix("--currency: ")) from None

    def usd(amount: float) -> float:
        return amount / per_usd

    seen: dict[str, str] = {}

    def priced(kind: str, current: dict[str, MarketPrice], table: dict[str, float]) -> dict:
        out = dict(current)
        for name, amount in table.items():
            key = f"{kind}s.{name}"
            real = _catalog_name(kind, name, shown, key)
            if real in seen:  # 'RTX 3090' and 'GeForce RTX 3090' would silently keep one
                raise BuildFileError(
                    shown, key, f"'{seen[real]}' already prices {real}; give it once"
                )
            seen[real] = name
            out[real] = _user_price(kind, real, usd(amount), out.get(real), shown)
        return out

    def override(rows: tuple, table: dict[str, float], key: str, attr: str, kind: str) -> tuple:
        by_name = {getattr(r, attr): r for r in rows}
        out = dict(by_name)
        for name, amount in table.items():
            real = _named(name, list(by_name), shown, f"{key}.{name}", kind)
            out[real] = _repriced(by_name[real], usd(amount), shown)
        return tuple(out.values())

    return market.model_copy(
        update={
            "gpu_prices": priced("gpu", market.gpu_prices, prices.gpus),
            "cpu_prices": priced("cpu", market.cpu_prices, prices.cpus),
            "platforms": override(
                market.platforms, prices.platforms, "platforms", "id", "platform"
            ),
            "psus": override(market.psus, prices.psus, "psus", "name", "PSU"),
            "memory_kits": override(
                market.memory_kits, prices.memory_kits, "memory_kits", "name", "memory kit"
            ),
            "drives": override(market.drives, prices.drives, "drives", "name", "drive"),
            "price_note": f"{market.price_note}; overridden by {shown} ({prices.currency})",
        }
    )


def _repriced(row: Any, usd: float, shown: str) -> Any:
    """A platform's price is board + case + cooler: the user's figure replaces the sum."""
    if hasattr(row, "board_price_usd"):
        update = {"board_price_usd": usd, "case_price_usd": 0.0, "cpu_cooler_price_usd": 0.0}
    else:
        update = {"price_usd": usd}
    return row.model_copy(update={**update, "price_date": "user", "source": f"prices file {shown}"})
