"""Read a small input file (build TOML, prices TOML, model config.json, NVML scenario) without
trusting what it is or how large it says it is: the one reader every input goes through.

Only regular files are read. The file is opened with O_NONBLOCK, so opening a FIFO nobody
writes to returns at once instead of hanging, and `fstat` on the open descriptor (not on the
path, which could be swapped in between) decides: a FIFO, a socket, a device (`/dev/zero`,
`/dev/stdin` on a terminal) or a directory is refused with one line. At most `limit + 1` bytes
are then read, whatever the file system says the size is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dlrig.errors import BuildFileError

# What `stat.S_IFMT` says -> how the refusal names it.
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def file_kind(mode: int) -> str:
    """'a FIFO (named pipe)', 'a directory', ... for a stat mode that is not a regular file."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def read_bounded(path: Path, shown: str, limit: int, kind: str) -> bytes:
    """The file's bytes, or a `BuildFileError` naming it: missing, not a regular file,
    unreadable, or larger than `limit` bytes."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise BuildFileError(shown, "", "file not found") from None
    except IsADirectoryError:
        raise BuildFileError(shown, "", f"is a directory; expected {kind}") from None
    except OSError as exc:
        raise BuildFileError(shown, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise BuildFileError(shown, "", f"is a directory; expected {kind}")
        if not stat.S_ISREG(mode):
            raise BuildFileError(
                shown, "", f"is {file_kind(mode)}, not a regular file; expected {kind}"
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(limit + 1)
        if len(raw) > limit:
            size = os.fstat(fd).st_size
            what = f"{size} bytes is" if size > limit else f"more than {limit} bytes is"
            raise BuildFileError(shown, "", f"{what} too large for {kind} (at most {limit} bytes)")
    except OSError as exc:
        raise BuildFileError(shown, "", f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return raw
