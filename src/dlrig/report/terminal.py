"""Terminal output: findings grouped by severity, coloured, with a one-line summary."""

from __future__ import annotations

import io

from rich.console import Console, Group, NewLine, RenderableType
from rich.padding import Padding
from rich.rule import Rule
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


def finding_lines(f: Finding) -> list[RenderableType]:
    """One finding: its mark, id and title, then (unless OK) numbers, why, fix and source."""
    style = STYLES[f.severity]
    head = Text.assemble((f" {MARKS[f.severity]} ", style), (f.id, "bold"), f"  {f.title}")
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
    return [head, *(Padding(line, (0, 0, 0, INDENT), expand=False) for line in body)]


def print_finding(f: Finding, console: Console) -> None:
    console.print(Group(*finding_lines(f)))


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
    """The report as one group printed once: the same lines as printing each piece in turn,
    without rich's per-print overhead (a third of the rendering time, issue 16)."""
    lines: list[RenderableType] = [Text(f"dlrig check — {title(report)}", style="bold")]
    for severity, findings in grouped(report):
        heading = Text(f"{HEADINGS[severity]} ({len(findings)})", style=STYLES[severity])
        lines += [NewLine(), Rule(heading)]
        for f in findings:
            lines += finding_lines(f)
    if report.skipped:
        lines += [NewLine(), Rule(Text(f"Skipped ({len(report.skipped)})", style="dim"))]
        lines += [Text.assemble(f" - {s.rule}: ", (s.reason, "dim")) for s in report.skipped]
    worst = next((sev for sev, _ in grouped(report)), Severity.OK)
    lines += [NewLine(), Text(summary_line(report), style=STYLES[worst])]
    buf = io.StringIO()
    text_console(buf, color).print(Group(*lines))
    return buf.getvalue()
