"""`dlrig parts gpus|cpus|models`: list the catalog."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from dlrig.cli.app import app, emit

parts_app = typer.Typer(help="List the parts catalog.", no_args_is_help=True)
app.add_typer(parts_app, name="parts")


class PartsFormat(StrEnum):
    table = "table"
    json = "json"


FormatOption = Annotated[PartsFormat, typer.Option("--format", "-f")]


def _parts(kind: str, fmt: PartsFormat) -> None:
    from dlrig.catalog import load
    from dlrig.report import parts

    rows = getattr(load, kind)()
    render = getattr(parts, f"{kind}_json" if fmt == PartsFormat.json else f"{kind}_table")
    emit(render(rows), None)


@parts_app.command("gpus")
def parts_gpus(fmt: FormatOption = PartsFormat.table) -> None:
    """List the GPUs in the catalog."""
    _parts("gpus", fmt)


@parts_app.command("cpus")
def parts_cpus(fmt: FormatOption = PartsFormat.table) -> None:
    """List the CPUs in the catalog."""
    _parts("cpus", fmt)


@parts_app.command("models")
def parts_models(fmt: FormatOption = PartsFormat.table) -> None:
    """List the model presets (dlrig estimate --model)."""
    _parts("models", fmt)
