"""Run one rank of `dlrig probe --cluster` with a fault injected (tests only).

DLRIG_TEST_FAULT = "kill:<rank>:<phase prefix>" (SIGKILL itself on entering that phase),
"hang:<rank>:<phase prefix>" (sleep forever there) or "absent:<rank>" (start dlrig only once $DLRIG_TEST_ABSENT_UNTIL exists).
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
    # a node whose dlrig starts too late: after the others gave up (rank 0 wrote its partial
    # report), so it finds no rendezvous and must exit on its own, not linger as an orphan
    until = os.environ.get("DLRIG_TEST_ABSENT_UNTIL", "")
    deadline = time.monotonic() + 120
    while until and not os.path.exists(until) and time.monotonic() < deadline:
        time.sleep(0.2)
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
