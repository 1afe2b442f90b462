"""`--format markdown`: for a forum post or a purchase request."""

from __future__ import annotations

from dlrig.model.report import CheckReport
from dlrig.model.text import markdown_safe
from dlrig.report.common import HEADINGS, MARKS, grouped, number_text, summary_line, title


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(report: CheckReport, *, color: bool = False) -> str:
    lines = [f"# dlrig check: {title(report)}", "", f"**{summary_line(report)}**", ""]
    for severity, findings in grouped(report):
        lines += [f"## {HEADINGS[severity]} ({len(findings)})", ""]
        for f in findings:
            lines += [f"### {MARKS[severity]} `{f.id}`: {f.title}", "", f.message, ""]
            if f.numbers:
                lines += ["| number | value |", "|---|---|"]
                lines += [f"| {name} | {_cell(number_text(q))} |" for name, q in f.numbers.items()]
                lines.append("")
            if severity.value in ("error", "warning"):
                lines += [f"- **Why:** {f.why}"]
            if f.fix:
                lines += [f"- **Fix:** {f.fix}"]
            for d in f.defaults_used:
                lines += [f"- **Assumed:** {d}"]
            lines += [f"- **Source:** {f.source}", ""]
    if report.skipped:
        lines += ["## Skipped rules", ""]
        lines += [f"- `{s.rule}`: {s.reason}" for s in report.skipped]
        lines.append("")
    return markdown_safe("\n".join(lines))
