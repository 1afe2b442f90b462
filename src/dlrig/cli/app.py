"""The typer application, and what several commands share: output options, writing, guards.

Each command lives in its own module of this package and registers on `app`; heavy modules are
imported inside the commands so `dlrig --help` and `dlrig check` start fast.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

EXIT_OK, EXIT_BUILD_ERRORS, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130

# dlrig uses no pydantic plugins; not scanning installed packages for them (importlib.metadata)
# saves ~7 ms of start-up (see benchmarks/cli_start.py).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

app = typer.Typer(
    name="dlrig",
    help="Check, estimate, probe and recommend deep-learning machines (Dettmers' hardware guide).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Options several commands share.
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
]
ColorOption = Annotated[bool, typer.Option("--color/--no-color", help="Colour terminal output.")]


class OutputFormat(StrEnum):
    """The report formats of check, estimate and recommend."""

    terminal = "terminal"
    json = "json"
    markdown = "markdown"
    html = "html"


DEBUG = {"on": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    DEBUG["on"] = debug


def opt(help_text: str, *names: str, **kw: object) -> object:
    """An option that shows its default in --help."""
    return typer.Option(*names, help=help_text, show_default=True, **kw)  # type: ignore[arg-type]


def not_over_input(output: Path | None, source: Path | None) -> None:
    """`-o` must not overwrite the file the command reads."""
    if output is None or source is None:
        return
    try:
        same = output.resolve() == source.resolve()
    except OSError:
        same = False
    if same:
        from dlrig.errors import DlrigError

        raise DlrigError(f"{output}: -o would overwrite the input file; write elsewhere")


def emit(text: str, output: Path | None) -> None:
    """Write a rendered report to stdout or to `output`."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        from dlrig.errors import DlrigError

        raise DlrigError(f"{output}: cannot write: {exc.strerror or exc}") from None


def use_color(color: bool, output: Path | None) -> bool:
    """Colour only a terminal we write to."""
    return color and output is None and sys.stdout.isatty()
