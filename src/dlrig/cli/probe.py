"""`dlrig probe`: measure this machine and hand it to `check`."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from dlrig.cli.app import ColorOption, app, emit, not_over_input, use_color


def _same(a: Path, b: Path) -> bool:
    """One file named twice: the same path once relative, once absolute, or by a link."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist yet: different unless the paths were equal
        return False


class ProbeFormat(StrEnum):
    terminal = "terminal"
    json = "json"
    html = "html"
    markdown = "markdown"  # --cluster only


@app.command()
def probe(
    quick: Annotated[
        bool, typer.Option("--quick", help="Skip the longer measurements (about 10 s in all).")
    ] = False,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Measure the disk under this directory.")
    ] = Path("."),
    fmt: Annotated[ProbeFormat, typer.Option("--format", "-f", help="Output format.")] = (
        ProbeFormat.terminal
    ),
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="With --format html: write the HTML report here. With terminal or json: "
            "also write a build file for 'dlrig check' (as --build-file).",
        ),
    ] = None,
    build_file: Annotated[
        Path | None,
        typer.Option("--build-file", help="Also write a build file for 'dlrig check' (any -f)."),
    ] = None,
    color: ColorOption = True,
    cluster: Annotated[
        bool,
        typer.Option(
            "--cluster",
            help="Probe every node of a cluster, launched by torchrun: torchrun --nnodes N "
            "--nproc-per-node G -m dlrig probe --cluster -o cluster.json (see README).",
        ),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="--cluster: seconds a rank waits for the others.", min=1),
    ] = 300.0,
    min_bytes: Annotated[
        str, typer.Option("--min-bytes", help="--cluster: smallest message (1K, 64M, 1G).")
    ] = "1K",
    max_bytes: Annotated[
        str | None,
        typer.Option("--max-bytes", help="--cluster: largest message [default: 1G, gloo 64M]."),
    ] = None,
    backend: Annotated[
        str, typer.Option("--backend", help="--cluster: auto (nccl on GPUs), nccl or gloo.")
    ] = "auto",
) -> None:
    """Measure this machine (CPU, memory, disk, NVIDIA GPUs) and report what holds it back."""
    if cluster:
        from dlrig.cli.probe_cluster import probe_cluster

        probe_cluster(
            quick=quick,
            data_dir=data_dir,
            fmt=fmt.value,
            output=output,
            build_file=build_file,
            color=color,
            timeout_s=timeout,
            min_bytes=min_bytes,
            max_bytes=max_bytes,
            backend=backend,
        )
        return
    from dlrig.errors import DlrigError
    from dlrig.model.text import safe_line
    from dlrig.probe.run import FAKE_NVML_ENV, check_data_dir, run_probe

    if fmt == ProbeFormat.markdown:
        raise DlrigError("--format markdown: only with --cluster")
    from dlrig.probe.to_build import to_build_toml
    from dlrig.report import probe_json, probe_terminal

    report_file = output if fmt == ProbeFormat.html else None
    if fmt != ProbeFormat.html and output is not None:
        if build_file is not None:
            raise DlrigError("give the build file once: -o or --build-file, not both")
        build_file = output  # the issue 5 contract: `dlrig probe -o mybox.toml`
    if report_file is not None and build_file is not None and _same(report_file, build_file):
        raise DlrigError(f"{build_file}: -o and --build-file name the same file")
    # Neither output may overwrite the NVML scenario this run reads.
    scenario = os.environ.get(FAKE_NVML_ENV) or None
    not_over_input(build_file, scenario)
    not_over_input(report_file, scenario)
    check_data_dir(data_dir)
    show_bars = fmt != ProbeFormat.json and sys.stderr.isatty()
    with probe_terminal.progress_bars(show_bars) as progress:
        result = run_probe(quick=quick, data_dir=data_dir, progress=progress)
    if build_file is not None:
        emit(to_build_toml(result), build_file)
    if fmt == ProbeFormat.html:
        from dlrig.report.html import render_probe

        emit(render_probe(result), report_file)
    elif fmt == ProbeFormat.json:
        emit(probe_json.render(result), None)
    else:
        emit(probe_terminal.render(result, color=use_color(color, None)), None)
    if build_file is not None:
        said = safe_line(f"wrote {build_file}; check it with: dlrig check {build_file}")
        sys.stderr.write(f"dlrig: {said}\n")
