"""`dlrig recommend --format html`: the value chart, the Pareto front and each proposal with
its price lines and the findings of `dlrig check` on it."""

from __future__ import annotations

from markupsafe import Markup

from dlrig.model.recommend import Proposal, Recommendation
from dlrig.report.common import MARKS
from dlrig.report.html import page
from dlrig.report.html.charts import rate_text
from dlrig.report.html.charts_compare import Point, ValueBar, pareto, value_bars
from dlrig.report.recommend import price_note


def _value_note(price: float | None, currency: str, min_gpus: int | None) -> str:
    cost = f"{price:,.0f} {currency}" if price is not None else "no price"
    fits = f"fits on {min_gpus}" if min_gpus else "does not fit"
    return f"{cost}, {fits}"


def charts(rec: Recommendation) -> list[Markup]:
    out = []
    bars = [
        ValueBar(
            f"{v.gpu} (used)" if v.condition == "used" else v.gpu,
            v.score,
            v.fits,
            _value_note(v.price, rec.currency, v.min_gpus),
        )
        for v in rec.gpu_value
        if v.score is not None
    ]
    if bars:
        out.append(value_bars(bars, rec.score_unit))
    # Every proposal once: the top N and the front overlap.
    seen: dict[str, Point] = {}
    for p in [*rec.proposals, *rec.pareto_front]:
        seen.setdefault(p.name, Point(p.name, p.price, p.throughput, p.on_pareto_front))
    if seen:
        out.append(pareto(list(seen.values()), rec.currency, rec.throughput_unit))
    return out


def proposal_rows(p: Proposal) -> list[tuple[str, str]]:
    """A proposal's headline numbers, each with its unit."""
    rows = [
        ("price", f"{p.price:,.0f} {p.currency}"),
        ("throughput", f"{p.throughput:,.0f} {p.throughput_unit}"),
        ("value", f"{rate_text(p.score)} {p.score_unit}"),
        ("at the wall under load", f"{p.wall_power_w:,.0f} W"),
        ("energy", f"{p.energy_kwh:,.0f} kWh"),
    ]
    if p.time_hours is not None:
        rows.append(("time for the work", f"{p.time_hours:,.1f} h"))
    if p.energy_cost is not None:
        rows.append(("energy cost", f"{p.energy_cost:,.0f} {p.currency}"))
    if p.cloud_break_even_hours is not None:
        rows.append(("buying beats renting after", f"{p.cloud_break_even_hours:,.0f} h"))
    return rows


def render_recommend(rec: Recommendation) -> str:
    front_only = [p for p in rec.pareto_front if p.name not in {q.name for q in rec.proposals}]
    return page.render(
        "recommend.html.j2",
        page_title=f"dlrig recommend — {rec.workload}, budget {rec.budget:,.0f} {rec.currency}",
        rec=rec,
        proposals=rec.proposals,
        front_only=front_only,
        charts=charts(rec),
        proposal_rows=proposal_rows,
        price_note=price_note,
        marks=MARKS,
    )
