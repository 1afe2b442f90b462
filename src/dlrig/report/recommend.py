"""Render a `Recommendation`: terminal (rich), JSON (dlrig.recommend/1), Markdown, and each
proposal as a build file (TOML) that `dlrig check` reads."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

from dlrig.model.estimate import Interval
from dlrig.model.finding import Severity
from dlrig.model.market import price_label
from dlrig.model.recommend import GpuValue, PriceLine, Proposal, Recommendation
from dlrig.model.text import markdown_safe
from dlrig.report.common import counts_line, interval_ends
from dlrig.report.json import dumps

WIDTH = 110
HOURS_PER_DAY = 24
# Warnings shown per proposal in the terminal (all are in JSON and Markdown).
SHOWN_FINDINGS = 4


def render_json(rec: Recommendation, *, color: bool = False, explain: bool = True) -> str:
    return dumps(rec.model_dump(by_alias=True, mode="json"))


def headline(rec: Recommendation) -> str:
    extra = []
    if rec.seq_len:
        extra.append(f"seq {rec.seq_len}")
    if rec.quant != "none":
        extra.append(rec.quant)
    more = f" ({', '.join(extra)})" if extra else ""
    return f"{rec.model} {rec.task}{more}, budget {money(rec.budget, rec.currency)}"


def money(value: float, currency: str) -> str:
    return f"{value:,.0f} {currency}"


def rate(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def rate_pm(p: Proposal) -> str:
    """The proposal's rate with its ± (the estimator's interval for the workload's group)."""
    iv = p.throughput_interval
    return rate(p.throughput) + (f" ± {iv.frac:.0%}" if iv else "")


def hours_range(value: float | None, iv: Interval | None) -> str:
    """`hours`, with the interval the rate's ± gives it."""
    if value is None or iv is None:
        return hours(value)
    return f"{hours(value)} ({interval_ends(iv, hours, between=' to ')})"


