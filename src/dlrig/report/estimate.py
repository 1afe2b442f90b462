"""Render an `Estimate`: terminal tables (rich), JSON (dlrig.estimate/2) and Markdown."""

from __future__ import annotations

import io
from collections.abc import Callable

from dlrig.model.estimate import Estimate, Interval, ThroughputEstimate
from dlrig.model.text import markdown_safe
from dlrig.report.common import interval_ends
from dlrig.report.json import dumps

MEMORY_ROWS = (
    ("weights", "weights_gb"),
    ("gradients", "gradients_gb"),
    ("optimizer states", "optimizer_gb"),
    ("activations", "activations_gb"),
    ("logits", "logits_gb"),
    ("KV cache", "kv_cache_gb"),
    ("engine buffers", "engine_buffers_gb"),
    ("dequantised base matrix", "dequant_gb"),
    ("allocator slack", "allocator_slack_gb"),
    ("CUDA context", "cuda_context_gb"),
    ("cuBLAS workspace", "cublas_workspace_gb"),
    ("NCCL buffers", "nccl_buffers_gb"),
)
VERDICT_STYLE = {"fits": "green", "tight": "yellow", "does not fit": "red"}
VERDICT_TEXT = {
    "fits": "fits",
    "tight": "tight: within the estimator's error",
    "does not fit": "does not fit",
}
WIDTH = 100
MS_PER_S = 1e3
HOURS_PER_DAY = 24


def render_json(est: Estimate, *, color: bool = False) -> str:
    # Strict JSON (report/json.dumps: allow_nan=False); every number the estimator returns is
    # finite, and a NaN would be null with its reason rather than bare NaN.
    return dumps(est.model_dump(by_alias=True))


def _pm(iv: Interval | None) -> str:
    """' ± 12%', a prediction's interval as its fraction (nothing without one)."""
    return f" ± {iv.frac:.0%}" if iv else ""


def _pm_about(value: float | None, iv: Interval | None, spec: str = "") -> str:
    """' ± 13% [111–144]': the prediction's ± and where the measured value lies for it (not
    value x (1 ± frac): Interval.band); the span over engines under --tp without --engine
    (estimate/engine_spread.py) is its ends alone, ' [15–40]'."""
    if iv is None or value is None:
        return _pm(iv)
    spec = spec or (",.0f" if value >= 100 else ",.1f")
    ends = _range(iv, 1, spec)
    return ends if iv.kind == "span" else _pm(iv) + ends


def total_row(est: Estimate) -> str:
    """`23.41 ± 12% [20.90–26.60]` (the interval of the nvidia-smi figure)."""
    m = est.memory
    return f"{m.per_gpu_gb:,.2f}{_pm_about(m.per_gpu_gb, m.per_gpu_interval, ',.2f')}"


def total_label(est: Estimate) -> str:
    """What the total row is: nvidia-smi's figure, or under a pool engine (vLLM, SGLang,
    TensorRT-LLM, which fill their share with KV cache) what the requested sequences need; with
    a load-time peak (a base quantised on the GPU) the larger of the step's and the load's."""
    if est.memory.kv_capacity_tokens is not None:
        return "needed (requested sequences' KV + the share the engine leaves)"
    if est.memory.load_peak_gb is not None:
        return f"peak as nvidia-smi shows it (at {est.memory.peak_at})"
    return "total as nvidia-smi shows it"


def memory_rows(est: Estimate) -> list[tuple[str, str]]:
    m = est.memory
    rows = [(label, f"{getattr(m, f):,.2f}") for label, f in MEMORY_ROWS if getattr(m, f) > 0]
    rows += [
        ("allocated (torch max_memory_allocated)", f"{m.allocated_gb:,.2f}"),
        ("reserved (torch max_memory_reserved)", f"{m.reserved_gb:,.2f}"),
    ]
    if m.kv_capacity_tokens is not None:
        rows += [
            ("nvidia-smi shows", f"{m.nvidia_smi_gb:,.2f}"),
            (
                "KV cache holds (tokens)",
                f"{m.kv_capacity_tokens:,} = {m.max_concurrent_sequences or 0:,} x "
                f"{m.context_tokens or 0:,}",
            ),
        ]
    if m.load_peak_gb is not None:
        rows += [
            ("training step as nvidia-smi shows it", f"{m.nvidia_smi_gb:,.2f}"),
            ("loading: quantising the base (nvidia-smi)", f"{m.load_peak_gb:,.2f}"),
        ]
    return rows


