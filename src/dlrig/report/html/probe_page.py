"""`dlrig probe --format html`: the measurements, the measured-vs-rated chart and the findings."""

from __future__ import annotations

import platform

from pydantic import BaseModel

from dlrig.probe.models import GpuInfo, Section
from dlrig.probe.result import ProbeResult
from dlrig.report.html import page, probe_charts
from dlrig.report.probe_terminal import CHECK, SKIP, value_text

Row = tuple[str, str, str]  # field, value with unit (or "unavailable: why"), cross-check


def _cross_check(model: type[BaseModel], name: str) -> str:
    m = CHECK.search(model.model_fields[name].description or "")
    return m.group(1) if m else ""


def section_rows(section: Section) -> list[Row]:
    """Every field of a section as the terminal shows it, with its cross-check command."""
    model = type(section)
    return [
        (
            name,
            value_text(name, getattr(section, name), section.reason(name)).plain,
            _cross_check(model, name),
        )
        for name in model.model_fields
        if name not in SKIP
    ]


def gpu_rows(result: ProbeResult) -> list[tuple[str, list[str], str]]:
    return [
        (
            name,
            [value_text(name, getattr(g, name), g.reason(name)).plain for g in result.gpus],
            _cross_check(GpuInfo, name),
        )
        for name in GpuInfo.model_fields
        if name not in SKIP
    ]


def render_probe(result: ProbeResult, *, host: str = "") -> str:
    host = host or platform.node() or "this machine"
    mode = "quick" if result.quick else "full"
    sections = [
        ("CPU", section_rows(result.cpu)),
        ("Memory", section_rows(result.memory)),
        (f"Disk under {result.disk.path}", section_rows(result.disk)),
    ]
    if result.gpus:
        sections.append(("GPU benchmarks (PyTorch)", section_rows(result.torch)))
    return page.render(
        "probe.html.j2",
        page_title=f"dlrig probe — {host} ({mode}, {result.duration_s:g} s)",
        result=result,
        sections=sections,
        gpu_rows=gpu_rows(result) if result.gpus else [],
        charts=probe_charts.all_charts(result),
        findings=result.findings,
        counts=page.counts(result.findings),
        worst=page.worst(result.findings),
    )
