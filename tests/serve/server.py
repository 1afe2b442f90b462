"""Start a real `dlrig serve` process for a test and stop it again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60
_URL = re.compile(r"dlrig serve: (http://\S+/)")


def _default_sigint() -> None:
    """The server starts with Python's own Ctrl-C handling, whatever the test run inherited (a
    CI step or `nohup` may start pytest with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def running(*args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`dlrig serve ARGS --no-browser` on a free port: (its printed URL, the process)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlrig", "serve", *args, "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
        preexec_fn=_default_sigint,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        found = _URL.search(line)
        if found is None:
            proc.kill()
            raise AssertionError(
                f"no address printed: {line!r} {proc.stderr.read() if proc.stderr else ''}"
            )
        yield found.group(1), proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def check_file(path: Path) -> dict:
    """`dlrig check PATH --format json` in a new process: the file must be accepted (exit 0
    or 1, never 2)."""
    import json

    out = subprocess.run(
        [sys.executable, "-m", "dlrig", "check", str(path), "-f", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)
