"""One listing of `dlrig parts NAME` (a table or JSON) at a currency, region and VAT: the
command line and `dlrig serve`'s /api/parts/NAME both call `listing`."""

from __future__ import annotations

from datetime import date

from dlrig.report.parts import PriceContext

# name -> (renderer prefix in report/parts.py, loader in catalog/load.py, what it lists).
# gpus and cpus are spec rows with a market price beside them; the rest are market files.
LISTINGS: dict[str, tuple[str, str, str]] = {
    "gpus": ("gpus", "gpus", "List the GPUs: specs, launch price and what they cost now."),
    "cpus": ("cpus", "cpus", "List the CPUs: specs, launch price and what they cost now."),
    "psus": ("psus", "psus", "List the power supplies the recommender may buy."),
    "cases": ("cases", "cases", "List the cases, open frames and chassis."),
    "platforms": (
        "platforms",
        "platforms",
        "List the platforms: board + case (+ cooler) combinations.",
    ),
    "boards": (
        "platforms",
        "platforms",
        "The same as `parts platforms` (each board is listed with its case).",
    ),
    "memory": ("memory", "memory_kits", "List the memory kits."),
    "drives": ("drives", "drives", "List the drives."),
    "models": ("models", "models", "List the model presets (dlrig estimate --model)."),
}
SPEC_LISTINGS = ("gpus", "cpus")


def price_context(
    currency: str | None, region: str | None, vat: float | None, today: date
) -> PriceContext:
    """Prices in `currency` (default: the region's, else USD), VAT of `region` or `vat`."""
    from dlrig.catalog.stacks import gpu_support
    from dlrig.recommend.market import exchange_rate, region_currency, vat_choice

    code = (currency or (region_currency(region) if region else "USD")).upper()
    rate, _ = exchange_rate(code)
    vat_pct, vat_note = vat_choice(region, vat)
    support = gpu_support()
    used = frozenset(n for n, r in support.items() if r.availability == "used-only")
    return PriceContext(
        currency=code,
        per_usd=rate * (1 + vat_pct / 100),
        vat_note=vat_note,
        today=today,
        used_only=used,
        stacks={n: f"{r.stack} {r.target}" for n, r in support.items()},
    )


def listing(name: str, fmt: str, ctx: PriceContext) -> str:
    """The `name` listing (a key of LISTINGS) as `fmt` ("table" or "json")."""
    from dlrig.catalog import load
    from dlrig.report import parts

    prefix, loader, _ = LISTINGS[name]
    render = getattr(parts, f"{prefix}_{fmt}")
    rows = getattr(load, loader)()
    if name == "models":
        return render(rows)
    if name in SPEC_LISTINGS:
        market = {p.name: p for p in load.market_prices() if p.kind == name[:-1]}
        return render(rows, market, ctx)
    return render(rows, ctx)
