"""The CUDA half of the prefetcher: pin, copy on a side stream, hand over with events.

Memory safety without `torch.Tensor.record_stream` (whose allocator polling is
non-deterministic and lets memory grow when the CPU runs ahead; `shared/reference/pipeline.md`
§4.1, https://docs.pytorch.org/docs/stable/generated/torch.Tensor.record_stream.html):

- Device buffers are allocated on the side stream, so they come from its pool. After allocating
  and before copying, the side stream waits on an event recorded on the consumer's stream (the
  timm fix, pipeline.md §4.3): a block the consumer freed before the allocation (in host order)
  is only overwritten after every kernel queued on it has run, however long the user kept it.
- Pinned host sources are kept referenced until their copy's event has completed (pipeline.md
  §4.4), so a hand-pinned buffer is never freed under an in-flight DMA.
- The consumer's stream waits on the copy's event (`wait_event`), never the host.
- The side stream is created once per `Prefetcher` (per-epoch streams leak pools: timm #2781).

Pinning happens in the prefetcher's background thread, so it overlaps compute (pinning in the
consumer thread blocks it: https://pytorch.org/tutorials/intermediate/pinmem_nonblock.html).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from dlrig.pipeline.tree import map_leaves

# Host sources kept beyond the batches in flight before the oldest copy is waited for; a bound,
# so a consumer that never lets the GPU finish cannot make the keep-alive list grow.
KEEPALIVE_EXTRA = 2


def import_torch() -> Any:
    """PyTorch, or a ValueError saying how to get it (tests replace this function)."""
    try:
        import torch
    except ImportError:
        raise ValueError(
            "device='cuda' needs PyTorch: pip install 'dlrig[torch]' (device='cpu' works without)"
        ) from None
    return torch


@dataclass
class Copied:
    """A batch whose copy has been issued on the side stream."""

    batch: Any
    done: Any  # torch.cuda.Event recorded on the side stream after the copies
    host: list[Any] = field(default_factory=list)  # pinned sources, alive until `done`


class CudaStage:
    """Moves batches to one CUDA device: `stage(batch)` in the background thread, then
    `deliver(copied)` in the consumer's thread."""

    def __init__(self, device: str, *, pin_memory: bool = True) -> None:
        torch = import_torch()
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but torch.cuda.is_available() is False")
        dev = torch.device(device)
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        self.torch = torch
        self.device = dev
        self.pin_memory = pin_memory
        self.side = torch.cuda.Stream(device=dev)
        self.consumer = torch.cuda.current_stream(dev)

    def _pin(self, host: list[Any]) -> Any:
        torch = self.torch

        def pin(leaf: Any) -> Any:
            if isinstance(leaf, torch.Tensor) and leaf.device.type == "cpu":
                if self.pin_memory and not leaf.is_pinned():
                    leaf = leaf.pin_memory()
                host.append(leaf)
            return leaf

        return pin

    def _alloc(self, pairs: list[tuple[Any, Any]]) -> Any:
        torch = self.torch

        def alloc(leaf: Any) -> Any:
            if isinstance(leaf, torch.Tensor) and leaf.device.type == "cpu":
                dst = torch.empty_like(leaf, device=self.device)
                pairs.append((dst, leaf))
                return dst
            return leaf

        return alloc

    def stage(self, batch: Any) -> Copied:
        """Background thread: pin what is not pinned, then copy on the side stream."""
        torch = self.torch
        host: list[Any] = []
        pinned = map_leaves(self._pin(host), batch)
        pairs: list[tuple[Any, Any]] = []
        with torch.cuda.device(self.device), torch.cuda.stream(self.side):
            # Allocate first, then record: any block handed out here was freed before the
            # event, so every kernel that used it was queued before the event too.
            moved = map_leaves(self._alloc(pairs), pinned)
            freed = torch.cuda.Event()
            freed.record(self.consumer)
            self.side.wait_event(freed)
            for dst, src in pairs:
                dst.copy_(src, non_blocking=True)
            done = torch.cuda.Event()
            done.record(self.side)
        return Copied(moved, done, host)

    def deliver(self, copied: Copied, keepalive: deque[tuple[Any, list[Any]]], depth: int) -> Any:
        """Consumer thread: make the current stream wait for the copy; release old sources."""
        consumer = self.torch.cuda.current_stream(self.device)
        self.consumer = consumer  # later copies order themselves after this stream's work
        consumer.wait_event(copied.done)
        keepalive.append((copied.done, copied.host))
        while keepalive and keepalive[0][0].query():
            keepalive.popleft()
        while len(keepalive) > depth + KEEPALIVE_EXTRA:
            keepalive[0][0].synchronize()  # wait for the copy before dropping its source
            keepalive.popleft()
        return copied.batch
