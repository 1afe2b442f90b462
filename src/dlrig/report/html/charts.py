"""The charts of the check and estimate pages: power budget, data-rate chain, GPU memory.

Each chart takes plain numbers (the pages pick them out of the report) and returns inline SVG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from dlrig.report.html.svg import (
    BLUE,
    ERROR_COLOUR,
    GREY,
    OK_COLOUR,
    SERIES,
    WARN_COLOUR,
    figure,
    style,
    to_svg,
)

# Bar heights: one horizontal bar row is this tall, plus room for the title, axis and legend.
ROW_IN = 0.42
FRAME_IN = 1.6
BAR_HEIGHT = 0.6  # of a row: the gap between rows keeps labels apart
# Axis headroom past the largest value, so the labels at a bar's end stay inside the plot.
HEADROOM = 1.18
LOG_HEADROOM = 12.0  # on a log axis: a decade and a bit
# Values below this share of the axis get their label outside the bar instead of inside it.
# Legends sit under the plot, two entries a row: long part names still fit the width.
LEGEND_COLUMNS = 2
LEGEND_ROW_IN = 0.22


# Smaller rates than this print as "< 0.001" (scientific notation reads badly in a label).
SMALLEST_SHOWN = 1e-3


def rate_text(value: float) -> str:
    """1,364 / 42.7 / 0.257 / < 0.001: grouped thousands, three significant digits below."""
    if 0 < abs(value) < SMALLEST_SHOWN:
        return f"< {SMALLEST_SHOWN:g}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


# Gap between a bar's end and its label: SVG collapses leading spaces, so "  1,240 W" would
# touch the bar in a browser; an offset in points does not.
LABEL_GAP_PT = 4


def bar_label(ax: Any, x: float, y: float, text: str, **kw: Any) -> None:
    """`text` just right of the bar ending at (x, y)."""
    ax.annotate(
        text,
        (x, y),
        xytext=(LABEL_GAP_PT, 0),
        textcoords="offset points",
        va="center",
        fontsize="small",
        **kw,
    )


def keep_labels_inside(fig: Any, ax: Any, rounds: int = 4) -> None:
    """Widen the x axis until every label in the axes ends inside it: a long label ("1,695:
    450 USD, fits on 1") past the right edge is cut off by the SVG's frame. Works on linear
    and log axes (the overflow is converted through the axes' own transform)."""
    for _ in range(rounds):
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()
        box = ax.get_window_extent(renderer)
        right = max((t.get_window_extent(renderer).x1 for t in ax.texts), default=box.x1)
        if right <= box.x1:
            return
        beyond = (right - box.x0) / box.width * 1.02  # the label's end, in axes fractions
        x_display = ax.transAxes.transform((beyond, 0))
        ax.set_xlim(right=ax.transData.inverted().transform(x_display)[0])


# Decade ticks on a log axis as plain text ("1k", "10M"): mathtext is off (a '$' in a name
# must print as itself), so matplotlib's "10^3" would show its source; at most this many ticks.
LOG_TICKS = 7
SI_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si_text(value: float) -> str:
    """1 / 10 / 100 / 1k / 10k / 1M ...: a decade tick's label."""
    for size, prefix in SI_PREFIXES:
        if value >= size:
            return f"{value / size:g}{prefix}"
    return f"{value:g}"


def log_ticks(ax: Any) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=LOG_TICKS))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: si_text(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _height(rows: int) -> float:
    return FRAME_IN + ROW_IN * rows


@dataclass(frozen=True)
class PowerBudget:
    """Sustained DC load by part, the spike, the wall draw and the limits they meet (watts)."""

    parts: list[tuple[str, float]]  # (label, W): CPU, each GPU, other
    psu_w: float | None = None
    psu_max_load_w: float | None = None  # the 80 % line
    transient_peak_w: float | None = None
    wall_w: float | None = None
    circuit_w: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def load_w(self) -> float:
        return sum(w for _, w in self.parts)


def power_budget(b: PowerBudget, chart_id: str = "chart-power") -> Markup:
    """Horizontal bars: the stacked sustained load, the transient peak and the wall draw, with
    vertical lines at the PSU rating, its 80 % line and the circuit's continuous limit."""
    rows = [("sustained load (DC)", None)]
    if b.transient_peak_w is not None:
        rows.append(("GPU spike, < 1 ms (DC)", b.transient_peak_w))
    if b.wall_w is not None:
        rows.append(("at the wall (AC)", b.wall_w))
    limits = [
        (b.psu_w, "PSU rating", "-", ERROR_COLOUR),
        (b.psu_max_load_w, "80 % of the PSU", "--", WARN_COLOUR),
        (b.circuit_w, "wall circuit, continuous", "-.", "black"),
    ]
    shown = [(w, label, dash, colour) for w, label, dash, colour in limits if w is not None]
    legend_rows = math.ceil((len(set(label for label, _ in b.parts)) + len(shown)) / 2)
    with style():
        fig, ax = figure(_height(len(rows)) + LEGEND_ROW_IN * legend_rows)
        y = list(range(len(rows)))[::-1]  # first row on top
        left = 0.0
        colours: dict[str, str] = {}  # identical cards share a colour and a legend entry
        for label, watts in b.parts:
            first = label not in colours
            colour = colours.setdefault(label, SERIES[len(colours) % len(SERIES)])
            ax.barh(
                y[0],
                watts,
                left=left,
                height=BAR_HEIGHT,
                color=colour,
                label=label if first else None,
                edgecolor="white",
                linewidth=1.2,
            )
            left += watts
        bar_label(ax, left, y[0], f"{left:,.0f} W")
        for (label, watts), yy in zip(rows[1:], y[1:], strict=True):
            hatch = "///" if label.startswith("GPU spike") else None
            ax.barh(
                yy,
                watts,
                height=BAR_HEIGHT,
                color="white" if hatch else GREY,
                edgecolor=GREY,
                hatch=hatch,
                linewidth=0.8,
            )
            bar_label(ax, watts, yy, f"{watts:,.0f} W")
        for watts, label, dash, colour in shown:
            ax.axvline(
                watts, color=colour, linestyle=dash, linewidth=1.4, label=f"{label}: {watts:,.0f} W"
            )
        top = max([left, *(w for _, w in rows[1:] if w), *(w for w, *_ in shown)])
        ax.set_xlim(0, top * HEADROOM)
        ax.set_yticks(y, [label for label, _ in rows])
        ax.set_xlabel("power (W)")
        ax.set_title("Power budget against the PSU and the wall circuit", loc="left")
        ax.grid(axis="y", visible=False)
        fig.legend(loc="outside lower center", ncols=LEGEND_COLUMNS)
        keep_labels_inside(fig, ax)
        return to_svg(
            fig,
            chart_id,
            "Power budget: sustained load, spike and wall draw "
            "against the PSU rating, its 80 % line and the wall circuit",
        )


@dataclass(frozen=True)
class Stage:
    """One stage of the input pipeline: what it can deliver, in samples per second."""

    name: str
    capacity_per_s: float
    detail: str  # the stage's own numbers, e.g. "150 MB/s available, 188 MB/s needed"


def data_chain(
    stages: list[Stage],
    demand_per_s: float,
    unit: str,
    demand_detail: str,
    chart_id: str = "chart-data-rate",
    alternatives: bool = False,
) -> Markup:
    """Each stage's rate in `unit` on a log axis against what the GPUs consume. A stage slower
    than the GPUs is red; the slowest of all, the GPUs included, is marked the bottleneck
    (the GPUs themselves when every stage keeps up: the compute-bound case one wants).

    `alternatives`: the stages are options for one stage (disk kinds for an estimate with no
    build), so a slow one is marked "too slow" rather than the bottleneck.
    """
    first = min(stages, key=lambda s: s.capacity_per_s)
    # None stands for the GPUs' own row (the last one) below.
    slowest: Stage | None = first if first.capacity_per_s < demand_per_s else None
    names = [s.name for s in stages] + ["GPUs consume"]
    values = [s.capacity_per_s for s in stages] + [demand_per_s]
    details = [s.detail for s in stages] + [demand_detail]
    with style():
        fig, ax = figure(_height(len(names)))
        y = list(range(len(names)))[::-1]
        for s, yy in zip(stages, y, strict=False):
            short = s.capacity_per_s < demand_per_s
            ax.barh(
                yy, s.capacity_per_s, height=BAR_HEIGHT, color=ERROR_COLOUR if short else OK_COLOUR
            )
        ax.barh(y[-1], demand_per_s, height=BAR_HEIGHT, color=BLUE)
        stages_and_gpus: list[Stage | None] = [*stages, None]
        ax.axvline(demand_per_s, color=BLUE, linestyle="--", linewidth=1.2)
        ax.set_xscale("log")
        low, high = min(values), max(values)
        ax.set_xlim(low / LOG_HEADROOM, high * LOG_HEADROOM**2)
        log_ticks(ax)
        for yy, value, detail, stage in zip(y, values, details, stages_and_gpus, strict=True):
            mark = ""
            if alternatives:
                too_slow = stage is not None and stage.capacity_per_s < demand_per_s
                mark = "  ◀ too slow" if too_slow else ""
            elif stage is slowest:  # the GPUs' row when every stage keeps up
                mark = "  ◀ bottleneck" if stage is not None else "  ◀ the limit: compute-bound"
            bar_label(
                ax,
                value,
                yy,
                f"{rate_text(value)}/s: {detail}{mark}",
                fontweight="bold" if mark else "normal",
            )
        ax.set_yticks(y, names)
        ax.set_xlabel(f"{unit} per second each stage can deliver (log scale)")
        ax.set_title("Input pipeline: each stage against what the GPUs consume", loc="left")
        ax.grid(axis="y", visible=False)
        neck = slowest.name if slowest is not None else "the GPUs (every stage keeps up)"
        label = f"Data-rate chain in {unit}/s against the GPUs' consumption" + (
            "" if alternatives else f"; bottleneck: {neck}"
        )
        keep_labels_inside(fig, ax)
        return to_svg(fig, chart_id, label)


MEMORY_PARTS = (
    ("weights", "weights_gb"),
    ("gradients", "gradients_gb"),
    ("optimizer states", "optimizer_gb"),
    ("activations", "activations_gb"),
    ("logits", "logits_gb"),
    ("KV cache", "kv_cache_gb"),
    ("engine buffers", "engine_buffers_gb"),
    ("overhead", "overhead_gb"),
)


VERDICT_COLOURS = {"fits": OK_COLOUR, "tight": WARN_COLOUR, "does not fit": ERROR_COLOUR}
VERDICT_TEXT = {"tight": "tight: within the estimator's error"}


def memory_stack(
    gpus: list[str],
    parts_gb: list[tuple[str, float]],
    capacity_gb: float,
    chart_id: str = "chart-memory",
    verdict: str | None = None,
) -> Markup:
    """One stacked bar per GPU (every GPU holds the same parts) against its capacity; parts of
    0 GB (no gradients when inferring) are neither drawn nor listed in the legend. `verdict`:
    the estimate's own (decided on its interval: "tight" where the bar fits but its error may
    not), which the title and the capacity line's colour then say; without one, the bar
    against the line."""
    parts_gb = [(label, gb) for label, gb in parts_gb if gb > 0]
    with style():
        legend_rows = math.ceil((len(parts_gb) + 1) / LEGEND_COLUMNS)
        fig, ax = figure(_height(len(gpus)) + LEGEND_ROW_IN * legend_rows)
        y = list(range(len(gpus)))[::-1]
        total = sum(gb for _, gb in parts_gb)
        for yy in y:
            left = 0.0
            for i, (label, gb) in enumerate(parts_gb):
                ax.barh(
                    yy,
                    gb,
                    left=left,
                    height=BAR_HEIGHT,
                    color=SERIES[i % len(SERIES)],
                    label=label if yy == y[0] else None,
                    edgecolor="white",
                    linewidth=0.6,
                )
                left += gb
            bar_label(ax, total, yy, f"{total:,.1f} GB")
        if verdict is None:
            verdict = "fits" if total <= capacity_gb else "does not fit"
        ax.axvline(
            capacity_gb,
            color=VERDICT_COLOURS.get(verdict, ERROR_COLOUR),
            linewidth=1.6,
            label=f"capacity: {capacity_gb:,.1f} GB",
        )
        ax.set_xlim(0, max(total, capacity_gb) * HEADROOM)
        ax.set_yticks(y, gpus)
        ax.set_xlabel("GPU memory (GB, 10⁹ bytes)")
        said = VERDICT_TEXT.get(verdict, verdict)
        ax.set_title(
            f"GPU memory per GPU: {total:,.1f} of {capacity_gb:,.1f} GB, {said}", loc="left"
        )
        ax.grid(axis="y", visible=False)
        fig.legend(loc="outside lower center", ncols=LEGEND_COLUMNS)
        keep_labels_inside(fig, ax)
        return to_svg(
            fig,
            chart_id,
            f"GPU memory per GPU by part against the capacity: "
            f"{total:,.1f} of {capacity_gb:,.1f} GB, {said}",
        )


@dataclass(frozen=True)
class LinkRow:
    """GPUs sharing one link: how many, their name, the link's width, generation and rate."""

    label: str
    lanes: int
    gen_name: str  # "PCIe 4.0"
    link_gbs: float  # this link, per direction
    x16_gbs: float  # the same generation at x16: what a full slot would give


def pcie_links(rows: list[LinkRow], chart_id: str = "chart-lanes") -> Markup:
    """One bar per group of GPUs, the link's GB/s, with a mark where x16 at the same
    generation would end: a card that lost lanes to the board's sharing shows what it gave up.
    The mark is a line, not a bar: each row's bar is the number at its end."""
    narrowest = min(rows, key=lambda r: r.link_gbs)
    with style():
        fig, ax = figure(_height(len(rows)) + LEGEND_ROW_IN)
        y = list(range(len(rows)))[::-1]
        for row, yy in zip(rows, y, strict=True):
            colour = BLUE if row.lanes >= 8 else (WARN_COLOUR if row.lanes >= 4 else ERROR_COLOUR)
            ax.barh(yy, row.link_gbs, height=BAR_HEIGHT, color=colour)
            half = BAR_HEIGHT / 2
            ax.plot([row.x16_gbs] * 2, [yy - half, yy + half], color=GREY, linewidth=2)
            detail = f"{rate_text(row.link_gbs)} GB/s: x{row.lanes} {row.gen_name}"
            if row.lanes < 16:
                detail += f" (x16: {rate_text(row.x16_gbs)})"
            bar_label(ax, max(row.link_gbs, row.x16_gbs), yy, detail)
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles = [
            Patch(facecolor=BLUE, label="this link"),
            Line2D([], [], color=GREY, linewidth=2, label="x16 at the same generation"),
        ]
        ax.set_xlim(0, max(r.x16_gbs for r in rows) * HEADROOM)
        ax.set_yticks(y, [r.label for r in rows])
        ax.set_xlabel("host-to-GPU link (GB/s per direction)")
        ax.set_title(
            f"PCIe links: narrowest x{narrowest.lanes} {narrowest.gen_name}, "
            f"{rate_text(narrowest.link_gbs)} GB/s",
            loc="left",
        )
        ax.grid(axis="y", visible=False)
        fig.legend(handles=handles, loc="outside lower center", ncols=LEGEND_COLUMNS)
        keep_labels_inside(fig, ax)
        return to_svg(
            fig, chart_id, "PCIe link of each GPU against a full x16 link of the same generation"
        )
