"""The `dlrig` command: parse arguments, call the core, render, map errors to exit codes.

Exit codes: 0 no errors, 1 the build has errors, 2 bad input or usage, 3 internal error,
130 interrupted (128 + SIGINT, the shell's convention).
Heavy modules are imported inside the commands so `dlrig --help` and `dlrig check` start fast.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated

import typer

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

if TYPE_CHECKING:  # the model is imported by the command itself, not at start-up
    from dlrig.model.recommend import Recommendation

EXIT_OK, EXIT_BUILD_ERRORS, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130

# dlrig uses no pydantic plugins; not scanning installed packages for them (importlib.metadata)
# saves ~7 ms of start-up (see benchmarks/cli_start.py).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

app = typer.Typer(
    name="dlrig",
    help="Check, estimate, probe and recommend deep-learning machines (Dettmers' hardware guide).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
parts_app = typer.Typer(help="List the parts catalog.", no_args_is_help=True)
app.add_typer(parts_app, name="parts")


# Options several commands share.
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
]
ColorOption = Annotated[bool, typer.Option("--color/--no-color", help="Colour terminal output.")]


class CheckFormat(StrEnum):
    terminal = "terminal"
    json = "json"
    markdown = "markdown"
    html = "html"


class PartsFormat(StrEnum):
    table = "table"
    json = "json"


_DEBUG = {"on": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _DEBUG["on"] = debug


def _not_over_input(output: Path | None, source: Path | None) -> None:
    """`-o` must not overwrite the file the command reads."""
    if output is None or source is None:
        return
    try:
        same = output.resolve() == source.resolve()
    except OSError:
        same = False
    if same:
        from dlrig.errors import DlrigError

        raise DlrigError(f"{output}: -o would overwrite the input file; write elsewhere")


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        from dlrig.errors import DlrigError

        raise DlrigError(f"{output}: cannot write: {exc.strerror or exc}") from None


@app.command()
def check(
    build_file: Annotated[Path, typer.Argument(help="Build file (TOML).", show_default=False)],
    fmt: Annotated[CheckFormat, typer.Option("--format", "-f", help="Output format.")] = (
        CheckFormat.terminal
    ),
    output: OutputOption = None,
    color: ColorOption = True,
) -> None:
    """Check a planned or existing build against every rule of the guide."""
    from dlrig.catalog.resolve import resolve
    from dlrig.model.load import read_build_file
    from dlrig.report.interface import renderer
    from dlrig.rules import check as run_rules

    _not_over_input(output, build_file)
    shown = str(build_file)
    build = resolve(read_build_file(build_file), shown)
    report = run_rules(build)
    use_color = color and output is None and sys.stdout.isatty()
    _emit(renderer(fmt.value)(report, color=use_color), output)
    raise typer.Exit(EXIT_BUILD_ERRORS if report.has_errors else EXIT_OK)


def _parts(kind: str, fmt: PartsFormat) -> None:
    from dlrig.catalog import load
    from dlrig.report import parts

    rows = getattr(load, kind)()
    render = getattr(parts, f"{kind}_json" if fmt == PartsFormat.json else f"{kind}_table")
    _emit(render(rows), None)


@parts_app.command("gpus")
def parts_gpus(
    fmt: Annotated[PartsFormat, typer.Option("--format", "-f")] = PartsFormat.table,
) -> None:
    """List the GPUs in the catalog."""
    _parts("gpus", fmt)


@parts_app.command("cpus")
def parts_cpus(
    fmt: Annotated[PartsFormat, typer.Option("--format", "-f")] = PartsFormat.table,
) -> None:
    """List the CPUs in the catalog."""
    _parts("cpus", fmt)


@parts_app.command("models")
def parts_models(
    fmt: Annotated[PartsFormat, typer.Option("--format", "-f")] = PartsFormat.table,
) -> None:
    """List the model presets (dlrig estimate --model)."""
    _parts("models", fmt)


# --- estimate ----------------------------------------------------------------------------------


class EstimateFormat(StrEnum):
    terminal = "terminal"
    json = "json"
    markdown = "markdown"
    html = "html"


def _opt(help_text: str, *names: str, **kw: object) -> object:
    return typer.Option(*names, help=help_text, show_default=True, **kw)  # type: ignore[arg-type]


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
    fmt: Annotated[EstimateFormat, typer.Option("--format", "-f", help="Output format.")] = (
        EstimateFormat.terminal
    ),
    output: OutputOption = None,
    color: ColorOption = True,
) -> None:
    """Estimate what a workload needs: GPU memory, throughput, data rate, time and energy."""
    from dlrig.estimate import estimate as run_estimate
    from dlrig.estimate.request import make_job, resolve_model
    from dlrig.report.estimate import renderer as estimate_renderer

    _not_over_input(output, config)
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
    use_color = color and output is None and sys.stdout.isatty()
    if fmt == EstimateFormat.html:
        from dlrig.report.html import render_estimate

        _emit(render_estimate(result), output)
        return
    _emit(estimate_renderer(fmt.value)(result, color=use_color), output)


# --- recommend ---------------------------------------------------------------------------------


class RecommendFormat(StrEnum):
    terminal = "terminal"
    json = "json"
    markdown = "markdown"
    html = "html"


@app.command()
def recommend(
    budget: Annotated[float, _opt("Most the whole machine may cost.", "--budget")],
    workload: Annotated[
        str, _opt("MODEL:TASK, e.g. llama-3-8b:lora or resnet50:train.", "--workload")
    ],
    currency: Annotated[str, _opt("Currency of the budget and prices.", "--currency")] = "USD",
    max_gpus: Annotated[int, _opt("Most GPUs per machine.", "--max-gpus", min=1)] = 8,
    gpu: Annotated[list[str] | None, _opt("Only these GPUs (repeat the option).", "--gpu")] = None,
    precision: Annotated[Precision, _opt("Compute precision.", "--precision")] = Precision.BF16,
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
    fmt: Annotated[RecommendFormat, typer.Option("--format", "-f", help="Output format.")] = (
        RecommendFormat.terminal
    ),
    output: OutputOption = None,
    color: ColorOption = True,
) -> None:
    """Recommend builds for a budget and a workload: Pareto front, value ranking, break-even."""
    from dlrig.model.load import read_toml
    from dlrig.recommend import Request
    from dlrig.recommend import recommend as run_recommend
    from dlrig.recommend.market import apply_prices, catalog_market
    from dlrig.recommend.request import parse_workload
    from dlrig.report import recommend as render

    _not_over_input(output, prices)
    model, task = parse_workload(workload)
    job = {
        "precision": precision.value,
        "quant": quant.value if quant != Quant.NONE else None,
        "seq_len": seq_len,
        "context": context,
        "batch_size": batch_size,
    }
    request = Request(
        workload=workload,
        model=model,
        task=task,
        budget=budget,
        currency=currency.upper(),
        max_gpus=max_gpus,
        top=top,
        job={k: v for k, v in job.items() if v is not None},
        tokens=tokens,
        epochs=epochs,
        dataset_size=dataset_size,
        electricity_price=electricity_price,
        energy_hours=energy_hours,
        cloud_price_per_gpu_hour=cloud_price,
        mains_voltage=mains_voltage,
        circuit_amps=circuit_amps,
        gpus=tuple(gpu or ()),
    )
    market = catalog_market(request.currency)
    if prices is not None:
        market = apply_prices(market, read_toml(prices, "a TOML prices file"), str(prices))
    result = run_recommend(request, market)
    if write_dir is not None:
        _write_builds(result, write_dir)
    if fmt == RecommendFormat.html:
        from dlrig.report.html import render_recommend

        _emit(render_recommend(result), output)
        return
    use_color = color and output is None and sys.stdout.isatty()
    _emit(render.renderer(fmt.value)(result, color=use_color, explain=explain), output)


def _write_builds(result: Recommendation, write_dir: Path) -> None:
    from dlrig.errors import DlrigError
    from dlrig.report import recommend as render

    try:
        write_dir.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(result.proposals, start=1):
            path = write_dir / render.file_name(p, i)
            path.write_text(render.build_toml(result, p), encoding="utf-8")
    except OSError as exc:
        raise DlrigError(f"{write_dir}: cannot write build files: {exc.strerror or exc}") from None
    n = len(result.proposals)
    sys.stderr.write(f"dlrig: wrote {n} build file{'s' if n != 1 else ''} to {write_dir}\n")


# --- probe -------------------------------------------------------------------------------------


class ProbeFormat(StrEnum):
    terminal = "terminal"
    json = "json"
    html = "html"


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
) -> None:
    """Measure this machine (CPU, memory, disk, NVIDIA GPUs) and report what holds it back."""
    from dlrig.errors import DlrigError
    from dlrig.probe.run import check_data_dir, run_probe
    from dlrig.probe.to_build import to_build_toml
    from dlrig.report import probe_json, probe_terminal

    report_file = output if fmt == ProbeFormat.html else None
    if fmt != ProbeFormat.html and output is not None:
        if build_file is not None:
            raise DlrigError("give the build file once: -o or --build-file, not both")
        build_file = output  # the issue 5 contract: `dlrig probe -o mybox.toml`
    if report_file is not None and build_file is not None and report_file == build_file:
        raise DlrigError(f"{build_file}: -o and --build-file name the same file")
    check_data_dir(data_dir)
    show_bars = fmt != ProbeFormat.json and sys.stderr.isatty()
    with probe_terminal.progress_bars(show_bars) as progress:
        result = run_probe(quick=quick, data_dir=data_dir, progress=progress)
    if build_file is not None:
        _emit(to_build_toml(result), build_file)
    if fmt == ProbeFormat.html:
        from dlrig.report.html import render_probe

        _emit(render_probe(result), report_file)
    elif fmt == ProbeFormat.json:
        _emit(probe_json.render(result), None)
    else:
        _emit(probe_terminal.render(result, color=color and sys.stdout.isatty()), None)
    if build_file is not None:
        sys.stderr.write(f"dlrig: wrote {build_file}; check it with: dlrig check {build_file}\n")


# --- pipeline ----------------------------------------------------------------------------------
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
        _emit(render.bench_json(result), None)
    else:
        _emit(render.render_bench(result, color=sys.stdout.isatty()), None)


def _printable(text: str) -> str:
    """One line, no terminal control: newlines, escapes and other control characters from a
    file or an argument are shown as \\n, \\x1b and so on."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"dlrig: error: {_printable(message)}\n")
    return code


