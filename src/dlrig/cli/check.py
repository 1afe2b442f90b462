"""`dlrig check BUILD.toml`: every rule of the guide against a build file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dlrig.cli.app import (
    EXIT_BUILD_ERRORS,
    EXIT_OK,
    ColorOption,
    OutputFormat,
    OutputOption,
    app,
    emit,
    not_over_input,
    use_color,
)


@app.command()
def check(
    build_file: Annotated[Path, typer.Argument(help="Build file (TOML).", show_default=False)],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = (
        OutputFormat.terminal
    ),
    output: OutputOption = None,
    color: ColorOption = True,
) -> None:
    """Check a planned or existing build against every rule of the guide."""
    from dlrig.catalog.resolve import resolve
    from dlrig.model.load import read_build_file
    from dlrig.report.interface import renderer
    from dlrig.rules import check as run_rules

    not_over_input(output, build_file)
    shown = str(build_file)
    build = resolve(read_build_file(build_file), shown)
    report = run_rules(build)
    emit(renderer(fmt.value)(report, color=use_color(color, output)), output)
    raise typer.Exit(EXIT_BUILD_ERRORS if report.has_errors else EXIT_OK)
