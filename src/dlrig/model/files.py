"""Read a small input file (build TOML, model config.json) without trusting its size.

`/dev/zero`, a FIFO or a huge file must not hang or eat memory: at most `limit + 1` bytes are
read, whatever the file system says the size is.
"""

from __future__ import annotations

from pathlib import Path

from dlrig.errors import BuildFileError


def read_bounded(path: Path, shown: str, limit: int, kind: str) -> bytes:
    """The file's bytes, or a `BuildFileError` naming it: missing, a directory, unreadable,
    or larger than `limit` bytes."""
    try:
        if not path.exists():
            raise BuildFileError(shown, "", "file not found")
        if path.is_dir():
            raise BuildFileError(shown, "", f"is a directory; expected {kind}")
        with path.open("rb") as f:
            raw = f.read(limit + 1)
        if len(raw) > limit:
            size = path.stat().st_size if path.is_file() else 0
            what = f"{size} bytes is" if size > limit else f"more than {limit} bytes is"
            raise BuildFileError(shown, "", f"{what} too large for {kind}")
    except OSError as exc:
        raise BuildFileError(shown, "", f"cannot read: {exc.strerror or exc}") from None
    return raw
