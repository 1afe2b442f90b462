"""`dlrig check --format html`: the build, its charts, the findings and the skipped rules."""

from __future__ import annotations

from dlrig.model.report import CheckReport
from dlrig.report.common import summary_line, title
from dlrig.report.html import check_charts, page


def build_rows(report: CheckReport) -> list[tuple[str, str]]:
    """The resolved build, one line per part, as the findings refer to it."""
    b = report.build
    rows: list[tuple[str, str]] = []
    if b.cpu is not None:
        rows.append(("CPU", f"{b.cpu.count} x {b.cpu.name} ({b.cpu.cores} cores)"))
    if b.memory is not None:
        rows.append(("RAM", f"{b.memory.size_gb:g} GB"))
    rows += [("GPU", f"{g.count} x {g.name} ({g.memory_gb:g} GB, {g.power_w:g} W)") for g in b.gpus]
    if b.psu is not None:
        rows.append(("PSU", f"{b.psu.watts:g} W {b.psu.rating or ''}".rstrip()))
    rows += [("Storage", f"{s.kind}, {s.read_mbs:g} MB/s") for s in b.storage]
    w = b.workload
    if w is not None and w.model:
        rows.append(("Workload", f"{w.model} {w.task or ''}".rstrip()))
    return rows


def render_check(report: CheckReport, *, color: bool = False) -> str:
    """The check report as one self-contained HTML page (`color` is the renderers' common
    signature; the page always has its colours)."""
    return page.render(
        "check.html.j2",
        page_title=f"dlrig check — {title(report)}",
        summary=summary_line(report),
        worst=page.worst(report.findings),
        build_rows=build_rows(report),
        charts=check_charts.all_charts(report),
        findings=report.findings,
        counts=summary_line(report),  # with the skipped count, as the terminal prints it
        skipped=report.skipped,
    )
