"""matplotlib, set up once for static charts, and a figure turned into inline SVG.

Only the HTML pages import this module (matplotlib costs ~0.3 s to import; `dlrig check` in the
terminal must not pay it).
"""

from __future__ import annotations

import io
import re
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit: files only

import matplotlib.pyplot as plt
from markupsafe import Markup, escape

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Chart width in inches: at matplotlib's 72 points per inch this is 576 pt, close to the
# 60-character text column of the page, so chart text renders near the page's own size.
WIDTH_IN = 8.0
BASE_FONT_PT = 10
# Text stays <text> elements (not glyph outlines): selectable, searchable, a third of the bytes.
# Layout is measured with DejaVu Sans, which ships with matplotlib (always found, no warnings);
# the SVG names the generic family too, so a browser without DejaVu uses its own sans-serif.
FONT_FAMILY = "sans-serif"
SANS_SERIF = ["DejaVu Sans"]

# Colours: Okabe-Ito, readable with the common colour-vision deficiencies, and dark enough to
# print on white. Severity colours match the page's CSS.
BLUE, ORANGE, GREEN, RED = "#0072B2", "#E69F00", "#009E73", "#D55E00"
SKY, PURPLE, YELLOW, GREY = "#56B4E9", "#CC79A7", "#F0E442", "#6b6b6b"
SERIES = (BLUE, ORANGE, GREEN, SKY, PURPLE, YELLOW, RED, GREY)
OK_COLOUR, WARN_COLOUR, ERROR_COLOUR = GREEN, ORANGE, RED

_RC = {
    # Text is drawn as written: no mathtext. A '$' in a path, a build or model name would
    # otherwise start a formula, and '$^_$' raised ValueError (issue 16). Nothing dlrig draws
    # uses mathtext, so this one setting escapes every label (matplotlib >= 3.5).
    "text.parse_math": False,
    "svg.fonttype": "none",
    "font.family": FONT_FAMILY,
    "font.sans-serif": SANS_SERIF,
    "font.size": BASE_FONT_PT,
    "axes.titlesize": BASE_FONT_PT + 1,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "legend.frameon": False,
    "legend.fontsize": BASE_FONT_PT - 1,
}
# The SVG writer puts these in a <metadata> block by default (a date, so no two runs match, and
# RDF namespace URLs); None drops each, and with all four gone the block is not written.
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)  # XML declaration, DOCTYPE, comments
_SIZE_ATTRS = re.compile(r'\s(width|height)="[^"]*"')


def style() -> AbstractContextManager[None]:
    """The chart style, applied while a chart is drawn (text takes its size when created);
    a context, not a global change, so a program embedding dlrig keeps its own settings."""
    return plt.rc_context(_RC)


def figure(height_in: float, ncols: int = 1, nrows: int = 1, **grid: Any) -> tuple[Figure, Any]:
    """A figure of the page's width and `height_in` tall (call inside `style()`); `grid` goes
    to the subplot grid (e.g. height_ratios)."""
    return plt.subplots(
        nrows,
        ncols,
        figsize=(WIDTH_IN, height_in),
        layout="constrained",
        gridspec_kw=grid or None,
    )


def to_svg(fig: Figure, chart_id: str, title: str) -> Markup:
    """The figure as an inline <svg> with a <title> and aria-label, sized by CSS.

    `chart_id` salts matplotlib's element ids: each chart's clip paths get ids of their own
    (several SVGs share one document) and the same chart renders to the same bytes every time.
    """
    buf = io.StringIO()
    with plt.rc_context(_RC | {"svg.hashsalt": chart_id}):
        fig.savefig(buf, format="svg", metadata=_NO_METADATA)
    plt.close(fig)
    text = _PROLOG.sub("", buf.getvalue(), count=1)
    head, sep, body = text.partition(">")
    # Width and height come from the page's CSS (the viewBox keeps the aspect ratio).
    head = _SIZE_ATTRS.sub("", head)
    label = escape(title)
    head += f' id="{escape(chart_id)}" role="img" aria-label="{label}" class="chart"'
    return Markup(f"{head}{sep}\n<title>{label}</title>{body.strip()}")
