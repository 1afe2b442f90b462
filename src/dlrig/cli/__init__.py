"""The `dlrig` command: parse arguments, call the core, render, map errors to exit codes.

Exit codes: 0 no errors, 1 the build has errors, 2 bad input or usage, 3 internal error,
130 interrupted (128 + SIGINT, the shell's convention). One module per command; this one only
maps what they raise to an exit code and one line on stderr.
"""

from __future__ import annotations

import copy
import sys
from types import ModuleType

import typer

# Registration order is the order of `dlrig --help`.
from dlrig.cli import check, parts, estimate, recommend, probe, pipeline, serve  # noqa: F401  # isort: skip
from dlrig.cli.app import (
    DEBUG,
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    OutputClosed,
    app,
    silence_stdout,
)

__all__ = ["app", "main", "run"]


def _fail(message: str, code: int) -> int:
    """One line on stderr: newlines, escapes and other control characters from a file or an
    argument are shown as \\n, \\x1b and so on (`model/text.py`)."""
    from dlrig.model.text import safe_line

    sys.stderr.write(f"dlrig: error: {safe_line(message)}\n")
    return code


def _traceback() -> None:
    """--debug: the traceback on stderr; the exit code stays what it would be without it."""
    import traceback

    traceback.print_exc(file=sys.stderr)


def _click_exceptions() -> ModuleType:
    """Click's exception classes: typer >= 0.2x vendors click as `typer._click` (and no longer
    installs click), older typer uses click itself. Either way a usage error must exit 2."""
    try:
        from typer._click import exceptions
    except ImportError:  # older typer
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


def _command_name(command: typer.models.CommandInfo) -> str:
    """The name typer gives a registered command (typer.main.get_command_name)."""
    callback = command.callback
    return command.name or (callback.__name__.lower().replace("_", "-") if callback else "")


def app_for(argv: list[str]) -> typer.Typer:
    """`app` narrowed to the one command `argv` runs, so that typer builds the click command of
    that command alone: it builds every registered command's parameters, from their signatures,
    before it looks at the arguments, and that was a tenth of `dlrig check`'s start-up.

    Narrowed only when nothing but `--debug` comes before a registered command's name: `dlrig`,
    `dlrig --help`, `dlrig --version` and a misspelt command get the whole app, so the command
    list, the usage errors and their suggestions stay what they are."""
    name = None
    for token in argv:
        if token == "--debug":
            continue
        if token.startswith("-"):
            return app
        name = token
        break
    commands = [c for c in app.registered_commands if _command_name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if len(commands) + len(groups) != 1:
        return app
    narrowed = copy.copy(app)  # same callback, settings and help; one command
    narrowed.registered_commands = commands
    narrowed.registered_groups = groups
    return narrowed


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code instead of exiting (used by tests and `main`)."""
    from dlrig.errors import DlrigError

    args = list(argv if argv is not None else sys.argv[1:])
    DEBUG["on"] = "--debug" in args
    clicks = _click_exceptions()
    no_args = getattr(clicks, "NoArgsIsHelpError", ())  # click >= 8.2: `dlrig`, `dlrig parts`
    try:
        # argv as given: None lets click read sys.argv itself (and expand globs on Windows).
        result = app_for(args)(args=argv, prog_name="dlrig", standalone_mode=False)
    except (OutputClosed, BrokenPipeError):
        # The reader stopped early (`| head -1`): nothing is wrong, say nothing.
        silence_stdout()
        return EXIT_OK
    except DlrigError as exc:
        if DEBUG["on"]:
            _traceback()
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
        return EXIT_INTERRUPTED
    except Exception as exc:
        if DEBUG["on"]:
            _traceback()
        kind = type(exc).__name__
        return _fail(
            f"internal error ({kind}: {exc}); rerun with --debug and report it", EXIT_INTERNAL
        )
    code = result if isinstance(result, int) else EXIT_OK
    try:
        sys.stdout.flush()  # a write error still buffered must surface here, not at exit
    except BrokenPipeError:
        silence_stdout()
    except OSError as exc:  # e.g. stdout is /dev/full
        silence_stdout()
        return _fail(f"<stdout>: cannot write: {exc.strerror or exc}", EXIT_BAD_INPUT)
    return code


def main() -> None:
    # A terminal or pipe that cannot encode "—" or "°C" gets "?" rather than a traceback.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    sys.exit(run())
