"""`dlrig parts gpus|cpus|psus|cases|platforms|boards|memory|drives|models`: list the catalog
and the market, with every price's currency, kind and date (report/parts_listing.py)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from dlrig.cli.app import app, emit
from dlrig.cli.app import opt as _opt

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

# Kept in step with report/parts_listing.LISTINGS (a test compares them); spelled out here so
# `dlrig --help` does not import the report layer.
_LISTINGS = {
    "gpus": "List the GPUs: specs, launch price and what they cost now.",
    "cpus": "List the CPUs: specs, launch price and what they cost now.",
    "psus": "List the power supplies the recommender may buy.",
    "cases": "List the cases, open frames and chassis.",
    "platforms": "List the platforms: board + case (+ cooler) combinations.",
    "boards": "The same as `parts platforms` (each board is listed with its case).",
    "memory": "List the memory kits.",
    "drives": "List the drives.",
}


def _register(name: str, doc: str) -> None:
    """`dlrig parts NAME`: one listing as a table or JSON."""

    def command(
        fmt: FormatOption = PartsFormat.table,
        currency: CurrencyOption = None,
        region: RegionOption = None,
        vat: VatOption = None,
    ) -> None:
        from datetime import date

        from dlrig.report.parts_listing import listing, price_context

        emit(listing(name, fmt.value, price_context(currency, region, vat, date.today())), None)

    command.__doc__ = doc
    command.__name__ = f"parts_{name}"
    parts_app.command(name)(command)


for _name, _doc in _LISTINGS.items():
    _register(_name, _doc)


@parts_app.command("models")
def parts_models(fmt: FormatOption = PartsFormat.table) -> None:
    """List the model presets (dlrig estimate --model)."""
    from dlrig.report.parts_listing import PriceContext, listing

    emit(listing("models", fmt.value, PriceContext()), None)
