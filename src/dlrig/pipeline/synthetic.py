"""A synthetic input pipeline with known stage times, for `dlrig pipeline bench` and tests.

Loading and compute are GIL-releasing waits (`time.sleep`; on a GPU `torch.cuda._sleep`, a
spin kernel), so the times are what they are told to be and any overlap is the pipeline's doing.
`workers=0` loads in the training thread (DataLoader(num_workers=0)); `workers=k` loads in k
threads with 2 batches per worker in flight (DataLoader's default prefetch_factor=2,
https://docs.pytorch.org/docs/stable/data.html).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

PREFETCH_FACTOR = 2  # batches in flight per worker, as DataLoader's default
BYTES_PER_MB = 1e6


@dataclass(frozen=True)
class SyntheticLoader:
    """`steps` batches; each takes `load_s` to load, of which `read_s` is reading storage."""

    steps: int
    load_s: float
    read_s: float = 0.0
    workers: int = 0
    batch_bytes: int = 1 << 20
    device: str = "cpu"  # 'cuda': batches are torch tensors on the host, ready to copy
    pinned: bool = False  # host tensors already pinned (DataLoader(pin_memory=True))

    @property
    def num_workers(self) -> int:
        return self.workers

    def __len__(self) -> int:
        return self.steps

    def _make(self, index: int) -> dict[str, Any]:
        time.sleep(self.read_s)
        time.sleep(max(self.load_s - self.read_s, 0.0))
        if self.device == "cpu":
            import numpy as np

            data: Any = np.empty(self.batch_bytes, dtype=np.uint8)
        else:
            import torch

            data = torch.empty(self.batch_bytes, dtype=torch.uint8, pin_memory=self.pinned)
        return {"x": data, "index": index}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.workers == 0:
            return (self._make(i) for i in range(self.steps))
        return self._threaded()

    def _threaded(self) -> Iterator[dict[str, Any]]:
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="dlrig-synthetic")
        try:
            pending: deque = deque()
            submitted = 0
            while submitted < self.steps or pending:
                while submitted < self.steps and len(pending) < self.workers * PREFETCH_FACTOR:
                    pending.append(pool.submit(self._make, submitted))
                    submitted += 1
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


class SyntheticStep:
    """A training step that takes `compute_s`: a sleep on the CPU, a spin kernel on a GPU."""

    def __init__(self, compute_s: float, device: str = "cpu") -> None:
        self.compute_s = compute_s
        self.device = device
        self.cycles = 0
        if device != "cpu":
            import torch

            self.torch = torch
            self.cycles = int(compute_s * _cycles_per_s(torch, device))

    def __call__(self, batch: Any) -> None:
        if self.device == "cpu":
            time.sleep(self.compute_s)
            return
        x = batch["x"]
        x[:1].sum()  # a kernel that reads the batch, so the copy must have landed
        self.torch.cuda._sleep(self.cycles)


def _cycles_per_s(torch: Any, device: str) -> float:
    """Calibrate torch.cuda._sleep: GPU clock cycles per second, timed with CUDA events."""
    cycles = 10_000_000
    with torch.cuda.device(torch.device(device)):
        torch.cuda._sleep(cycles)  # warm-up
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        torch.cuda._sleep(cycles)
        b.record()
        b.synchronize()
        return cycles / (a.elapsed_time(b) / 1e3)