def hours(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= HOURS_PER_DAY * 2:
        return f"{value / HOURS_PER_DAY:,.1f} days"
    return f"{value:,.1f} h"


def gpu_label(p: Proposal) -> str:
    """The GPU as shown: a used card always says so."""
    return f"{p.gpu} (used)" if p.gpu_condition == "used" else p.gpu


def value_gpu(v: GpuValue) -> str:
    return f"{v.gpu} (used)" if v.condition == "used" else v.gpu


def short(p: Proposal) -> str:
    return f"{p.n_gpus} x {gpu_label(p)} · {p.cpu} · {p.platform}"


def price_note(line: PriceLine) -> str:
    """`used, 2026-05` / `launch MSRP, 2024-08, over 6 months old`: kind and date of a price."""
    parts = [price_label(line.price_kind, line.condition)]
    if line.price_date and line.price_date != "user":
        parts.append(line.price_date)
    if line.stale:
        parts.append("over 6 months old")
    return ", ".join(parts)


def count_line(rec: Recommendation) -> str:
    return (
        f"{rec.candidates_evaluated:,} candidate builds evaluated; "
        f"{rec.candidates_within_budget:,} valid within budget; {len(rec.proposals)} proposed."
    )


def proposal_rows(rec: Recommendation, p: Proposal) -> list[tuple[str, str]]:
    rows = [
        (
            line.part,
            f"{line.count} x {line.name}" if line.count > 1 else line.name,
            money(line.price, rec.currency),
            price_note(line),
        )
        for line in p.price_lines
    ]
    out = [(f"{part}: {name}", f"{price} ({note})") for part, name, price, note in rows]
    out.append(("wall power under load", f"{p.wall_power_w:,.0f} W"))
    energy = f"{p.energy_kwh:,.0f} kWh over {rec.energy_hours:,.0f} h"
    if p.energy_cost is not None:
        energy += f" = {money(p.energy_cost, rec.currency)}"
    out.append(("energy", energy))
    if p.time_hours is not None:
        out.append(("time for the work", hours_range(p.time_hours, p.time_hours_interval)))
    if p.cloud_cost is not None:
        cloud = money(p.cloud_cost, rec.currency)
        iv = p.cloud_cost_interval
        if iv is not None:
            ends = interval_ends(iv, lambda x: money(x, rec.currency), between=" to ")
            cloud += f" ({ends})"
        out.append(("renting the same GPUs for the work", cloud))
    if p.cloud_price_per_gpu_hour is not None:
        out.append(("cloud break-even", break_even_text(rec, p)))
    return out


def break_even_text(rec: Recommendation, p: Proposal) -> str:
    cloud = f"{p.cloud_price_per_gpu_hour:g} {rec.currency}/GPU-h ({p.cloud_price_source})"
    if p.cloud_break_even_hours is None:
        return f"never: at {cloud} renting costs less than the electricity"
    h = p.cloud_break_even_hours
    months = f", month {p.cloud_break_even_months:,.1f} at full use" * (
        p.cloud_break_even_months is not None
    )
    return f"buying wins after {h:,.0f} h of use ({h / HOURS_PER_DAY:,.0f} days{months}) at {cloud}"


def ranked_by(rec: Recommendation) -> str:
    if rec.rank_by == "value":
        return "by throughput per money, --rank value"
    return "fastest first; --rank value orders by throughput per money"


def no_build_line(rec: Recommendation) -> str:
    if rec.cheapest_valid_price is None:
        return "No build in the catalog runs this workload and passes the checks."
    return (
        "No build within the budget passes the checks; the cheapest that does costs "
        f"{money(rec.cheapest_valid_price, rec.currency)}."
    )


def render_terminal(rec: Recommendation, *, color: bool = True, explain: bool = False) -> str:
    from rich.table import Table
    from rich.text import Text

    from dlrig.report.terminal import STYLES, text_console

    buf = io.StringIO()
    console = text_console(buf, color, WIDTH)
    console.print(Text(f"dlrig recommend — {headline(rec)}", style="bold"))
    console.print(Text(count_line(rec), style="dim"))
    if not rec.proposals:
        console.print(Text(no_build_line(rec), style="bold red"))
        console.print(Text("Raise --budget, allow more --max-gpus, or see --explain.", style="dim"))
    table = Table(title=f"Proposals ({ranked_by(rec)})", title_justify="left")
    for col, justify in (
        ("#", "right"),
        ("build", "left"),
        ("price", "right"),
        (rec.throughput_unit, "right"),
        (f"per 1000 {rec.currency}", "right"),
        ("front", "center"),
        ("time", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for i, p in enumerate(rec.proposals, start=1):
        table.add_row(
            str(i),
            short(p),
            money(p.price, rec.currency),
            rate_pm(p),
            rate(p.score),
            "★" if p.on_pareto_front else "",
            hours(p.time_hours),
        )
    if rec.proposals:
        console.print(table)
    if rec.budget_note:
        console.print(Text(f"Budget: {rec.budget_note}.", style="yellow"))
    for i, p in enumerate(rec.proposals, start=1):
        console.print()
        console.rule(Text(f"#{i} {short(p)} — {money(p.price, rec.currency)}", style="bold"))
        for reason in p.reasons:
            console.print(Text(f"  • {reason}"))
        parts = Table(show_header=False, box=None, padding=(0, 2))
        parts.add_column("")
        parts.add_column("", justify="right")
        for k, v in proposal_rows(rec, p):
            parts.add_row(k, v)
        console.print(parts)
        notable = [f for f in p.findings if f.severity == Severity.WARNING]
        counts = {s: sum(1 for f in p.findings if f.severity == s) for s in Severity}
        console.print(
            Text(
                "  dlrig check: "
                + counts_line(
                    *(counts[s] for s in (Severity.ERROR, Severity.WARNING)),
                    counts[Severity.INFO],
                    counts[Severity.OK],
                ),
                style="dim",
            )
        )
        for f in notable[:SHOWN_FINDINGS]:
            console.print(
                Text.assemble(("  ! ", STYLES[Severity.WARNING]), (f.id, "bold"), f"  {f.message}")
            )
    front = Table(title="Pareto front (no cheaper build is faster)", title_justify="left")
    for col in ("price", rec.throughput_unit, "build"):
        front.add_column(col, justify="right" if col != "build" else "left")
    for p in rec.pareto_front:
        front.add_row(money(p.price, rec.currency), rate(p.throughput), short(p))
    if rec.pareto_front:
        console.print()
        console.print(front)
    value = Table(title=f"Performance per {rec.currency}, one card", title_justify="left")
    for col in (
        "GPU",
        "GB",
        "price",
        "bought",
        rec.throughput_unit,
        f"per 1000 {rec.currency}",
        "note",
    ):
        value.add_column(col, justify="left" if col in ("GPU", "note", "bought") else "right")
    for v in rec.gpu_value:
        note = v.reason or ""
        value.add_row(
            value_gpu(v),
            f"{v.memory_gb:g}",
            money(v.price, rec.currency) if v.price else "-",
            f"{v.condition or ''} {v.price_date or ''}".strip(),
            rate(v.throughput_per_gpu),
            rate(v.score),
            note,
        )
    console.print()
    console.print(value)
    if explain and rec.rejected:
        console.print()
        console.rule(Text(f"Left out ({len(rec.rejected)})", style="dim"))
        for r in rec.rejected:
            console.print(Text.assemble(f" - {r.what}: ", (r.reason, "dim")))
    elif rec.rejected:
        console.print(
            Text(f"{len(rec.rejected)} GPUs, counts or builds left out: see --explain", style="dim")
        )
    console.print(Text("assumed:", style="italic"))
    for a in rec.assumptions:
        console.print(Text(f"  - {a}", style="dim"))
    return buf.getvalue()


def render_markdown(rec: Recommendation, *, color: bool = False, explain: bool = False) -> str:
    cur = rec.currency
    lines = [f"# dlrig recommend — {headline(rec)}", "", count_line(rec), ""]
    if not rec.proposals:
        lines += [f"**{no_build_line(rec)}**", ""]
    lines += [f"Proposals, {ranked_by(rec)}:", ""]
    lines += [
        f"| # | build | price | {rec.throughput_unit} | per 1000 {cur} | Pareto | time |",
        "|---:|---|---:|---:|---:|:---:|---:|",
    ]
    lines += [
        f"| {i} | {short(p)} | {money(p.price, cur)} | {rate_pm(p)} | "
        f"{rate(p.score)} | {'★' if p.on_pareto_front else ''} | {hours(p.time_hours)} |"
        for i, p in enumerate(rec.proposals, start=1)
    ]
    if rec.budget_note:
        lines += ["", f"**Budget:** {rec.budget_note}."]
    for i, p in enumerate(rec.proposals, start=1):
        lines += ["", f"## #{i} {short(p)} — {money(p.price, cur)}", ""]
        lines += [f"- {r}" for r in p.reasons]
        lines += ["", "| | |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in proposal_rows(rec, p)]
        lines += [""] + [
            f"- **{f.severity.value}** `{f.id}`: {f.message}"
            for f in p.findings
            if f.severity in (Severity.WARNING, Severity.INFO)
        ]
    lines += [
        "",
        "## Pareto front",
        "",
        f"| price | {rec.throughput_unit} | build |",
        "|---:|---:|---|",
    ]
    lines += [
        f"| {money(p.price, cur)} | {rate(p.throughput)} | {short(p)} |" for p in rec.pareto_front
    ]
    lines += [
        "",
        f"## Performance per {cur}, one card",
        "",
        f"| GPU | GB | price | bought | {rec.throughput_unit} | per 1000 {cur} | note |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    lines += [
        f"| {value_gpu(v)} | {v.memory_gb:g} | {money(v.price, cur) if v.price else '-'} | "
        f"{v.condition or ''} {v.price_date or ''} | {rate(v.throughput_per_gpu)} | "
        f"{rate(v.score)} | {v.reason or ''} |"
        for v in rec.gpu_value
    ]
    if explain:
        lines += ["", "## Left out", ""] + [f"- {r.what}: {r.reason}" for r in rec.rejected]
    lines += ["", "## Assumptions", ""] + [f"- {a}" for a in rec.assumptions]
    return markdown_safe("\n".join(lines) + "\n")


def _assumed_size(p: Proposal) -> list[str]:
    """The recommender writes slot_width/length_mm only for cards the catalog has no size for:
    say they are assumed, not measured."""
    keys = [k for g in p.build.get("gpus", []) for k in ("slot_width", "length_mm") if k in g]
    if not keys:
        return []
    return [
        f"# assumed: gpus {' and '.join(dict.fromkeys(keys))} (no reference card in the catalog; "
        "a typical partner card): replace with your card's size"
    ]


def build_toml(rec: Recommendation, p: Proposal) -> str:
    """The proposal as a build file: a comment header with the price and the reasons."""
    import tomli_w

    head = [
        f"# dlrig recommend: {short(p)}",
        f"# {headline(rec)}",
        f"# price {money(p.price, rec.currency)}: "
        + "; ".join(
            f"{line.part} {money(line.price, rec.currency)} ({price_note(line)})"
            for line in p.price_lines
        ),
        f"# estimated {rate(p.throughput)} {rec.throughput_unit}",
        *(f"# - {r}" for r in p.reasons),
        *_assumed_size(p),
        "# check it with: dlrig check <this file>",
        "",
    ]
    return "\n".join(head) + tomli_w.dumps(p.build)


def file_name(p: Proposal, index: int) -> str:
    """`01-1x-geforce-rtx-5090-ryzen-9-7900x.toml`: sortable, shell-safe."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{p.n_gpus}x {p.gpu} {p.cpu}".lower()).strip("-")
    return f"{index:02d}-{slug}.toml"


def renderer(fmt: str) -> Callable[..., str]:
    return {"json": render_json, "markdown": render_markdown}.get(fmt, render_terminal)
