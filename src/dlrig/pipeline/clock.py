"""Interval timing: wall clock on the CPU, CUDA events on a GPU (no host sync per step).

`mark()` records a point, `seconds(a, b)` the time between two marks once `sync()` has run.
"""

from __future__ import annotations

import time
from typing import Any


class WallClock:
    def mark(self) -> float:
        return time.perf_counter()

    def sync(self) -> None:
        return None

    def seconds(self, a: float, b: float) -> float:
        return b - a


class CudaClock:
    """Events on the current stream of `device`: they time what the GPU did, not the host."""

    def __init__(self, torch: Any, device: Any) -> None:
        self.torch = torch
        self.device = device

    def mark(self) -> Any:
        event = self.torch.cuda.Event(enable_timing=True)
        event.record(self.torch.cuda.current_stream(self.device))
        return event

    def sync(self) -> None:
        self.torch.cuda.synchronize(self.device)

    def seconds(self, a: Any, b: Any) -> float:
        return a.elapsed_time(b) / 1e3  # elapsed_time is in milliseconds
