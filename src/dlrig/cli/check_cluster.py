"""`dlrig check CLUSTER.toml`: a build file with a [cluster] table (parse, call core, render)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from dlrig.cli.app import EXIT_BUILD_ERRORS, EXIT_OK, emit


def check_cluster(
    data: dict[str, Any],
    shown: str,
    fmt: str,
    output: Path | None,
    color: bool,
    measured: Path | None,
) -> None:
    from dlrig.catalog.resolve_cluster import resolve_cluster
    from dlrig.model.cluster_file import parse_cluster
    from dlrig.model.cluster_measured import read_measured
    from dlrig.report.cluster_check import render
    from dlrig.rules.cluster import check_cluster as run

    cf = parse_cluster(data, shown)
    busbw, source = read_measured(measured) if measured is not None else (None, None)
    report = run(resolve_cluster(cf, shown, busbw, source))
    emit(render(report, fmt, color=color), output)
    raise typer.Exit(EXIT_BUILD_ERRORS if report.has_errors else EXIT_OK)
