"""`dlrig recommend`: builds for a budget and a workload."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dlrig.cli.app import ColorOption, OutputFormat, OutputOption, app, emit, not_over_input
from dlrig.cli.app import opt as _opt
from dlrig.cli.app import use_color as _use_color
from dlrig.model.choices import Precision, Quant


class RankBy(StrEnum):
    speed = "speed"
    value = "value"


if TYPE_CHECKING:  # the model is imported by the command itself, not at start-up
    from dlrig.model.recommend import Recommendation


@app.command()
def recommend(
    budget: Annotated[float, _opt("Most the whole machine may cost.", "--budget")],
    workload: Annotated[
        str, _opt("MODEL:TASK, e.g. llama-3-8b:lora or resnet50:train.", "--workload")
    ],
    currency: Annotated[
        str | None,
        _opt("Currency of the budget and prices (default: the region's, else USD).", "--currency"),
    ] = None,
    region: Annotated[
        str | None,
        _opt("Prices as sold in this region, VAT included (DE, FR, UK, ...).", "--region"),
    ] = None,
    vat: Annotated[
        float | None, _opt("VAT percent added to every price (0: before VAT).", "--vat")
    ] = None,
    max_gpus: Annotated[int, _opt("Most GPUs per machine.", "--max-gpus", min=1)] = 8,
    gpu: Annotated[list[str] | None, _opt("Only these GPUs (repeat the option).", "--gpu")] = None,
    precision: Annotated[
        Precision | None,
        _opt("Compute precision (default: bf16; fp16 on cards without BF16).", "--precision"),
    ] = None,
    quant: Annotated[Quant, _opt("Stored weights (infer).", "--quant")] = Quant.NONE,
    seq_len: Annotated[int | None, _opt("Training sequence length.", "--seq-len", min=1)] = None,
    context: Annotated[
        int | None, _opt("Inference tokens held per sequence.", "--context", min=1)
    ] = None,
    batch_size: Annotated[int | None, _opt("Micro-batch per GPU.", "--batch-size", min=1)] = None,
    tokens: Annotated[float | None, _opt("Tokens of work, for the time.", "--tokens")] = None,
    epochs: Annotated[float | None, _opt("Epochs (with --dataset-size).", "--epochs")] = None,
    dataset_size: Annotated[int | None, _opt("Samples per epoch.", "--dataset-size", min=1)] = None,
    prices: Annotated[
        Path | None, _opt("TOML file of your own prices (see README).", "--prices")
    ] = None,
    electricity_price: Annotated[
        float | None, _opt("Electricity price per kWh.", "--electricity-price", min=0)
    ] = None,
    energy_hours: Annotated[
        float, _opt("Hours of full-load use the energy cost covers.", "--energy-hours")
    ] = 8760.0,
    cloud_price: Annotated[
        float | None,
        _opt("Cloud price per GPU-hour: break-even of buying.", "--cloud-price-per-gpu-hour"),
    ] = None,
    mains_voltage: Annotated[
        float | None, _opt("Wall circuit voltage (with --circuit-amps).", "--mains-voltage")
    ] = None,
    circuit_amps: Annotated[
        float | None, _opt("Wall circuit breaker rating.", "--circuit-amps")
    ] = None,
    top: Annotated[int, _opt("Proposals to list.", "--top", min=1, max=50)] = 5,
    explain: Annotated[bool, _opt("List what was left out and why.", "--explain")] = False,
    write_dir: Annotated[
        Path | None, _opt("Write each proposal as a build file here.", "--write-dir")
    ] = None,
    rank_by: Annotated[
        RankBy, _opt("Order: speed (fastest first) or value (throughput per money).", "--rank")
    ] = RankBy.speed,
    used: Annotated[
        bool, _opt("Also propose used (second-hand) GPUs from the market data.", "--used")
    ] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = (
        OutputFormat.terminal
    ),
    output: OutputOption = None,
    color: ColorOption = True,
) -> None:
    """Recommend builds for a budget and a workload: fastest first (or best value), Pareto
    front, break-even against the cloud."""
    from datetime import date

    from dlrig.model.load import read_toml
    from dlrig.recommend.options import options_from_flags, recommend_for
    from dlrig.report import recommend as render

    not_over_input(output, prices)
    opts = options_from_flags(
        budget=budget,
        workload=workload,
        currency=currency,
        region=region,
        vat=vat,
        max_gpus=max_gpus,
        gpu=list(gpu or ()),
        precision=precision,
        quant=quant,
        seq_len=seq_len,
        context=context,
        batch_size=batch_size,
        tokens=tokens,
        epochs=epochs,
        dataset_size=dataset_size,
        electricity_price=electricity_price,
        energy_hours=energy_hours,
        cloud_price_per_gpu_hour=cloud_price,
        mains_voltage=mains_voltage,
        circuit_amps=circuit_amps,
        top=top,
        rank=rank_by.value,
        used=used,
    )
    result = recommend_for(
        opts,
        today=date.today(),
        prices=read_toml(prices, "a TOML prices file") if prices is not None else None,
        prices_shown=str(prices),
    )
    if write_dir is not None:
        _write_builds(result, write_dir)
    if fmt == OutputFormat.html:
        from dlrig.report.html import render_recommend

        emit(render_recommend(result), output)
        return
    emit(
        render.renderer(fmt.value)(result, color=_use_color(color, output), explain=explain), output
    )


def _write_builds(result: Recommendation, write_dir: Path) -> None:
    from dlrig.cli.app import write_output
    from dlrig.errors import DlrigError
    from dlrig.model.text import safe_line
    from dlrig.report import recommend as render

    try:
        write_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DlrigError(f"{write_dir}: cannot write build files: {exc.strerror or exc}") from None
    for i, p in enumerate(result.proposals, start=1):
        # Never through a symlink planted at a predictable name (cli/app.write_output).
        write_output(write_dir / render.file_name(p, i), render.build_toml(result, p))
    n = len(result.proposals)
    said = safe_line(f"wrote {n} build file{'s' if n != 1 else ''} to {write_dir}")
    sys.stderr.write(f"dlrig: {said}\n")


# --- probe -------------------------------------------------------------------------------------
