"""The renderer seam: every output format renders a `CheckReport` to text."""

from __future__ import annotations

from typing import Literal, Protocol

from dlrig.model.report import CheckReport

Format = Literal["terminal", "json", "markdown", "html"]


class Renderer(Protocol):
    def __call__(self, report: CheckReport, *, color: bool = ...) -> str: ...


def renderer(fmt: Format) -> Renderer:
    """The renderer for a format, imported lazily (rich is only loaded for the terminal,
    matplotlib and jinja2 only for html)."""
    if fmt == "html":
        from dlrig.report.html import render_check as render
    elif fmt == "json":
        from dlrig.report.json import render
    elif fmt == "markdown":
        from dlrig.report.markdown import render
    else:
        from dlrig.report.terminal import render
    return render
