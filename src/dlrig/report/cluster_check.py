"""`dlrig check` of a cluster file: terminal, JSON (`dlrig.cluster-check/1`), Markdown, HTML.

The cluster findings first, then each distinct node kind's single-node report."""

from __future__ import annotations

import io
import json

from dlrig.model.cluster import ClusterCheckReport, NodeKind
from dlrig.model.finding import Severity
from dlrig.report.common import HEADINGS, MARKS, counts_line, number_text


def title_line(report: ClusterCheckReport) -> str:
    c = report.cluster

    def gpus(k: NodeKind) -> str:
        return " + ".join(f"{g.count} x {g.name}" for g in k.build.gpus) or "no GPU"

    kinds = " + ".join(f"{k.count} x {k.kind} ({gpus(k)})" for k in c.kinds)
    return f"{c.name or 'unnamed cluster'}: {kinds}"


def cluster_rows(report: ClusterCheckReport) -> list[tuple[str, str]]:
    c = report.cluster
    rows = [("nodes", f"{c.n_nodes} in {c.racks} rack(s)"), ("GPUs", str(c.n_gpus))]
    net = c.network
    if net is not None and c.fabric is not None:
        rows.append(("fabric", f"{net.nics_per_node} x {c.fabric.name} per node ({c.fabric.id})"))
        rows.append(("topology", f"{net.topology or 'not given'}, {net.oversubscription:g}:1"))
    if c.storage_fabric is not None:
        rows.append(("storage", c.storage_fabric.name))
    if c.measured_busbw_gbs is not None:
        rows.append(
            ("measured", f"{c.measured_busbw_gbs:g} GB/s bus bandwidth ({c.measured_source})")
        )
    return rows


def _summary(report: ClusterCheckReport) -> str:
    fs = report.all_findings()
    n = [
        sum(f.severity == s for f in fs)
        for s in (Severity.ERROR, Severity.WARNING, Severity.INFO, Severity.OK)
    ]
    skipped = len(report.skipped) + sum(len(k.report.skipped) for k in report.kinds)
    return f"{counts_line(*n)}, {skipped} skipped"


def render_terminal(report: ClusterCheckReport, *, color: bool = False) -> str:
    from rich.text import Text

    from dlrig.report.terminal import STYLES, print_finding, text_console

    buf = io.StringIO()
    console = text_console(buf, color)
    console.print(Text(f"dlrig check — {title_line(report)}", style="bold"))
    for k, v in cluster_rows(report):
        console.print(f"  {k}: {v}")
    sections = [("Cluster", report.findings, report.skipped)] + [
        (f"Node kind {k.kind} ({k.count} nodes)", k.report.findings, k.report.skipped)
        for k in report.kinds
    ]
    for heading, findings, skipped in sections:
        console.print()
        console.rule(Text(heading, style="bold"))
        for f in sorted(findings, key=lambda f: f.severity.rank):
            print_finding(f, console)
        for s in skipped:
            console.print(
                Text.assemble(f" - skipped {s.rule}: ", (s.reason, "dim")), highlight=False
            )
    console.print()
    worst = min(
        (f.severity for f in report.all_findings()), key=lambda s: s.rank, default=Severity.OK
    )
    console.print(Text(_summary(report), style=STYLES[worst]))
    return buf.getvalue()


def render_markdown(report: ClusterCheckReport) -> str:
    lines = [f"# dlrig check: {title_line(report)}", "", f"**{_summary(report)}**", ""]
    lines += [f"- **{k}:** {v}" for k, v in cluster_rows(report)] + [""]
    sections = [("Cluster", report.findings, report.skipped)] + [
        (f"Node kind {k.kind} ({k.count} nodes)", k.report.findings, k.report.skipped)
        for k in report.kinds
    ]
    for heading, findings, skipped in sections:
        lines += [f"## {heading}", ""]
        for f in sorted(findings, key=lambda f: f.severity.rank):
            lines += [
                f"### {MARKS[f.severity]} `{f.id}`: {f.title} ({HEADINGS[f.severity]})",
                "",
                f.message,
                "",
            ]
            if f.numbers:
                lines += ["| number | value |", "|---|---|"]
                lines += [f"| {name} | {number_text(q)} |" for name, q in f.numbers.items()] + [""]
            if f.fix:
                lines += [f"- **Fix:** {f.fix}"]
            lines += [f"- **Source:** {f.source}", ""]
        lines += [f"- skipped `{s.rule}`: {s.reason}" for s in skipped]
        lines.append("")
    return "\n".join(lines)


def render(report: ClusterCheckReport, fmt: str, *, color: bool = False) -> str:
    if fmt == "json":
        return (
            json.dumps(report.to_json_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        )
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "html":
        from dlrig.report.cluster_html import render_cluster_check

        return render_cluster_check(report)
    return render_terminal(report, color=color)
