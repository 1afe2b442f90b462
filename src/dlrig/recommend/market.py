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
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dlrig.catalog import load
from dlrig.catalog.lookup import find_cpu, find_gpu
from dlrig.errors import BuildFileError, CatalogLookupError, DlrigError
from dlrig.model.market import Market, MarketPrice, VatRate
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


# The currency shown for a region whose own currency has no exchange rate in currencies.csv.
FALLBACK_CURRENCY = "EUR"
MAX_VAT_PCT = 50


def region_vat(region: str) -> VatRate:
    """The standard VAT of a region code (DE, FR, UK, ...) from vat_rates.csv."""
    rates = load.vat_rates()
    code = region.strip().upper()
    if code == "GB":
        code = "UK"
    if code not in rates:
        known = ", ".join(sorted(rates))
        raise DlrigError(f"--region: no VAT rate for {region!r}; known: {known}")
    return rates[code]


def region_currency(region: str) -> str:
    """The currency prices are shown in for a region (its own, or EUR without a rate)."""
    currency = region_vat(region).currency
    return currency if currency in load.currencies() else FALLBACK_CURRENCY


def vat_choice(region: str | None, vat_pct: float | None) -> tuple[float, str]:
    """(VAT percent added to prices, a note saying where it comes from)."""
    if vat_pct is not None:
        if not 0 <= vat_pct <= MAX_VAT_PCT:
            raise DlrigError(
                f"--vat: expected a percentage from 0 to {MAX_VAT_PCT}, got {vat_pct:g}"
            )
        if vat_pct == 0:
            return 0.0, "prices before VAT and sales tax"
        return vat_pct, f"prices include {vat_pct:g} % VAT (--vat)"
    if region is None:
        return 0.0, "prices before VAT and sales tax"
    rate = region_vat(region)
    if rate.vat_pct == 0:
        return 0.0, f"{rate.country}: prices before sales tax ({rate.notes or rate.source})"
    return rate.vat_pct, (
        f"prices include {rate.country} VAT {rate.vat_pct:g} % ({rate.date}, {rate.source})"
    )


def with_vat(usd: float, per_usd: float, vat_pct: float) -> float:
    """A USD price as sold in a region: converted, then VAT added, to the cent."""
    return round(usd * per_usd * (1 + vat_pct / 100), 2)


def catalog_market(
    currency: str = "USD",
    *,
    region: str | None = None,
    vat_pct: float | None = None,
    today: date | None = None,
) -> Market:
    """The catalog's market in `currency`; with a region or --vat, every price includes VAT
    (the rate is folded into `per_usd`, so budgets compare with what the buyer pays)."""
    rate, note = exchange_rate(currency)
    vat, vat_note = vat_choice(region, vat_pct)
    prices = load.market_prices()
    return Market(
        currency=currency.upper(),
        per_usd=rate * (1 + vat / 100),
        rate_note=note,
        vat_pct=vat,
        vat_note=vat_note,
        today=today,
        gpu_prices={p.name: p for p in prices if p.kind == "gpu"},
        cpu_prices={p.name: p for p in prices if p.kind == "cpu"},
        platforms=load.platforms(),
        psus=load.psus(),
        memory_kits=load.memory_kits(),
        drives=load.drives(),
        price_note="catalog market prices (catalog/data/market_prices.csv and the part files); "
        + vat_note,
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


def default_condition(kind: str, name: str) -> str:
    """A part priced only by the user is "used" when it is sold only used (gpu_support.csv)."""
    if kind != "gpu":
        return "new"
    from dlrig.catalog.stacks import gpu_support

    row = gpu_support().get(name)
    return "used" if row is not None and row.availability == "used-only" else "new"


def _user_price(
    kind: str, name: str, usd: float, old: MarketPrice | None, shown: str
) -> MarketPrice:
    return MarketPrice(
        kind=kind,  # type: ignore[arg-type]
        name=name,
        price_usd=usd,
        price_date="user",
        condition=old.condition if old else default_condition(kind, name),  # type: ignore[arg-type]
        price_kind="user",
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
        # With a region or --vat the file's amounts are taken as sold there, VAT included.
        return amount / per_usd / (1 + market.vat_pct / 100)

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
    update |= {"price_date": "user", "price_kind": "user", "source": f"prices file {shown}"}
    return row.model_copy(update=update)


def market_notes(market: Market, lines: list[Any]) -> list[str]:
    """What the report says about the prices: VAT, and which shown prices are over 6 months old
    (each `PriceLine` of the proposals)."""
    from dlrig.model.market import STALE_AFTER_MONTHS

    notes = [market.vat_note] if market.vat_note else []
    old = sorted(
        {
            f"{line.name} ({'used, ' if line.condition == 'used' else ''}{line.price_date})"
            for line in lines
            if line.stale
        }
    )
    if old:
        when = market.today.isoformat() if market.today else "today"
        notes.append(
            f"{len(old)} prices are more than {STALE_AFTER_MONTHS} months old on {when}; check "
            "them or pass --prices: " + ", ".join(old)
        )
    return notes


def shown_gpu(name: str, market: Market | None = None) -> str:
    """A GPU name as reports show it: "(used)" after a card bought or sold only used."""
    price = market.gpu_prices.get(name) if market is not None else None
    condition = price.condition if price is not None else default_condition("gpu", name)
    return f"{name} (used)" if condition == "used" else name
