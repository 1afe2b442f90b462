"""`dlrig probe --cluster` reports: terminal, JSON (`dlrig.cluster/1`), Markdown, HTML, and the
cluster build file (`.toml`) that `dlrig check` reads."""

from __future__ import annotations

import io
import json

from dlrig.model.cluster import ClusterProbeResult, CollectiveSeries, NodeFigures
from dlrig.model.finding import Severity
from dlrig.report.common import MARKS, counts_line

# Columns of the per-node table: (header, getter, format)
NODE_COLUMNS = (
    ("node", lambda n: n.node, "{}"),
    ("ranks", lambda n: len(n.ranks), "{}"),
    ("GPUs", lambda n: n.gpus, "{}"),
    ("TFLOPS", lambda n: n.gpu_tflops, "{:.4g}"),
    ("PCIe", lambda n: _pcie(n), "{}"),
    ("disk MB/s", lambda n: n.disk_read_mbs, "{:,.0f}"),
    ("RAM GB/s", lambda n: n.memory_bandwidth_gbs, "{:.3g}"),
    ("SM clock %", lambda n: n.sm_clock_pct, "{:.0f}"),
    ("throttled", lambda n: n.throttled_gpus, "{}"),
    ("NIC GB/s", lambda n: n.nic_gbs, "{:g}"),
    ("in-node busbw", lambda n: n.intra_busbw_gbs, "{:.4g}"),
)


def _pcie(n: NodeFigures) -> str | None:
    if n.pcie_gen_min is None and n.pcie_width_min is None:
        return None
    gen = f"{n.pcie_gen_min}.0" if n.pcie_gen_min is not None else "?"
    width = f"x{n.pcie_width_min}" if n.pcie_width_min is not None else "x?"
    return f"{gen} {width}"


def cell(value: object, form: str) -> str:
    if value is None:
        return "—"
    try:
        return form.format(value)
    except (ValueError, TypeError):
        return str(value)


def size_text(size: int) -> str:
    for unit, div in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= div and size % div == 0:
            return f"{size // div}{unit}"
    return str(size)


def _outlier_nodes(result: ClusterProbeResult) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for o in result.outliers:
        out.setdefault(o.node, []).append(o.metric)
    return out


def summary(result: ClusterProbeResult) -> str:
    sev = [f.severity for f in result.findings]
    counts = counts_line(
        *(sev.count(s) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO, Severity.OK))
    )
    n, r = len(result.nodes), result.world_size
    size = f"{n} node{'s' if n != 1 else ''}, {r} rank{'s' if r != 1 else ''} ({result.backend})"
    return f"{result.status}: {size}; {counts}"


def _series_rows(s: CollectiveSeries) -> list[tuple[str, str, str, str]]:
    return [
        (size_text(p.size_bytes), f"{p.time_us:,.1f}", f"{p.algbw_gbs:.4g}", f"{p.busbw_gbs:.4g}")
        for p in s.points
    ]


def series_title(s: CollectiveSeries) -> str:
    groups = f", {s.groups} at once" if s.groups > 1 else ""
    bound = (
        f"; bound {s.bound_gbs:g} GB/s: {s.bound_what}"
        if s.bound_gbs
        else f"; {s.bound_what}"
        if s.bound_what
        else ""
    )
    return f"{s.op} {s.scope}: {s.ranks} ranks{groups} ({s.backend}){bound}"


# ----------------------------------------------------------------------------- terminal


