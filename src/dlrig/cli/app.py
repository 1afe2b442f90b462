"""The typer application, and what several commands share: output options, writing, guards.

Each command lives in its own module of this package and registers on `app`; heavy modules are
imported inside the commands so `dlrig --help` and `dlrig check` start fast.
"""

from __future__ import annotations

import contextlib
import os
import stat
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


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("dlrig")
        except PackageNotFoundError:  # run from a source tree that was never installed
            number = "unknown (not installed)"
        sys.stdout.write(f"dlrig {number}\n")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks on errors (exit codes unchanged).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print dlrig's version and exit.", is_eager=True, callback=_version
        ),
    ] = False,
) -> None:
    DEBUG["on"] = debug


def opt(help_text: str, *names: str, **kw: object) -> object:
    """An option that shows its default in --help."""
    return typer.Option(*names, help=help_text, show_default=True, **kw)  # type: ignore[arg-type]


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file `path` names, following links; None if there is none."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def not_over_input(output: Path | None, *sources: Path | str | None) -> None:
    """`-o` must not overwrite a file the command reads. Paths are not compared (a hard link,
    `./b.toml` against `/home/me/b.toml`, or a symlink all name one file): device and inode are."""
    out = _identity(output) if output is not None else None
    if out is None:
        return
    for source in sources:
        if source is not None and _identity(Path(source)) == out:
            from dlrig.errors import DlrigError

            raise DlrigError(
                f"{output}: -o would overwrite the input file {source}; write elsewhere"
            )


class OutputClosed(Exception):
    """The reader of stdout went away (`dlrig parts gpus | head -1`): stop quietly."""


def silence_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's last flush cannot fail again (the recipe
    in the Python docs, "Note on SIGPIPE")."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def emit(text: str, output: Path | None) -> None:
    """Write a rendered report to stdout or to `output`, with any control character from the
    inputs escaped (`model/text.py`); the colour codes of a coloured terminal report are kept
    only when stdout is a terminal that may get colour."""
    from dlrig.model.text import safe_text

    if output is None:
        text = safe_text(text, keep_colour=colour_allowed())
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            silence_stdout()
            raise OutputClosed from None
        except OSError as exc:  # /dev/full, a disk that filled up under `> file`
            silence_stdout()
            from dlrig.errors import DlrigError

            raise DlrigError(f"<stdout>: cannot write: {exc.strerror or exc}") from None
        return
    write_output(output, safe_text(text))


def write_output(output: Path, text: str) -> None:
    """Write `text` to the file `output` without ever writing through a link or into something
    that is not a regular file: `-o` refuses an existing symlink, FIFO, device or directory
    (a FIFO would block, a device would be written to, a symlink planted where the report goes
    would redirect it). The text goes to a new file created exclusively next to `output`
    (tempfile.mkstemp: O_EXCL, unpredictable name) that then replaces `output` in one rename,
    so an existing file is never truncated in place: a hard-linked twin elsewhere keeps its
    content, and an interrupted run leaves the old file whole. The new file gets the old
    file's permission bits, or 0666 less the umask."""
    import tempfile

    from dlrig.errors import DlrigError
    from dlrig.model.files import file_kind

    try:
        st = os.lstat(output)
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise DlrigError(f"{output}: cannot write: {exc.strerror or exc}") from None
    else:
        if stat.S_ISLNK(st.st_mode):
            raise DlrigError(
                f"{output}: is a symbolic link; -o writes only to a regular file or a new path "
                f"(give the link's target, {os.path.realpath(output)}, if that is meant)"
            )
        if not stat.S_ISREG(st.st_mode):
            raise DlrigError(
                f"{output}: is {file_kind(st.st_mode)}; -o writes only to a regular file"
            )
        mode = stat.S_IMODE(st.st_mode)
    if mode is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    directory = output.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name[:200]}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise DlrigError(f"{output}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, output)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise DlrigError(f"{output}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def colour_allowed() -> bool:
    """Colour may go to stdout: a terminal, and no NO_COLOR in the environment
    (https://no-color.org: set and non-empty disables colour, whatever the terminal)."""
    return not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def use_color(color: bool, output: Path | None) -> bool:
    """Colour only a terminal we write to, and only without NO_COLOR."""
    return color and output is None and colour_allowed()
