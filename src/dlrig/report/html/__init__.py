"""`--format html`: self-contained HTML reports with inline SVG charts (matplotlib) rendered
from Jinja2 templates. One file that loads nothing, opens in any browser and prints.

Importing this package is cheap; matplotlib and jinja2 load when a page is rendered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlrig.model.estimate import Estimate
    from dlrig.model.recommend import Recommendation
    from dlrig.model.report import CheckReport
    from dlrig.probe.result import ProbeResult

__all__ = ["render_check", "render_estimate", "render_probe", "render_recommend"]


def render_check(report: CheckReport, *, color: bool = False) -> str:
    """`dlrig check` as HTML; the signature of the other check renderers."""
    from dlrig.report.html.check_page import render_check as render

    return render(report, color=color)


def render_estimate(est: Estimate, *, color: bool = False) -> str:
    from dlrig.report.html.estimate_page import render_estimate as render

    return render(est, color=color)


def render_probe(result: ProbeResult, *, host: str = "") -> str:
    from dlrig.report.html.probe_page import render_probe as render

    return render(result, host=host)


def render_recommend(rec: Recommendation) -> str:
    from dlrig.report.html.recommend_page import render_recommend as render

    return render(rec)
