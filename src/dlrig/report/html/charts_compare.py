"""Charts that compare: the probe's measured against rated, and recommend's performance per
money and cost/throughput Pareto front."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from enum import StrEnum

from markupsafe import Markup

from dlrig.report.html.charts import (
    BAR_HEIGHT,
    FRAME_IN,
    HEADROOM,
    LEGEND_COLUMNS,
    LEGEND_ROW_IN,
    ROW_IN,
    bar_label,
    keep_labels_inside,
    rate_text,
)
from dlrig.report.html.svg import BLUE, ERROR_COLOUR, GREY, OK_COLOUR, ORANGE, figure, style, to_svg


class BarKind(StrEnum):
    MEASURED = "measured"
    RATED = "rated"
    NEEDED = "needed"
    TYPICAL = "typical"  # a figure for a kind of part, not this part's rating: no share shown


KIND_COLOURS = {
    BarKind.MEASURED: BLUE,
    BarKind.RATED: GREY,
    BarKind.TYPICAL: GREY,
    BarKind.NEEDED: ORANGE,
}
PANEL_TITLE_IN = 0.35  # a panel's title line above its bars


@dataclass(frozen=True)
class Panel:
    """One quantity in its own unit: bars for what was measured, rated and needed."""

    title: str
    unit: str
    bars: list[tuple[str, float, BarKind]]


def measured_vs_rated(panels: list[Panel], chart_id: str = "chart-probe") -> Markup:
    """One panel per quantity (units differ), stacked; each bar labelled with its value and,
    for a measured bar, its share of the rated one."""
    rows = [len(p.bars) for p in panels]
    height = FRAME_IN + sum(ROW_IN * n + PANEL_TITLE_IN for n in rows)
    with style():
        fig, axes = figure(height, nrows=len(panels), height_ratios=rows)
        axes = list(axes) if len(panels) > 1 else [axes]
        for ax, p in zip(axes, panels, strict=True):
            rated = next((v for _, v, k in p.bars if k == BarKind.RATED), None)
            y = list(range(len(p.bars)))[::-1]
            for (_label, value, kind), yy in zip(p.bars, y, strict=True):
                ax.barh(yy, value, height=BAR_HEIGHT, color=KIND_COLOURS[kind])
                share = f" ({value / rated:.0%} of rated)" if kind == "measured" and rated else ""
                bar_label(ax, value, yy, f"{rate_text(value)} {p.unit}{share}")
            ax.set_yticks(y, [label for label, *_ in p.bars])
            ax.set_xlim(0, max(v for _, v, _ in p.bars) * HEADROOM * HEADROOM)
            ax.set_xlabel(p.unit)
            ax.set_title(p.title, loc="left")
            ax.grid(axis="y", visible=False)
        for ax in axes:
            keep_labels_inside(fig, ax)
        return to_svg(
            fig, chart_id, "Measured against rated: " + ", ".join(p.title for p in panels)
        )


@dataclass(frozen=True)
class ValueBar:
    """One GPU model in the performance-per-money chart."""

    gpu: str
    score: float  # throughput per 1000 units of money, one card
    fits: bool
    note: str  # price and minimum cards, e.g. "1,599 USD, fits on 2"


FIT_LABELS = {True: "a candidate for the workload", False: "not a candidate (see the table)"}


def value_bars(bars: list[ValueBar], unit: str, chart_id: str = "chart-value") -> Markup:
    """Throughput per money, best first among the candidates; cards on which the workload does
    not fit in the smallest count considered are drawn grey, below every candidate (they are
    not ranked among them)."""
    bars = sorted(bars, key=lambda b: (not b.fits, -b.score))
    with style():
        fig, ax = figure(FRAME_IN + ROW_IN * len(bars) + LEGEND_ROW_IN)
        y = list(range(len(bars)))[::-1]
        labelled: set[bool] = set()  # one legend entry per colour
        for b, yy in zip(bars, y, strict=True):
            label = None if b.fits in labelled else FIT_LABELS[b.fits]
            labelled.add(b.fits)
            ax.barh(
                yy, b.score, height=BAR_HEIGHT, color=OK_COLOUR if b.fits else GREY, label=label
            )
            bar_label(ax, b.score, yy, f"{rate_text(b.score)}: {b.note}")
        ax.set_yticks(y, [b.gpu for b in bars])
        ax.set_xlim(0, max(b.score for b in bars) * HEADROOM * HEADROOM)
        ax.set_xlabel(unit)
        ax.set_title("Performance per money, one card of each GPU", loc="left")
        ax.grid(axis="y", visible=False)
        fig.legend(loc="outside lower center", ncols=LEGEND_COLUMNS)
        keep_labels_inside(fig, ax)
        return to_svg(fig, chart_id, f"Performance per money by GPU, in {unit}")


@dataclass(frozen=True)
class Point:
    """One proposal on the cost/throughput plane."""

    label: str
    price: float
    throughput: float
    on_front: bool


# Height of the scatter: square-ish reads best for a trade-off curve.
SCATTER_IN = 4.2
# Where a point's number may go, in points from the dot, tried in this order until it touches
# no other label: right-up first (the front rises to the right), then round the dot.
LABEL_OFFSETS_PT = tuple(
    (dx, dy)
    for r in (1, 2, 3)
    for dx, dy in ((5, 4), (5, -12), (-12, 4), (-12, -12), (-4, 10), (-4, -18), (8, -4), (-16, -4))
    for dx, dy in [(dx * r, dy * r)]
)
LEGEND_ENTRY_IN = 0.2  # one legend line, small type
LEGEND_WRAP_CHARS = 95  # a legend line in small type that fits the chart's width


MARKER_PT = 6.0  # the dots' size, which a number must not cover either


def _place_labels(fig, ax, texts, dots: list[tuple[float, float]]) -> None:
    """Move each number to the first offset where its box overlaps no earlier label, no tick
    label, no dot, and stays inside the axes: labels never overlap (issue 16: build names
    piled up); a number with no room is left out (the legend still names its build)."""
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()  # settle the layout first: boxes are measured after it
    fig.set_layout_engine("none")  # and keep it: moving labels must not move the axes
    taken = [t.get_window_extent(renderer) for t in ax.get_xticklabels() + ax.get_yticklabels()]
    r = MARKER_PT / 2 * fig.dpi / 72
    for x, y in ax.transData.transform(dots):
        taken.append(Bbox.from_extents(x - r, y - r, x + r, y + r))
    inside = ax.get_window_extent(renderer)
    for text in texts:
        for dx, dy in LABEL_OFFSETS_PT:
            text.set_position((dx, dy))
            box = text.get_window_extent(renderer)
            clear = not any(box.overlaps(o) for o in taken)
            if clear and inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1):
                break
        else:
            text.set_visible(False)  # no room anywhere: the legend still names the point
            continue
        taken.append(text.get_window_extent(renderer))


def pareto(points: list[Point], currency: str, unit: str, chart_id: str = "chart-pareto") -> Markup:
    """Every proposal as a dot; the Pareto front (no other build is both cheaper and faster)
    highlighted, joined in price order, each of its builds numbered next to its dot and named
    in the legend (names next to the dots squeezed the plot and piled up)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    front = sorted((p for p in points if p.on_front), key=lambda p: p.price)
    rest = [p for p in points if not p.on_front]
    handles: list = []
    labels: list[str] = []
    legend_lines = len(front) + 2
    with style():
        fig, ax = figure(SCATTER_IN)
        if rest:
            handles.append(
                ax.scatter(
                    [p.price for p in rest],
                    [p.throughput for p in rest],
                    color=GREY,
                    s=28,
                    zorder=2,
                )
            )
            labels.append("other proposals")
        numbers = []
        if front:
            (line,) = ax.plot(
                [p.price for p in front],
                [p.throughput for p in front],
                color=ERROR_COLOUR,
                marker="o",
                drawstyle="steps-post",
                linewidth=1.4,
                markersize=6,
                zorder=3,
            )
            handles.append(line)
            labels.append("Pareto front: cheapest for its throughput")
            for i, p in enumerate(front, start=1):
                numbers.append(
                    ax.annotate(
                        str(i),
                        (p.price, p.throughput),
                        xytext=LABEL_OFFSETS_PT[0],
                        textcoords="offset points",
                        fontsize="small",
                        fontweight="bold",
                        color=ERROR_COLOUR,
                    )
                )
                handles.append(Line2D([], [], linestyle="", marker=""))
                entry = (
                    f"{i}  {p.label}: {p.price:,.0f} {currency}, {rate_text(p.throughput)} {unit}"
                )
                lines = textwrap.wrap(entry, LEGEND_WRAP_CHARS, subsequent_indent="     ")
                legend_lines += len(lines) - 1
                labels.append("\n".join(lines))
        ax.set_xlabel(f"price ({currency})")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0, top=max(p.throughput for p in points) * HEADROOM)
        prices = [p.price for p in points]
        span = max(prices) - min(prices) or max(prices) or 1.0
        ax.set_xlim(min(prices) - span * 0.08, max(prices) + span * 0.12)
        ax.set_title("Cost against throughput", loc="left")
        # Few enough ticks that "10,000"-wide labels never meet at this chart's width.
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
        ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
        fig.set_figheight(SCATTER_IN + LEGEND_ENTRY_IN * legend_lines)
        fig.legend(
            handles, labels, loc="outside lower center", ncols=1, handlelength=1.0, fontsize="small"
        )
        _place_labels(fig, ax, numbers, [(p.price, p.throughput) for p in points])
        return to_svg(
            fig,
            chart_id,
            f"Cost in {currency} against throughput in {unit}, Pareto front highlighted",
        )
