"""`dlrig serve [BUILD.toml]`: the build, its findings and charts on a local web page."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dlrig.cli.app import app
from dlrig.cli.app import opt as _opt


@app.command()
def serve(
    build_file: Annotated[
        Path | None, typer.Argument(help="Build file (TOML) to show first.", show_default=False)
    ] = None,
    host: Annotated[
        str, _opt("Address to listen on (not loopback: reachable by others).", "--host")
    ] = "127.0.0.1",
    port: Annotated[int, _opt("Port (0: a free one).", "--port", min=0, max=65535)] = 0,
    allow_host: Annotated[
        list[str] | None,
        _opt(
            "With --host: a name others reach this machine by (repeat); other Host headers "
            "are refused.",
            "--allow-host",
        ),
    ] = None,
    browser: Annotated[
        bool, _opt("Open the page in the browser.", "--browser/--no-browser")
    ] = True,
) -> None:
    """Serve the build, its findings and charts, the estimator and the recommender on a local
    web page, with a JSON API under /api/ (docs/serve.md)."""
    from dlrig.serve.run import serve as run

    initial = None
    if build_file is not None:
        from dlrig.serve.api import initial_build

        initial = initial_build(build_file)
    if host not in ("127.0.0.1", "localhost", "::1"):
        from dlrig.model.text import safe_line

        sys.stderr.write(
            f"dlrig: warning: --host {safe_line(host)}: the page and its API are reachable "
            "from other machines, without authentication\n"
        )
    run(host, port, initial, browser, tuple(allow_host or ()))
