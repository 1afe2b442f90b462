"""`dlrig pipeline bench`: the async input pipeline's synthetic benchmark."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from dlrig.cli.app import app, emit, use_color

pipeline_app = typer.Typer(
    help="The async input pipeline: prefetcher benchmark.", no_args_is_help=True
)
app.add_typer(pipeline_app, name="pipeline")


class PipelineFormat(StrEnum):
    terminal = "terminal"
    json = "json"


@pipeline_app.command("bench")
def pipeline_bench(
    load_ms: Annotated[float, typer.Option(help="Loader time per batch (ms).")] = 20.0,
    compute_ms: Annotated[float, typer.Option(help="Compute time per step (ms).")] = 30.0,
    read_ms: Annotated[float, typer.Option(help="Part of load-ms reading storage (ms).")] = 0.0,
    steps: Annotated[int, typer.Option(help="Measured steps per run.")] = 100,
    depth: Annotated[int, typer.Option(help="Batches the prefetcher keeps ahead.")] = 2,
    workers: Annotated[int, typer.Option(help="Loader worker threads (0: in the loop).")] = 0,
    batch_mb: Annotated[float, typer.Option(help="Batch size in MB.")] = 1.0,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    cores: Annotated[
        int | None, typer.Option(help="Cores the loader may use (default: this machine's).")
    ] = None,
    fmt: Annotated[PipelineFormat, typer.Option("--format", "-f", help="Output format.")] = (
        PipelineFormat.terminal
    ),
) -> None:
    """Synthetic pipeline: plain vs prefetched vs ideal step rate, and the profiler's
    predictions checked against runs with each change applied."""
    from dlrig.errors import DlrigError
    from dlrig.pipeline.bench import BenchParams, run_bench
    from dlrig.report import pipeline as render

    params = BenchParams(
        load_ms, compute_ms, read_ms, steps, depth, workers, batch_mb, device, cores
    )
    try:
        result = run_bench(params)
    except ValueError as exc:
        raise DlrigError(f"pipeline bench: {exc}") from None
    if fmt == PipelineFormat.json:
        emit(render.bench_json(result), None)
    else:
        emit(render.render_bench(result, color=use_color(True, None)), None)
