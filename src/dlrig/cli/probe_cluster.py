"""`dlrig probe --cluster`: parse the options, run this rank, render and write on rank 0.

`-o` chooses by suffix: `.json` the `dlrig.cluster/1` report, `.md` Markdown, `.html` HTML,
`.toml` a cluster build file for `dlrig check`. Exit status: 0 complete, 1 partial (a rank died,
hung or never joined; rank 0 still writes what it has, marked partial), 2 bad options.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from dlrig.cli.app import emit
from dlrig.errors import DlrigError

_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)(i?B)?\s*$", re.I)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
MAX_MESSAGE_BYTES = 16 << 30
_SUFFIX = {".json": "json", ".md": "markdown", ".html": "html", ".toml": "build"}


def parse_bytes(text: str, option: str) -> int:
    match = _SIZE.match(text)
    if match is None:
        raise DlrigError(f"{option} {text[:40]!r}: expected a size like 1024, 64K, 16M or 1G")
    value = int(match.group(1)) * _UNITS[match.group(2).upper()]
    if not 4 <= value <= MAX_MESSAGE_BYTES:
        raise DlrigError(f"{option} {text}: expected 4 bytes to 16G")
    return value


def _outputs(output: Path | None, build_file: Path | None) -> dict[str, Path]:
    out: dict[str, Path] = {}
    if output is not None:
        kind = _SUFFIX.get(output.suffix.lower())
        if kind is None:
            raise DlrigError(
                f"-o {output}: expected a name ending in .json (report), .md, .html or .toml "
                "(cluster build file)"
            )
        out[kind] = output
    if build_file is not None:
        if "build" in out:
            raise DlrigError("give the cluster build file once: -o x.toml or --build-file")
        out["build"] = build_file
    return out


def probe_cluster(
    *,
    quick: bool,
    data_dir: Path,
    fmt: str,
    output: Path | None,
    build_file: Path | None,
    color: bool,
    timeout_s: float,
    min_bytes: str,
    max_bytes: str | None,
    backend: str,
) -> None:
    import typer

    from dlrig.probe.cluster.run import Options, run_cluster
    from dlrig.probe.run import check_data_dir
    from dlrig.report import cluster as report

    lo = parse_bytes(min_bytes, "--min-bytes")
    hi = parse_bytes(max_bytes, "--max-bytes") if max_bytes is not None else None
    if hi is not None and hi < lo:
        raise DlrigError(f"--max-bytes {max_bytes}: expected at least --min-bytes {min_bytes}")
    if backend not in ("auto", "nccl", "gloo"):
        raise DlrigError(f"--backend {backend}: expected auto, nccl or gloo")
    outputs = _outputs(output, build_file)
    check_data_dir(data_dir)
    opts = Options(
        quick=quick,
        data_dir=data_dir,
        timeout_s=timeout_s,
        min_bytes=lo,
        max_bytes=hi,
        backend=backend,
    )
    tty = color and sys.stdout.isatty()

    def write(result: object) -> None:
        for kind, path in outputs.items():
            emit(report.render(result, kind), path)  # type: ignore[arg-type]
        emit(report.render(result, fmt, color=tty), None)  # type: ignore[arg-type]
        sys.stdout.flush()
        for kind, path in outputs.items():
            sys.stderr.write(f"dlrig: wrote {path} ({kind})\n")

    result = run_cluster(opts, on_partial=write)
    if result is None:  # not rank 0
        return
    write(result)
    if "build" in outputs:
        sys.stderr.write(f"dlrig: check it with: dlrig check {outputs['build']}\n")
    if not result.complete:
        raise typer.Exit(1)
