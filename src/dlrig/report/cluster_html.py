"""HTML pages of the cluster probe (per-node heatmap, bus bandwidth against message size) and
of `dlrig check` on a cluster file, in the report/html page and chart infrastructure."""

from __future__ import annotations

import math

from markupsafe import Markup

from dlrig.model.cluster import ClusterCheckReport, ClusterProbeResult
from dlrig.report.cluster import NODE_COLUMNS, cell, series_title, size_text, summary

# Heatmap rows: above this many nodes the cells carry no numbers (they would not be legible).
ANNOTATE_MAX_NODES = 32
HEATMAP_ROW_IN = 0.22
LABEL_ALL_MAX_NODES = 64
HEAT_LABELS = {
    "gpu_tflops": "matmul",
    "pcie_width_min": "PCIe",
    "pcie_gen_min": "PCIe",
    "disk_read_mbs": "disk",
    "memory_bandwidth_gbs": "RAM",
    "sm_clock_pct": "SM clock",
    "throttled_gpus": "throttled",
    "nic_gbs": "NIC",
    "intra_busbw_gbs": "in-node",
}
HEATMAP_MAX_IN = 24.0


def _heat_text(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def heatmap(result: ClusterProbeResult) -> Markup | None:
    """Nodes x figures, coloured by value / the median node (red: the bad side)."""
    from dlrig.probe.cluster.aggregate import METRICS
    from dlrig.report.html.svg import figure, style, to_svg

    nodes = result.nodes
    metrics = [m for m in METRICS if sum(m.get(n) is not None for n in nodes) >= 1]
    if not nodes or not metrics:
        return None
    import statistics

    grid: list[list[float]] = []
    for n in nodes:
        row = []
        for m in metrics:
            values = [v for x in nodes if (v := m.get(x)) is not None]
            med = statistics.median(values) if values else 0
            v = m.get(n)
            if v is None:
                row.append(math.nan)
            elif med == 0:
                row.append(1.0 if v == 0 else (2.0 if m.low_is_bad else 0.0))
            else:
                ratio = v / med
                row.append(ratio if m.low_is_bad else 2 - ratio)  # 1 = the median, < 1 worse
        grid.append(row)
    height = min(HEATMAP_MAX_IN, 1.8 + HEATMAP_ROW_IN * len(nodes))
    with style():
        fig, ax = figure(height)
        image = ax.imshow(
            grid, cmap="RdBu", vmin=0.5, vmax=1.5, aspect="auto", interpolation="nearest"
        )
        ax.set_xticks(
            range(len(metrics)),
            [f"{HEAT_LABELS.get(m.name, m.name)}\n({m.unit})" for m in metrics],
            fontsize=8,
        )
        if len(nodes) <= LABEL_ALL_MAX_NODES:
            ax.set_yticks(range(len(nodes)), [n.node for n in nodes], fontsize=8)
        else:  # hundreds of labels are illegible (and slow): name the outliers only
            flagged = {o.node for o in result.outliers}
            rows = [i for i, n in enumerate(nodes) if n.node in flagged][:64]
            ax.set_yticks(rows, [nodes[i].node for i in rows], fontsize=7)
        ax.grid(False)
        if len(nodes) <= ANNOTATE_MAX_NODES:
            for i, n in enumerate(nodes):
                for j, m in enumerate(metrics):
                    v = m.get(n)
                    ax.text(j, i, _heat_text(v), ha="center", va="center", fontsize=7)
        fig.colorbar(image, ax=ax, label="node / median (red: worse)", shrink=0.8)
        ax.set_title("Per-node figures against the median node")
        return to_svg(fig, "chart-cluster-heatmap", "Per-node figures against the median node")


def busbw_chart(result: ClusterProbeResult) -> Markup | None:
    from dlrig.report.html.svg import SERIES, figure, style, to_svg

    series = [s for s in result.collectives if s.points]
    if not series:
        return None
    with style():
        fig, ax = figure(4.8)
        for i, s in enumerate(series):
            colour = SERIES[i % len(SERIES)]
            xs = [p.size_bytes for p in s.points]
            ys = [max(p.busbw_gbs, 1e-6) for p in s.points]
            ax.plot(xs, ys, marker="o", markersize=3, color=colour, label=f"{s.op} {s.scope}")
            if s.bound_gbs:
                ax.axhline(s.bound_gbs, color=colour, linestyle="--", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ticks = sorted({p.size_bytes for s in series for p in s.points})
        step = max(1, len(ticks) // 8)
        ax.set_xticks(ticks[::step], [size_text(t) for t in ticks[::step]])
        ax.set_xlabel("message size (bytes)")
        ax.set_ylabel("bus bandwidth, GB/s (nccl-tests)")
        ax.set_title(f"Bus bandwidth against message size ({result.backend}; dashed: link bound)")
        ax.legend(loc="upper left", ncols=2, fontsize=8)
        return to_svg(fig, "chart-cluster-busbw", "Bus bandwidth against message size")


def render_cluster_probe(result: ClusterProbeResult) -> str:
    from dlrig.report.html import page

    flagged: dict[str, list[str]] = {}
    for o in result.outliers:
        flagged.setdefault(o.node, []).append(o.metric)
    headers = [h for h, _, _ in NODE_COLUMNS] + ["outlier on"]
    node_rows = [
        [cell(get(n), form) for _, get, form in NODE_COLUMNS] + [", ".join(flagged.get(n.node, []))]
        for n in result.nodes
    ]
    rank_rows = [
        [str(r.rank), r.node, str(r.local_rank), r.device, cell(r.matmul_tflops, "{:.4g}")]
        for r in result.ranks
    ]
    tables = [
        ("Nodes", headers, node_rows),
        ("Ranks", ["rank", "node", "local", "device", "matmul TFLOPS"], rank_rows),
    ]
    for s in result.collectives:
        rows = [
            [
                size_text(p.size_bytes),
                f"{p.time_us:,.1f}",
                f"{p.algbw_gbs:.4g}",
                f"{p.busbw_gbs:.4g}",
            ]
            for p in s.points
        ]
        tables.append((series_title(s), ["size", "time µs", "algbw GB/s", "busbw GB/s"], rows))
    charts = [c for c in (heatmap(result), busbw_chart(result)) if c is not None]
    return page.render(
        "cluster.html.j2",
        page_title="dlrig probe --cluster",
        summary=summary(result),
        worst=page.worst(result.findings) if result.complete else "error",
        tables=tables,
        charts=charts,
        findings=result.findings,
        counts=page.counts(result.findings),
        kinds=[],
        skipped=[],
    )


def render_cluster_check(report: ClusterCheckReport) -> str:
    from dlrig.report.cluster_check import cluster_rows, title_line
    from dlrig.report.html import page

    kinds = [
        (
            f"Node kind {k.kind} ({k.count} nodes): the single-node rules",
            k.report.findings,
            page.counts(k.report.findings),
        )
        for k in report.kinds
    ]
    return page.render(
        "cluster.html.j2",
        page_title=f"dlrig check — {title_line(report)}",
        summary=page.counts(report.all_findings()),
        worst=page.worst(report.all_findings()),
        tables=[("Cluster", ["", ""], cluster_rows(report))],
        charts=[],
        findings=report.findings,
        counts=page.counts(report.findings),
        kinds=kinds,
        skipped=report.skipped + [s for k in report.kinds for s in k.report.skipped],
    )