def fix_lines(est: Estimate) -> list[tuple[str, str]]:
    out = []
    for i, f in enumerate(est.fixes):
        label = "to fit: " if i == 0 else "or: "
        out.append(
            (label, f"{f.flag}  → {f.per_gpu_gb:,.1f} GB per GPU, {f.verdict}; cost: {f.cost}")
        )
    return out


def _rate(value: float | None, unit: str) -> str | None:
    if value is None:
        return None
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.2f} {unit}"


def _range(iv: Interval | None, scale: float, spec: str, unit: str = "") -> str:
    """' [low–high unit]': where the measured value lies (a rate's band is not symmetric
    about it, nor the span over engines; common.interval_ends)."""
    if iv is None:
        return ""
    return f" [{interval_ends(iv, lambda x: f'{x * scale:{spec}}', unit)}]"


def _ttft(t: ThroughputEstimate) -> str:
    """The time to the first token with its range (the prefill rate's ± on a time)."""
    return f"{t.ttft_s * MS_PER_S:,.0f} ms" + _range(t.ttft_interval, MS_PER_S, ",.0f", " ms")


def headline(est: Estimate) -> str:
    gpus = f"{est.n_gpus} x {est.gpu}" if est.n_gpus > 1 else est.gpu
    label = "context" if est.task == "infer" else "seq"
    seq = f", {label} {est.seq_len}" if est.seq_len else ""
    accum = f" x {est.grad_accum} accumulated" if est.grad_accum > 1 else ""
    plan = " · " + " ".join(
        f"{k}{v}" for k, v in est.plan.items() if v > 1 and k not in ("dp", "nodes")
    )
    return (
        f"{est.model} · {est.task} · {gpus} · {est.precision}"
        f"{'' if est.quant == 'none' else ' · ' + est.quant} · batch {est.batch_size}{accum}"
        f"{seq}{plan if plan.strip(' ·') else ''}"
    )


def _short_source(source: str) -> str:
    """`key = value: long citation` → `key`; the full citation is in the sources list."""
    return source.split(" = ")[0] if " = " in source else source


def throughput_rows(est: Estimate) -> list[tuple[str, str]]:
    t = est.throughput
    spread = _pm_about(t.tokens_per_s or t.samples_per_s, t.interval)
    # the interval goes on the job's headline rate: tokens/s, or samples/s for a model that
    # counts none (a CNN's or ViT's images)
    per_sample = "" if t.tokens_per_s else spread
    rows = [
        ("tokens/s (job)", _rate(t.tokens_per_s, "tokens/s" + spread)),
        ("tokens/s per GPU", _rate(t.tokens_per_s_per_gpu, "tokens/s")),
        ("samples/s (job)", _rate(t.samples_per_s, "samples/s" + per_sample)),
        ("samples/s per GPU", _rate(t.samples_per_s_per_gpu, "samples/s")),
        (
            "prefill",
            _rate(
                t.prefill_tokens_per_s,
                "tokens/s" + _pm_about(t.prefill_tokens_per_s, t.prefill_interval),
            ),
        ),
        ("utilisation assumed", f"{t.utilization:.0%}  ({_short_source(t.utilization_source)})"),
        ("peak per GPU", f"{t.peak_tflops:g} TFLOPS"),
        ("step time", f"{t.step_time_s * MS_PER_S:,.1f} ms ({t.bound}-bound)"),
        ("time to first token", _ttft(t) if t.ttft_s else None),
    ]
    if est.n_gpus > 1:
        rows.append(
            (
                "GPU-to-GPU traffic",
                f"{t.allreduce_time_s * MS_PER_S:,.1f} ms per step over {t.link}, "
                f"{t.exposed_comm_s * MS_PER_S:,.1f} ms of it not hidden by compute",
            )
        )
    return [(k, v) for k, v in rows if v is not None]


