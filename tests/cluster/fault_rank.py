"""Run one rank of `dlrig probe --cluster` with a fault injected (tests only).

DLRIG_TEST_FAULT = "kill:<rank>:<phase prefix>" (SIGKILL itself on entering that phase),
"hang:<rank>:<phase prefix>" (sleep forever there) or "absent:<rank>" (never start dlrig).
Every other rank runs the real code unchanged.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from dlrig.probe.cluster import control

kind, rank, *rest = os.environ.get("DLRIG_TEST_FAULT", "none:-1").split(":")
me = int(os.environ.get("RANK", "-1"))
if me == int(rank) and kind == "absent":
    # a node whose dlrig starts too late: it joins after the others gave up, sees the abort
    # and exits (the watchdog), instead of lingering as an orphan
    time.sleep(float(os.environ.get("DLRIG_TEST_ABSENT_S", "8")))
if me == int(rank) and kind in ("kill", "hang"):
    phase = rest[0]
    original = control.Control.enter

    def enter(self: control.Control, label: str) -> None:
        if label.startswith(phase):
            if kind == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(3600)
        original(self, label)

    control.Control.enter = enter  # type: ignore[method-assign]

from dlrig.cli import main  # noqa: E402

sys.argv = ["dlrig", *sys.argv[1:]]
main()
