"""Charts that compare: the probe's measured against rated, and recommend's performance per
money and cost/throughput Pareto front."""

from __future__ import annotations

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
                ax.text(
                    value,
                    yy,
                    f"  {rate_text(value)} {p.unit}{share}",
                    va="center",
                    fontsize="small",
                )
            ax.set_yticks(y, [label for label, *_ in p.bars])
            ax.set_xlim(0, max(v for _, v, _ in p.bars) * HEADROOM * HEADROOM)
            ax.set_xlabel(p.unit)
            ax.set_title(p.title, loc="left")
            ax.grid(axis="y", visible=False)
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
    """Throughput per money, best first; cards on which the workload does not fit in the
    smallest count considered are drawn grey."""
    bars = sorted(bars, key=lambda b: b.score, reverse=True)
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
            ax.text(b.score, yy, f"  {rate_text(b.score)}: {b.note}", va="center", fontsize="small")
        ax.set_yticks(y, [b.gpu for b in bars])
        ax.set_xlim(0, max(b.score for b in bars) * HEADROOM * HEADROOM)
        ax.set_xlabel(unit)
        ax.set_title("Performance per money, one card of each GPU", loc="left")
        ax.grid(axis="y", visible=False)
        fig.legend(loc="outside lower center", ncols=LEGEND_COLUMNS)
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
LABEL_OFFSET_PT = (6, 4)


def pareto(points: list[Point], currency: str, unit: str, chart_id: str = "chart-pareto") -> Markup:
    """Every proposal as a dot; the Pareto front (no other build is both cheaper and faster)
    highlighted, joined in price order and labelled."""
    front = sorted((p for p in points if p.on_front), key=lambda p: p.price)
    rest = [p for p in points if not p.on_front]
    with style():
        fig, ax = figure(SCATTER_IN)
        if rest:
            ax.scatter(
                [p.price for p in rest],
                [p.throughput for p in rest],
                color=GREY,
                s=28,
                label="other proposals",
                zorder=2,
            )
        if front:
            ax.plot(
                [p.price for p in front],
                [p.throughput for p in front],
                color=ERROR_COLOUR,
                marker="o",
                drawstyle="steps-post",
                linewidth=1.4,
                markersize=6,
                label="Pareto front: cheapest for its throughput",
                zorder=3,
            )
            for p in front:
                ax.annotate(
                    p.label,
                    (p.price, p.throughput),
                    xytext=LABEL_OFFSET_PT,
                    textcoords="offset points",
                    fontsize="small",
                )
        ax.set_xlabel(f"price ({currency})")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0, top=max(p.throughput for p in points) * HEADROOM)
        ax.set_title("Cost against throughput", loc="left")
        ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
        fig.legend(loc="outside lower center", ncols=LEGEND_COLUMNS)
        return to_svg(
            fig,
            chart_id,
            f"Cost in {currency} against throughput in {unit}, Pareto front highlighted",
        )
