"""Text pieces shared by the renderers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dlrig.model.finding import Finding, Quantity, Severity
from dlrig.model.report import CheckReport

if TYPE_CHECKING:  # `check` renders through this module without loading the estimate's models
    from dlrig.model.estimate import Interval

HEADINGS = {
    Severity.ERROR: "Errors",
    Severity.WARNING: "Warnings",
    Severity.INFO: "Info",
    Severity.OK: "OK",
}
MARKS = {Severity.ERROR: "✗", Severity.WARNING: "!", Severity.INFO: "i", Severity.OK: "✓"}


def interval_ends(
    iv: Interval, text: Callable[[float], str], unit: str = "", between: str = "–"
) -> str:
    """Where the measured value lies, its ends each written by `text`: 'low–high unit'; 'low
    unit – no upper bound' without a top (a ± of 100 % or more on a rate); 'up to high unit'
    where the bottom is zero (a time or cost whose rate has no top)."""
    if iv.high is None:
        return f"{text(iv.low)}{unit} – no upper bound"
    if iv.low <= 0:
        return f"up to {text(iv.high)}{unit}"
    return f"{text(iv.low)}{between}{text(iv.high)}{unit}"


def number_text(q: Quantity) -> str:
    value = f"{q.value:,.4g}" if abs(q.value) < 1e6 else f"{q.value:,.0f}"
    return f"{value} {q.unit}"


def numbers_line(finding: Finding) -> str:
    return ", ".join(f"{name} = {number_text(q)}" for name, q in finding.numbers.items())


def grouped(report: CheckReport) -> list[tuple[Severity, list[Finding]]]:
    """(severity, findings) for each severity that has findings, errors first."""
    out = []
    for severity in Severity:
        items = [f for f in report.findings if f.severity == severity]
        if items:
            out.append((severity, items))
    return out


def counts_line(errors: int, warnings: int, info: int, ok: int) -> str:
    """ "1 error, 2 warnings, 6 info, 10 ok": the one summary wording for check and probe."""
    return ", ".join(
        [
            f"{errors} error{'s' if errors != 1 else ''}",
            f"{warnings} warning{'s' if warnings != 1 else ''}",
            f"{info} info",
            f"{ok} ok",
        ]
    )


def summary_line(report: CheckReport) -> str:
    s = report.summary()
    return f"{counts_line(s.errors, s.warnings, s.info, s.ok)}, {len(s.skipped)} skipped"


def title(report: CheckReport) -> str:
    b = report.build
    name = b.name or "unnamed build"
    gpus = " + ".join(f"{g.count} x {g.name}" for g in b.gpus) or "no GPU"
    return f"{name}: {gpus}"
