"""`dlrig estimate --format html`: the estimate's tables and charts on one page."""

from __future__ import annotations

from dlrig.model.estimate import Estimate
from dlrig.report.estimate import (
    VERDICT_TEXT,
    headline,
    memory_rows,
    outcome_rows,
    throughput_rows,
    total_label,
    total_row,
)
from dlrig.report.html import estimate_charts, page


def render_estimate(est: Estimate, *, color: bool = False) -> str:
    m = est.memory
    rows = memory_rows(est)
    rows += [
        (total_label(est), total_row(est)),
        (f"{est.gpu} capacity", f"{m.capacity_gb:,.2f}"),
        ("headroom", f"{m.headroom_gb:+,.2f}"),
        ("verdict", VERDICT_TEXT[m.verdict]),
    ]
    runs, outcomes = throughput_rows(est), outcome_rows(est)
    if not m.fits:
        # A job that does not fit does not run: no throughput, time or cost as if it did.
        why = (
            f"none: the job does not fit ({m.per_gpu_gb:,.1f} GB needed per GPU, "
            f"{m.capacity_gb:,.1f} GB available); see the fixes above"
        )
        runs = [("throughput", why)]
        outcomes = [(k, v) for k, v in outcomes if k == "GPU power"] + [("time and cost", why)]
    return page.render(
        "estimate.html.j2",
        page_title=f"dlrig estimate — {headline(est)}",
        est=est,
        memory_rows=rows,
        throughput_rows=runs,
        outcome_rows=outcomes,
        charts=estimate_charts.all_charts(est),
    )