def render_terminal(result: ClusterProbeResult, *, color: bool = False) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from dlrig.report.terminal import STYLES, WIDTH, print_finding

    buf = io.StringIO()
    console = Console(
        file=buf,
        width=WIDTH + 20,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        emoji=False,
    )
    head = "dlrig probe --cluster — " + summary(result)
    console.print(Text(head, style="bold" if result.complete else "bold red"))
    flagged = _outlier_nodes(result)
    table = Table(show_edge=False, pad_edge=False)
    for header, _, _ in NODE_COLUMNS:
        table.add_column(header, justify="left" if header == "node" else "right")
    table.add_column("outlier on")
    for n in result.nodes[:64]:
        table.add_row(
            *(cell(get(n), form) for _, get, form in NODE_COLUMNS),
            ", ".join(flagged.get(n.node, [])),
        )
    console.print()
    console.print(Text("Nodes", style="bold"))
    console.print(table)
    if len(result.nodes) > 64:
        console.print(f"... {len(result.nodes) - 64} more nodes in the JSON report")
    ranks = Table(show_edge=False, pad_edge=False)
    for header in ("rank", "node", "local", "device", "matmul TFLOPS"):
        ranks.add_column(
            header, justify="right" if header in ("rank", "local", "matmul TFLOPS") else "left"
        )
    for r in result.ranks[:64]:
        ranks.add_row(
            str(r.rank), r.node, str(r.local_rank), r.device, cell(r.matmul_tflops, "{:.4g}")
        )
    console.print()
    console.print(Text("Ranks", style="bold"))
    console.print(ranks)
    for s in result.collectives:
        console.print()
        console.print(Text(series_title(s), style="bold"))
        t = Table(show_edge=False, pad_edge=False)
        for header in ("size", "time µs", "algbw GB/s", "busbw GB/s"):
            t.add_column(header, justify="right")
        for row in _series_rows(s):
            t.add_row(*row)
        console.print(t)
    if result.findings:
        console.print()
        console.rule(Text("Findings"))
        for f in sorted(result.findings, key=lambda f: f.severity.rank):
            print_finding(f, console)
    console.print()
    worst = min((f.severity for f in result.findings), key=lambda s: s.rank, default=Severity.OK)
    console.print(Text(summary(result), style=STYLES[worst]))
    return buf.getvalue()


# ----------------------------------------------------------------------------- markdown


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: ClusterProbeResult) -> str:
    lines = ["# dlrig probe --cluster", "", f"**{_md(summary(result))}**", ""]
    flagged = _outlier_nodes(result)
    lines += ["## Nodes", "", "| " + " | ".join(h for h, _, _ in NODE_COLUMNS) + " | outlier on |"]
    lines += ["|" + "---|" * (len(NODE_COLUMNS) + 1)]
    for n in result.nodes:
        cells = [_md(cell(get(n), form)) for _, get, form in NODE_COLUMNS]
        lines.append("| " + " | ".join(cells) + f" | {', '.join(flagged.get(n.node, []))} |")
    lines += [
        "",
        "## Ranks",
        "",
        "| rank | node | local | device | matmul TFLOPS |",
        "|---|---|---|---|---|",
    ]
    for r in result.ranks:
        lines.append(
            f"| {r.rank} | {_md(r.node)} | {r.local_rank} | {_md(r.device)} | "
            f"{cell(r.matmul_tflops, '{:.4g}')} |"
        )
    lines += [
        "",
        "## Collectives",
        "",
        "Bus bandwidth as nccl-tests defines it (doc/PERFORMANCE.md).",
        "",
    ]
    for s in result.collectives:
        lines += [
            f"### {_md(series_title(s))}",
            "",
            "| size | time µs | algbw GB/s | busbw GB/s |",
            "|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in _series_rows(s)]
        lines.append("")
    if result.findings:
        lines += ["## Findings", ""]
        for f in sorted(result.findings, key=lambda f: f.severity.rank):
            lines += [
                f"- {MARKS[f.severity]} `{f.id}`: {_md(f.message)}"
                + (f" **Fix:** {_md(f.fix)}" if f.fix else "")
            ]
        lines.append("")
    return "\n".join(lines)


def render(result: ClusterProbeResult, kind: str, *, color: bool = False) -> str:
    if kind == "json":
        return (
            json.dumps(result.to_json_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        )
    if kind == "markdown":
        return render_markdown(result)
    if kind == "html":
        from dlrig.report.cluster_html import render_cluster_probe

        return render_cluster_probe(result)
    if kind == "build":
        from dlrig.report.cluster_build import cluster_toml

        return cluster_toml(result)
    return render_terminal(result, color=color)
