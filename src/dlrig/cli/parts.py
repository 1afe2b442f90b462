"""`dlrig parts gpus|cpus|psus|cases|platforms|memory|drives|models`: list the catalog and the
market, with every price's currency, kind and date."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from dlrig.cli.app import app, emit
from dlrig.cli.app import opt as _opt

if TYPE_CHECKING:
    from dlrig.report.parts import PriceContext

parts_app = typer.Typer(help="List the parts catalog and the market.", no_args_is_help=True)
app.add_typer(parts_app, name="parts")


class PartsFormat(StrEnum):
    table = "table"
    json = "json"


FormatOption = Annotated[PartsFormat, typer.Option("--format", "-f")]
CurrencyOption = Annotated[
    str | None,
    _opt("Show prices in this currency (default: the region's, else USD).", "--currency"),
]
RegionOption = Annotated[
    str | None, _opt("Prices as sold in this region, VAT included (DE, FR, UK, ...).", "--region")
]
VatOption = Annotated[
    float | None, _opt("VAT percent added to every price (0: before VAT).", "--vat")
]


def _context(currency: str | None, region: str | None, vat: float | None) -> PriceContext:
    from datetime import date

    from dlrig.catalog.stacks import gpu_support
    from dlrig.recommend.market import exchange_rate, region_currency, vat_choice
    from dlrig.report.parts import PriceContext

    code = (currency or (region_currency(region) if region else "USD")).upper()
    rate, _ = exchange_rate(code)
    vat_pct, vat_note = vat_choice(region, vat)
    support = gpu_support()
    used = frozenset(n for n, r in support.items() if r.availability == "used-only")
    return PriceContext(
        currency=code,
        per_usd=rate * (1 + vat_pct / 100),
        vat_note=vat_note,
        today=date.today(),
        used_only=used,
        stacks={n: f"{r.stack} {r.target}" for n, r in support.items()},
    )


def _spec_parts(kind: str, fmt: PartsFormat, ctx: PriceContext) -> None:
    from dlrig.catalog import load
    from dlrig.report import parts

    rows = getattr(load, kind)()
    market = {p.name: p for p in load.market_prices() if p.kind == kind[:-1]}
    render = getattr(parts, f"{kind}_{fmt.value}")
    emit(render(rows, market, ctx), None)


def _market_parts(kind: str, loader: str, fmt: PartsFormat, ctx: PriceContext) -> None:
    from dlrig.catalog import load
    from dlrig.report import parts

    render = getattr(parts, f"{kind}_{fmt.value}")
    emit(render(getattr(load, loader)(), ctx), None)


@parts_app.command("gpus")
def parts_gpus(
    fmt: FormatOption = PartsFormat.table,
    currency: CurrencyOption = None,
    region: RegionOption = None,
    vat: VatOption = None,
) -> None:
    """List the GPUs: specs, launch price and what they cost now."""
    _spec_parts("gpus", fmt, _context(currency, region, vat))


@parts_app.command("cpus")
def parts_cpus(
    fmt: FormatOption = PartsFormat.table,
    currency: CurrencyOption = None,
    region: RegionOption = None,
    vat: VatOption = None,
) -> None:
    """List the CPUs: specs, launch price and what they cost now."""
    _spec_parts("cpus", fmt, _context(currency, region, vat))


def _market_command(name: str, kind: str, loader: str, doc: str) -> None:
    """Register `dlrig parts NAME`: one market file (`load.LOADER()`) as a table or JSON."""

    def command(
        fmt: FormatOption = PartsFormat.table,
        currency: CurrencyOption = None,
        region: RegionOption = None,
        vat: VatOption = None,
    ) -> None:
        _market_parts(kind, loader, fmt, _context(currency, region, vat))

    command.__doc__ = doc
    command.__name__ = f"parts_{name}"
    parts_app.command(name)(command)


for _name, _kind, _loader, _doc in (
    ("psus", "psus", "psus", "List the power supplies the recommender may buy."),
    ("cases", "cases", "cases", "List the cases, open frames and chassis."),
    (
        "platforms",
        "platforms",
        "platforms",
        "List the platforms: board + case (+ cooler) combinations.",
    ),
    (
        "boards",
        "platforms",
        "platforms",
        "The same as `parts platforms` (each board is listed with its case).",
    ),
    ("memory", "memory", "memory_kits", "List the memory kits."),
    ("drives", "drives", "drives", "List the drives."),
):
    _market_command(_name, _kind, _loader, _doc)


@parts_app.command("models")
def parts_models(fmt: FormatOption = PartsFormat.table) -> None:
    """List the model presets (dlrig estimate --model)."""
    from dlrig.catalog import load
    from dlrig.report import parts

    emit(getattr(parts, f"models_{fmt.value}")(load.models()), None)
