"""Terminal output: findings grouped by severity, coloured, with a one-line summary."""

from __future__ import annotations

import io

from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from dlrig.model.finding import Finding, Severity
from dlrig.model.report import CheckReport
from dlrig.report.common import HEADINGS, MARKS, grouped, numbers_line, summary_line, title

STYLES = {
    Severity.ERROR: "bold red",
    Severity.WARNING: "bold yellow",
    Severity.INFO: "bold cyan",
    Severity.OK: "bold green",
}
WIDTH = 100
INDENT = 4


def print_finding(f: Finding, console: Console) -> None:
    """One finding: its mark, id and title, then (unless OK) numbers, why, fix and source."""
    style = STYLES[f.severity]
    head = Text.assemble((f" {MARKS[f.severity]} ", style), (f.id, "bold"), f"  {f.title}")
    console.print(head)
    body = [Text(f.message)]
    if f.severity != Severity.OK:
        if f.numbers:
            body.append(Text(numbers_line(f), style="dim"))
        if f.severity in (Severity.ERROR, Severity.WARNING):
            body.append(Text.assemble(("why: ", "italic"), f.why))
        if f.fix:
            body.append(Text.assemble(("fix: ", "bold"), f.fix))
        body += [Text.assemble(("assumed: ", "italic"), d, style="dim") for d in f.defaults_used]
        body.append(Text(f"source: {f.source}", style="dim"))
    for line in body:
        console.print(Padding(line, (0, 0, 0, INDENT), expand=False))


def text_console(buf: io.StringIO, color: bool, width: int = WIDTH) -> Console:
    """A console that renders into `buf`: fixed width, colour only when asked, no markup
    guessing (numbers and emoji-like text print as written)."""
    return Console(
        file=buf,
        width=width,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        emoji=False,
    )


def render(report: CheckReport, *, color: bool = True) -> str:
    buf = io.StringIO()
    console = text_console(buf, color)
    console.print(Text(f"dlrig check — {title(report)}", style="bold"))
    for severity, findings in grouped(report):
        console.print()
        console.rule(Text(f"{HEADINGS[severity]} ({len(findings)})", style=STYLES[severity]))
        for f in findings:
            print_finding(f, console)
    if report.skipped:
        console.print()
        console.rule(Text(f"Skipped ({len(report.skipped)})", style="dim"))
        for s in report.skipped:
            console.print(Text.assemble(f" - {s.rule}: ", (s.reason, "dim")), highlight=False)
    console.print()
    worst = next((sev for sev, _ in grouped(report)), Severity.OK)
    console.print(Text(summary_line(report), style=STYLES[worst]))
    return buf.getvalue()
