"""The `dlrig` command: parse arguments, call the core, render, map errors to exit codes.

Exit codes: 0 no errors, 1 the build has errors, 2 bad input or usage, 3 internal error.
Heavy modules are imported inside the commands so `dlrig --help` and `dlrig check` start fast.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

EXIT_OK, EXIT_BUILD_ERRORS, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

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
parts_app = typer.Typer(help="List the parts catalog.", no_args_is_help=True)
app.add_typer(parts_app, name="parts")


class CheckFormat(StrEnum):
    terminal = "terminal"
    json = "json"
    markdown = "markdown"


class PartsFormat(StrEnum):
    table = "table"
    json = "json"


_DEBUG = {"on": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _DEBUG["on"] = debug


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        from dlrig.errors import DlrigError

        raise DlrigError(f"{output}: cannot write: {exc.strerror or exc}") from None


@app.command()
def check(
    build_file: Annotated[Path, typer.Argument(help="Build file (TOML).", show_default=False)],
    fmt: Annotated[CheckFormat, typer.Option("--format", "-f", help="Output format.")] = (
        CheckFormat.terminal
    ),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    color: Annotated[bool, typer.Option("--color/--no-color", help="Colour terminal output.")] = (
        True
    ),
) -> None:
    """Check a planned or existing build against every rule of the guide."""
    from dlrig.catalog.resolve import resolve
    from dlrig.model.load import read_build_file
    from dlrig.report.interface import renderer
    from dlrig.rules import check as run_rules

    shown = str(build_file)
    build = resolve(read_build_file(build_file), shown)
    report = run_rules(build)
    use_color = color and output is None and sys.stdout.isatty()
    _emit(renderer(fmt.value)(report, color=use_color), output)
    raise typer.Exit(EXIT_BUILD_ERRORS if report.has_errors else EXIT_OK)


@parts_app.command("gpus")
def parts_gpus(
    fmt: Annotated[PartsFormat, typer.Option("--format", "-f")] = PartsFormat.table,
) -> None:
    """List the GPUs in the catalog."""
    from dlrig.catalog import load
    from dlrig.report import parts

    rows = load.gpus()
    text = parts.gpus_json(rows) if fmt == PartsFormat.json else parts.gpus_table(rows)
    _emit(text, None)


@parts_app.command("cpus")
def parts_cpus(
    fmt: Annotated[PartsFormat, typer.Option("--format", "-f")] = PartsFormat.table,
) -> None:
    """List the CPUs in the catalog."""
    from dlrig.catalog import load
    from dlrig.report import parts

    rows = load.cpus()
    text = parts.cpus_json(rows) if fmt == PartsFormat.json else parts.cpus_table(rows)
    _emit(text, None)


# --- estimate command (issue 4) ---

# --- probe command (issue 5) ---

# --- pipeline commands (issue 6) ---


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"dlrig: error: {message}\n")
    return code


def _click_exceptions() -> ModuleType:
    """Click's exception classes: typer >= 0.2x vendors click as `typer._click` (and no longer
    installs click), older typer uses click itself. Either way a usage error must exit 2."""
    try:
        from typer._click import exceptions
    except ImportError:  # older typer
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code instead of exiting (used by tests and `main`)."""
    from dlrig.errors import DlrigError

    _DEBUG["on"] = "--debug" in (argv if argv is not None else sys.argv[1:])
    clicks = _click_exceptions()
    no_args = getattr(clicks, "NoArgsIsHelpError", ())  # click >= 8.2: `dlrig`, `dlrig parts`
    try:
        result = app(args=argv, prog_name="dlrig", standalone_mode=False)
    except DlrigError as exc:
        if _DEBUG["on"]:
            raise
        return _fail(exc.one_line(), EXIT_BAD_INPUT)
    except no_args as exc:
        sys.stdout.write(exc.format_message() + "\n")
        return EXIT_OK
    except clicks.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        message = " ".join(exc.format_message().replace("Value error, ", "").split())
        return _fail(message + hint, EXIT_BAD_INPUT)
    except clicks.ClickException as exc:
        return _fail(" ".join(exc.format_message().split()), EXIT_BAD_INPUT)
    except (typer.Abort, getattr(clicks, "Abort", typer.Abort), KeyboardInterrupt):
        sys.stderr.write("dlrig: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if _DEBUG["on"]:
            raise
        kind = type(exc).__name__
        return _fail(f"internal error ({kind}: {exc}); rerun with --debug and report it", 3)
    return result if isinstance(result, int) else EXIT_OK


def main() -> None:
    sys.exit(run())
