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
from dlrig.errors import DlrigError


@app.command()
def check(
    build_file: Annotated[Path, typer.Argument(help="Build file (TOML).", show_default=False)],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = (
        OutputFormat.terminal
    ),
    output: OutputOption = None,
    color: ColorOption = True,
    measured: Annotated[
        Path | None,
        typer.Option(
            "--measured",
            help="Cluster files: take the network's bus bandwidth from this "
            "'dlrig probe --cluster' JSON report instead of the fabric table.",
        ),
    ] = None,
) -> None:
    """Check a planned or existing build (or a cluster file) against every rule of the guide."""
    from dlrig.catalog.resolve import resolve
    from dlrig.model.load import parse_build, read_toml
    from dlrig.report.interface import renderer
    from dlrig.rules import check as run_rules

    not_over_input(output, build_file)
    shown = str(build_file)
    data = read_toml(build_file, "a TOML build file")
    if "cluster" in data:  # a cluster build file: model/cluster.py
        from dlrig.cli.check_cluster import check_cluster

        check_cluster(data, shown, fmt.value, output, use_color(color, output), measured)
        return
    if measured is not None:
        raise DlrigError("--measured: only for cluster files (with a [cluster] table)")
    build = resolve(parse_build(data, shown), shown)
    report = run_rules(build)
    emit(renderer(fmt.value)(report, color=use_color(color, output)), output)
    raise typer.Exit(EXIT_BUILD_ERRORS if report.has_errors else EXIT_OK)
