"""`dlrig estimate --format html`: the estimate's tables and charts on one page."""

from __future__ import annotations

from dlrig.model.estimate import Estimate
from dlrig.report.estimate import MEMORY_ROWS, headline, outcome_rows, throughput_rows
from dlrig.report.html import estimate_charts, page


def render_estimate(est: Estimate, *, color: bool = False) -> str:
    m = est.memory
    memory_rows = [(label, f"{getattr(m, name):,.2f}") for label, name in MEMORY_ROWS]
    memory_rows += [
        ("total (peak)", f"{m.per_gpu_gb:,.2f}"),
        (f"{est.gpu} capacity", f"{m.capacity_gb:,.2f}"),
        ("headroom", f"{m.headroom_gb:+,.2f}"),
    ]
    return page.render(
        "estimate.html.j2",
        page_title=f"dlrig estimate — {headline(est)}",
        est=est,
        memory_rows=memory_rows,
        throughput_rows=throughput_rows(est),
        outcome_rows=outcome_rows(est),
        charts=estimate_charts.all_charts(est),
    )
