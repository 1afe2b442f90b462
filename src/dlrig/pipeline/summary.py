"""`str(report)`: the profiler's report as plain text, for `print(report)` in a training script.

Plain text on purpose: the pipeline layer imports neither rich nor the report layer (which draws
the same report as tables for `dlrig pipeline`). No square brackets, so rich may print it as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlrig.pipeline.result import PipelineReport

MS_PER_S = 1e3
VERDICT_BOUNDS = {
    "compute-bound": "< 5 %",
    "moderately input-bound": "5-20 %",
    "input-bound": ">= 20 %",
}


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * MS_PER_S:,.2f} ms"


def rate(seconds: float | None) -> str:
    return "-" if not seconds else f"{1 / seconds:,.1f}/s"


def share(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if whole > 0 else "-"


def verdict_line(report: PipelineReport) -> str:
    verdict = str(report.verdict)
    return (
        f"verdict: {verdict} — {report.input_fraction:.1%} of each step waits on input "
        f"({VERDICT_BOUNDS.get(verdict, '')})"
    )


def summary_text(report: PipelineReport) -> str:
    r = report
    util = f"{r.gpu_util_pct:.0f} %" if r.gpu_util_pct is not None else r.gpu_util_unavailable
    lines = [
        f"dlrig pipeline profile — {r.device}, {r.loop} loop, {r.steps} steps",
        f"Per step: {ms(r.step_s)} ({rate(r.step_s)}); waiting for the batch {ms(r.wait_s)} "
        f"(p95 {ms(r.wait_p95_s)}, {share(r.wait_s, r.step_s)}), host-to-device copy "
        f"{ms(r.h2d_s)} ({share(r.h2d_s, r.step_s)}), compute {ms(r.compute_s)} "
        f"({share(r.compute_s, r.step_s)}); GPU utilisation {util or '-'}",
        verdict_line(r),
    ]
    s = r.stages
    if s is not None:
        lines.append(f"bottleneck: {r.bottleneck}")
        alone = [f"loader ({s.workers} workers) {ms(s.load_s)}"]
        if s.read_s:
            alone.append(f"of which disk read {ms(s.read_s)}")
        alone.append(f"step on a cached batch {ms(s.compute_s)}")
        if s.h2d_pinned_s is not None:
            alone.append(f"copy {ms(s.h2d_s)} pageable, {ms(s.h2d_pinned_s)} pinned")
        alone.append(f"model of the {s.loop} loop {ms(r.model_step_s)}")
        lines.append("Each stage alone: " + "; ".join(alone))
        lines.append("What if (predicted, one change at a time):")
        best = r.top
        for p in r.predictions:
            mark = "->" if best is not None and p is best else "  "
            if p.applicable and p.gain is not None:
                lines.append(f" {mark} {p.title}: {rate(p.step_s)} ({p.gain:.2f}x)")
                lines += [f"      assumes {a}" for a in p.assumptions]
            else:
                lines.append(f" {mark} {p.title}: no ({p.reason})")
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines).replace("[", "(").replace("]", ")")