def _click_exceptions() -> ModuleType:
    """Click's exception classes: typer >= 0.2x vendors click as `typer._click` (and no longer
    installs click), older typer uses click itself. Either way a usage error must exit 2."""
    try:
        from typer._click import exceptions
    except ImportError:  # older typer
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code instead of exiting (used by tests and `main`)."""
    from dlrig.errors import DlrigError

    _DEBUG["on"] = "--debug" in (argv if argv is not None else sys.argv[1:])
    clicks = _click_exceptions()
    no_args = getattr(clicks, "NoArgsIsHelpError", ())  # click >= 8.2: `dlrig`, `dlrig parts`
    try:
        result = app(args=argv, prog_name="dlrig", standalone_mode=False)
    except DlrigError as exc:
        if _DEBUG["on"]:
            raise
        return _fail(exc.one_line(), EXIT_BAD_INPUT)
    except no_args as exc:
        sys.stdout.write(exc.format_message() + "\n")
        return EXIT_OK
    except clicks.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        message = " ".join(exc.format_message().replace("Value error, ", "").split())
        return _fail(message + hint, EXIT_BAD_INPUT)
    except clicks.ClickException as exc:
        return _fail(" ".join(exc.format_message().split()), EXIT_BAD_INPUT)
    except (typer.Abort, getattr(clicks, "Abort", typer.Abort), KeyboardInterrupt):
        sys.stderr.write("dlrig: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if _DEBUG["on"]:
            raise
        kind = type(exc).__name__
        return _fail(
            f"internal error ({kind}: {exc}); rerun with --debug and report it", EXIT_INTERNAL
        )
    return result if isinstance(result, int) else EXIT_OK


def main() -> None:
    # A terminal or pipe that cannot encode "—" or "°C" gets "?" rather than a traceback.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    sys.exit(run())
