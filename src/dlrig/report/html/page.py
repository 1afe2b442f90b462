"""What every HTML page shares: the Jinja2 environment, the inlined stylesheet, findings as
template data and source strings with their URLs turned into links."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from dlrig import __version__
from dlrig.model.finding import Finding, Severity
from dlrig.report.common import HEADINGS, MARKS, counts_line, number_text

# A URL inside a source string ends at whitespace or at a closing bracket or quote; trailing
# sentence punctuation is not part of it.
_URL = re.compile(r"https?://[^\s)\]>\"']+")
_TRAILING = ".,;:"


def linkify(text: str) -> Markup:
    """`text` escaped, with each http(s) URL in it as a link (links are followed when clicked,
    never loaded with the page)."""
    out, last = [], 0
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(_TRAILING)
        end = m.start() + len(url)
        out.append(escape(text[last : m.start()]))
        out.append(Markup('<a href="{0}" rel="noreferrer">{0}</a>').format(url))
        last = end
    out.append(escape(text[last:]))
    return Markup("").join(out)


@dataclass(frozen=True)
class FindingView:
    """A finding as the template shows it: why for errors and warnings (as the terminal);
    numbers and source for every finding (a page is read, not scanned, and an OK is evidence)."""

    f: Finding
    mark: str
    numbers: list[tuple[str, str]]
    show_why: bool


def finding_views(findings: list[Finding]) -> list[tuple[Severity, str, list[FindingView]]]:
    """(severity, heading, findings) per severity that has findings, errors first."""
    out = []
    for severity in Severity:
        items = [f for f in findings if f.severity == severity]
        if not items:
            continue
        views = [
            FindingView(
                f=f,
                mark=MARKS[severity],
                numbers=[(name, number_text(q)) for name, q in f.numbers.items()],
                show_why=severity in (Severity.ERROR, Severity.WARNING),
            )
            for f in items
        ]
        out.append((severity, HEADINGS[severity], views))
    return out


def counts(findings: list[Finding]) -> str:
    n = {s: sum(f.severity == s for f in findings) for s in Severity}
    return counts_line(n[Severity.ERROR], n[Severity.WARNING], n[Severity.INFO], n[Severity.OK])


def worst(findings: list[Finding]) -> str:
    return min((f.severity for f in findings), key=lambda s: s.rank, default=Severity.OK).value


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("dlrig.report.html", "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name fails the render, not a blank in the page
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["linkify"] = linkify
    return env


@cache
def stylesheet() -> Markup:
    """The page's CSS, inlined: the file must open with no network and no neighbouring files."""
    css = resources.files("dlrig.report.html").joinpath("templates/style.css")
    return Markup(css.read_text(encoding="utf-8"))


def render(template: str, **context: Any) -> str:
    return (
        environment()
        .get_template(template)
        .render(css=stylesheet(), version=__version__, finding_views=finding_views, **context)
    )
