"""`dlrig estimate`: what a workload needs (memory, throughput, data rate, time, energy)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dlrig.cli.app import ColorOption, OutputFormat, OutputOption, app, emit, not_over_input
from dlrig.cli.app import opt as _opt
from dlrig.cli.app import use_color as _use_color
from dlrig.model.choices import (  # plain enums, no pydantic: cheap at start-up
    DecodeEngine,
    Interconnect,
    LoraTargets,
    Loss,
    Offload,
    Optimizer,
    Precision,
    Quant,
    Task,
)


@app.command()
def estimate(
    gpu: Annotated[str, _opt("GPU model, e.g. 'RTX 4090' (see 'dlrig parts gpus').", "--gpu")],
    task: Annotated[Task, _opt("What the job does.", "--task")],
    model: Annotated[str | None, _opt("Model preset (see 'dlrig parts models').", "--model")] = (
        None
    ),
    config: Annotated[Path | None, _opt("A local Hugging Face config.json.", "--config")] = None,
    params: Annotated[float | None, _opt("A bare parameter count, e.g. 13e9.", "--params")] = None,
    gpus: Annotated[int, _opt("Number of GPUs.", "--gpus", min=1)] = 1,
    precision: Annotated[Precision, _opt("Compute precision.", "--precision")] = (Precision.BF16),
    quant: Annotated[Quant, _opt("Stored weights (infer).", "--quant")] = Quant.NONE,
    optimizer: Annotated[Optimizer, _opt("Optimizer.", "--optimizer")] = Optimizer.ADAMW,
    zero: Annotated[int, _opt("ZeRO stage (3 = FSDP full shard).", "--zero", min=0, max=3)] = 0,
    checkpointing: Annotated[
        bool, _opt("Activation checkpointing.", "--checkpointing/--no-checkpointing")
    ] = False,
    lora_rank: Annotated[int, _opt("LoRA rank.", "--lora-rank", min=1)] = 8,
    lora_targets: Annotated[LoraTargets, _opt("LoRA target layers.", "--lora-targets")] = (
        LoraTargets.ALL
    ),
    batch_size: Annotated[int | None, _opt("Micro-batch per GPU.", "--batch-size", min=1)] = None,
    seq_len: Annotated[int | None, _opt("Training sequence length.", "--seq-len", min=1)] = None,
    context: Annotated[
        int | None, _opt("Inference tokens held per sequence.", "--context", min=1)
    ] = None,
    tokens: Annotated[float | None, _opt("Tokens to process.", "--tokens")] = None,
    epochs: Annotated[float | None, _opt("Epochs (with --dataset-size).", "--epochs")] = None,
    dataset_size: Annotated[int | None, _opt("Samples per epoch.", "--dataset-size", min=1)] = None,
    mfu: Annotated[float | None, _opt("Override the assumed utilisation (0-1).", "--mfu")] = None,
    interconnect: Annotated[
        Interconnect, _opt("GPU-to-GPU link for the all-reduce.", "--interconnect")
    ] = Interconnect.AUTO,
    master_weights: Annotated[
        bool,
        _opt("Keep fp32 master weights (AMP); off: pure 16-bit.", "--master-weights/--pure-16bit"),
    ] = True,
    offload: Annotated[
        Offload, _opt("Move optimizer states (or everything) to CPU memory.", "--offload")
    ] = Offload.NONE,
    optimizer_in_backward: Annotated[
        bool, _opt("Optimizer step fused into backward.", "--optimizer-in-backward")
    ] = False,
    loss: Annotated[
        Loss, _opt("Cross-entropy: standard (HF), chunked (torchtune), fused (Liger).", "--loss")
    ] = Loss.STANDARD,
    engine: Annotated[
        DecodeEngine, _opt("Inference engine: optimized (llama.cpp, vLLM) or hf.", "--engine")
    ] = DecodeEngine.OPTIMIZED,
    price_per_gpu_hour: Annotated[
        float | None, _opt("Cloud price per GPU-hour.", "--price-per-gpu-hour")
    ] = None,
    electricity_price: Annotated[
        float | None, _opt("Electricity price per kWh.", "--electricity-price")
    ] = None,
    sample_bytes: Annotated[
        float | None, _opt("Bytes read per sample (vision).", "--sample-bytes")
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = (
        OutputFormat.terminal
    ),
    output: OutputOption = None,
    color: ColorOption = True,
) -> None:
    """Estimate what a workload needs: GPU memory, throughput, data rate, time and energy."""
    from dlrig.estimate import estimate as run_estimate
    from dlrig.estimate.request import make_job, resolve_model
    from dlrig.report.estimate import renderer as estimate_renderer

    not_over_input(output, config)
    spec = resolve_model(model, str(config) if config else None, params)
    job = make_job(
        gpu,
        task=task.value,
        n_gpus=gpus,
        precision=precision.value,
        quant=quant.value,
        optimizer=optimizer.value,
        zero=zero,
        checkpointing=checkpointing,
        lora_rank=lora_rank,
        lora_targets=lora_targets.value,
        batch_size=batch_size,
        seq_len=seq_len,
        context=context,
        tokens=tokens,
        epochs=epochs,
        dataset_size=dataset_size,
        mfu=mfu,
        interconnect=interconnect.value,
        engine=engine.value,
        master_weights=master_weights,
        offload=offload.value,
        optimizer_in_backward=optimizer_in_backward,
        loss=loss.value,
        price_per_gpu_hour=price_per_gpu_hour,
        electricity_per_kwh=electricity_price,
        sample_bytes=sample_bytes,
    )
    result = run_estimate(spec, job)
    if fmt == OutputFormat.html:
        from dlrig.report.html import render_estimate

        emit(render_estimate(result), output)
        return
    emit(estimate_renderer(fmt.value)(result, color=_use_color(color, output)), output)


# --- recommend ---------------------------------------------------------------------------------
