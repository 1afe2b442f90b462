"""Terminal tables for `dlrig.pipeline`: the profiler's report and `dlrig pipeline bench`."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from dlrig.pipeline.summary import ms as _ms
from dlrig.pipeline.summary import rate as _rate
from dlrig.pipeline.summary import share as _pct
from dlrig.pipeline.summary import verdict_line
from dlrig.report.json import dumps
from dlrig.report.terminal import text_console

if TYPE_CHECKING:
    from dlrig.pipeline.bench import BenchResult
    from dlrig.pipeline.result import PipelineReport

WIDTH = 100
VERDICT_STYLE = {
    "compute-bound": "bold green",
    "moderately input-bound": "bold yellow",
    "input-bound": "bold red",
}


def verdict_text(report: PipelineReport) -> Text:
    style = VERDICT_STYLE.get(str(report.verdict), "bold")
    return Text.assemble(
        ("verdict: ", "bold"),
        (str(report.verdict), style),
        verdict_line(report).split(str(report.verdict), 1)[1],
    )


def _measured(report: PipelineReport) -> Table:
    t = Table(title="Per step (measured in the loop)", title_justify="left", expand=False)
    for name in ("", "time", "share of step"):
        t.add_column(name, justify="right" if name else "left")
    t.add_row("step", f"{_ms(report.step_s)}  ({_rate(report.step_s)})", "100%")
    t.add_row(
        "waiting for the batch",
        f"{_ms(report.wait_s)}  (p95 {_ms(report.wait_p95_s)})",
        _pct(report.wait_s, report.step_s),
    )
    t.add_row("host-to-device copy", _ms(report.h2d_s), _pct(report.h2d_s, report.step_s))
    t.add_row("compute", _ms(report.compute_s), _pct(report.compute_s, report.step_s))
    util = (
        f"{report.gpu_util_pct:.0f} %"
        if report.gpu_util_pct is not None
        else report.gpu_util_unavailable
    )
    t.add_row("GPU utilisation", util or "-", "")
    return t


def _stages(report: PipelineReport) -> Table:
    s = report.stages
    assert s is not None
    t = Table(title="Each stage alone", title_justify="left", expand=False)
    t.add_column("stage")
    t.add_column("time per batch", justify="right")
    t.add_column("rate", justify="right")
    t.add_row(f"loader ({s.workers} workers)", _ms(s.load_s), _rate(s.load_s))
    if s.read_s:
        t.add_row("  of which disk read", _ms(s.read_s), _rate(s.read_s))
    t.add_row("step on a cached batch", _ms(s.compute_s), _rate(s.compute_s))
    if s.h2d_pinned_s is not None:
        t.add_row("copy, pageable", _ms(s.h2d_s), _rate(s.h2d_s))
        t.add_row("copy, pinned", _ms(s.h2d_pinned_s), _rate(s.h2d_pinned_s))
    t.add_row(f"model: {s.loop} loop", _ms(report.model_step_s), _rate(report.model_step_s))
    return t


def _predictions(report: PipelineReport) -> Table:
    t = Table(title="What if (predicted, one change at a time)", title_justify="left", expand=True)
    t.add_column("fix", max_width=28)
    t.add_column("steps/s", justify="right", no_wrap=True)
    t.add_column("gain", justify="right", no_wrap=True)
    t.add_column("assumes / why not", ratio=1)
    best = report.top
    for p in report.predictions:
        mark = "→ " if best is not None and p is best else ""
        if p.applicable:
            assumed = "\n".join(f"- {a}" for a in p.assumptions)
            t.add_row(mark + p.title, _rate(p.step_s), f"{p.gain:.2f}x", assumed)
        else:
            t.add_row(p.title, "-", "-", Text(p.reason, style="dim"))
    return t


def profile_renderable(report: PipelineReport) -> Group:
    head = Text(
        f"dlrig pipeline profile — {report.device}, {report.loop} loop, {report.steps} steps",
        style="bold",
    )
    parts: list[Any] = [head, _measured(report), verdict_text(report)]
    if report.stages is not None:
        parts += [Text(f"bottleneck: {report.bottleneck}"), _stages(report), _predictions(report)]
    parts += [Text(f"note: {n}", style="dim") for n in report.notes]
    return Group(*parts)


def _console(buf: io.StringIO, color: bool) -> Console:
    return text_console(buf, color, WIDTH)


def render_profile(report: PipelineReport, *, color: bool = False) -> str:
    buf = io.StringIO()
    _console(buf, color).print(profile_renderable(report))
    return buf.getvalue()


def bench_renderable(result: BenchResult) -> Group:
    p = result.params
    head = Text(
        f"dlrig pipeline bench — {p.device}: load {p.load_ms:g} ms (read {p.read_ms:g} ms), "
        f"compute {p.compute_ms:g} ms, {p.steps} steps, depth {p.depth}, {p.workers} workers",
        style="bold",
    )
    t = Table(title="Step rate", title_justify="left")
    t.add_column("loop")
    t.add_column("steps/s", justify="right")
    t.add_column("ms/step", justify="right")
    t.add_column("ratio", justify="right")
    ratios = result.ratios()
    t.add_row(
        "plain (measured)",
        _rate(result.plain_step_s),
        _ms(result.plain_step_s),
        f"{ratios['plain_vs_serial']:.3f} of 1/(load+compute)",
    )
    t.add_row(
        "prefetched (measured)",
        _rate(result.prefetched_step_s),
        _ms(result.prefetched_step_s),
        f"{ratios['prefetched_vs_ideal']:.3f} of ideal",
    )
    t.add_row("ideal 1/max(load, compute)", _rate(result.ideal_step_s), _ms(result.ideal_step_s))
    speed = Text(f"prefetching: {ratios['prefetched_vs_plain']:.2f}x the plain loop")
    if p.workers:
        speed.append(
            f" (the plain loop already loads in {p.workers} worker thread(s), so it overlaps too)"
        )
    checks = Table(
        title="Predictions checked (change applied, then measured)", title_justify="left"
    )
    for name in ("fix", "predicted steps/s", "measured steps/s", "error"):
        checks.add_column(name, justify="left" if name == "fix" else "right")
    for c in result.checks:
        checks.add_row(
            c.title, _rate(c.predicted_step_s), _rate(c.measured_step_s), f"{c.error:+.1%}"
        )
    top = result.profile.top
    parts: list[Any] = [head, t, speed, verdict_text(result.profile)]
    if top is not None:
        parts.append(Text(f"top recommendation: {top.title} ({top.gain:.2f}x predicted)"))
    parts.append(checks)
    return Group(*parts)


def render_bench(result: BenchResult, *, color: bool = False) -> str:
    buf = io.StringIO()
    _console(buf, color).print(bench_renderable(result))
    return buf.getvalue()


def bench_json(result: BenchResult) -> str:
    return dumps(result.to_dict())