def outcome_rows(est: Estimate) -> list[tuple[str, str]]:
    d = est.data_rate
    rows = [
        (
            "time",
            f"{est.time_hours:,.1f} h ({est.time_hours / HOURS_PER_DAY:,.1f} days)"
            f"{_range(est.time_hours_interval, 1, ',.1f', ' h')}"
            if est.time_hours is not None
            else "give --tokens or --epochs with --dataset-size",
        ),
        (
            "energy",
            f"{est.energy_kwh:,.0f} kWh{_range(est.energy_kwh_interval, 1, ',.0f', ' kWh')}"
            if est.energy_kwh is not None
            else f"{est.energy_kwh_per_hour:.2f} kWh per hour",
        ),
        ("GPU power", f"{est.power_w:,.0f} W"),
        (
            "cloud cost",
            f"{est.cloud_cost:,.0f}{_range(est.cloud_cost_interval, 1, ',.0f')}"
            if est.cloud_cost is not None
            else None,
        ),
        (
            "electricity cost",
            f"{est.electricity_cost:,.0f}{_range(est.electricity_cost_interval, 1, ',.0f')}"
            if est.electricity_cost is not None
            else None,
        ),
        ("disk read needed", f"{d.disk_mbs:,.1f} MB/s"),
        ("PCIe per GPU needed", f"{d.pcie_gbs:,.3f} GB/s"),
        ("CPU cores for decoding", f"{d.cpu_cores:,.1f}" if d.cpu_cores is not None else None),
    ]
    return [(k, v) for k, v in rows if v is not None]


def render_terminal(est: Estimate, *, color: bool = True) -> str:
    from rich.table import Table
    from rich.text import Text

    from dlrig.report.terminal import text_console

    buf = io.StringIO()
    console = text_console(buf, color, WIDTH)
    console.print(Text(f"dlrig estimate — {headline(est)}", style="bold"))
    m = est.memory
    mem = Table(title="GPU memory per GPU", title_justify="left", show_header=True)
    mem.add_column("part")
    mem.add_column("GB", justify="right")
    for label, value in memory_rows(est):
        mem.add_row(label, value)
    mem.add_row(Text(total_label(est), style="bold"), Text(total_row(est), style="bold"))
    mem.add_row(f"{est.gpu} capacity", f"{m.capacity_gb:,.2f}")
    mem.add_row(
        Text(VERDICT_TEXT[m.verdict], style=f"bold {VERDICT_STYLE[m.verdict]}"),
        f"{m.headroom_gb:+,.2f} headroom",
    )
    console.print(mem)
    for title, rows in (
        ("Throughput", throughput_rows(est)),
        ("Time, energy, data rate", outcome_rows(est)),
    ):
        table = Table(title=title, title_justify="left", show_header=False)
        table.add_column("")
        table.add_column("")
        for k, v in rows:
            table.add_row(k, v)
        console.print(table)
    console.print(Text(f"input pipeline: {est.data_rate.note}", style="dim"))
    for w in est.warnings:
        console.print(Text.assemble(("warning: ", "bold yellow"), w))
    for label, line in fix_lines(est):
        console.print(Text.assemble((label, "bold"), line))
    console.print(Text("assumed:", style="italic"))
    for a in est.assumptions:
        console.print(Text(f"  - {a}", style="dim"))
    console.print(Text("sources:", style="italic"))
    for s in est.sources:
        console.print(Text(f"  - {s}", style="dim"))
    return buf.getvalue()


def render_markdown(est: Estimate, *, color: bool = False) -> str:
    m = est.memory
    lines = [f"# dlrig estimate — {headline(est)}", "", "| memory per GPU | GB |", "|---|---:|"]
    lines += [f"| {label} | {value} |" for label, value in memory_rows(est)]
    verdict = VERDICT_TEXT[m.verdict]
    lines += [
        f"| **{total_label(est)}** | **{total_row(est)}** |",
        f"| {est.gpu} capacity | {m.capacity_gb:,.2f} |",
        f"| {verdict if m.verdict == 'fits' else f'**{verdict}**'} | "
        f"{m.headroom_gb:+,.2f} headroom |",
        "",
    ]
    for title, rows in (
        ("Throughput", throughput_rows(est)),
        ("Time, energy, data rate", outcome_rows(est)),
    ):
        lines += [f"## {title}", "", "| | |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in rows]
        lines.append("")
    lines += [f"Input pipeline: {est.data_rate.note}", ""]
    lines += [f"- **warning:** {w}" for w in est.warnings]
    lines += [f"- **{label.strip(': ')}:** {line}" for label, line in fix_lines(est)]
    lines += ["", "## Assumptions", ""] + [f"- {a}" for a in est.assumptions]
    lines += ["", "## Sources", ""] + [f"- {s}" for s in est.sources]
    return markdown_safe("\n".join(lines) + "\n")


def renderer(fmt: str) -> Callable[..., str]:
    return {"json": render_json, "markdown": render_markdown}.get(fmt, render_terminal)
