"""Which reads of memory-bound kernels the last-level (L2) cache serves instead of DRAM.

The rule (dlrig derivation, no fitted fraction). A GPU's L2 sits in front of all of DRAM
(every DRAM access goes through it) and keeps the lines touched most recently. Model it as a
fully associative cache of the card's L2 size with least-recently-used replacement: a read
hits exactly when the bytes of DISTINCT data touched since that data's last touch (its LRU
stack distance, Mattson et al., "Evaluation techniques for storage hierarchies", IBM Systems
Journal 9(2), 1970) are at most the cache size. A kernel here streams whole tensors, so the
distance of a tensor read by kernel k and last touched by kernel j is bounded by the sum of
the sizes of the distinct tensors kernels j..k touch (the reader's own operands included):
- at most that bound, every byte of the read is served from L2;
- above it, none is counted as served: a tensor re-read in the order it was written, past an
  LRU cache's capacity, misses on every line (each line is evicted just before it is needed
  again), so there is no partial credit between the two cases.
Writes are all billed to DRAM: L2 is write-back, and a tensor a kernel writes is either kept for
the backward pass or replaced within the step, so its dirty lines reach DRAM (an in-place op
that rewrites a line still in L2 saves one of the two write-backs; not counted: an upper bound).
A read served from L2 is not billed at all, rather than at an L2 bandwidth: NVIDIA publishes no
per-card L2 bandwidth in its datasheets, and L2 bandwidth is several times DRAM's ([R] the
A100 whitepaper's table gives an L2 read bandwidth of 5120 bytes/clock, about 7.2 TB/s at
1410 MHz, against 1.6-2.0 TB/s of HBM2e), so a kernel whose reads hit L2 is still limited by
its DRAM writes, which stay billed.

Assumptions stated rather than hidden: the real L2 is set-associative with a hashed index and an
undocumented replacement policy, and A100/H100 split it into two partitions that each cache the
traffic of the SMs attached to them (A100 whitepaper); the LRU bound is the textbook model of
either, not a measurement. Convolution kernels touch their operands (counted in the distance)
but are costed by their FLOPs, not bytes (convnet.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Access = tuple[str, float]  # (tensor id, bytes)


@dataclass(frozen=True)
class Kernel:
    """One GPU kernel: the tensors it reads and writes. `streamed`: a memory-bound kernel whose
    bytes are billed; False for a convolution, timed by its FLOPs, whose operands still pass
    through L2 and push older data out."""

    reads: tuple[Access, ...]
    writes: tuple[Access, ...] = ()
    streamed: bool = True


def reuse_distance_bytes(kernels: Sequence[Kernel], first: int, last: int, stop: float) -> float:
    """Bytes of the distinct tensors kernels first..last touch; the walk ends once past `stop`."""
    seen: set[str] = set()
    total = 0.0
    for i in range(last, first - 1, -1):
        for tensor, nbytes in kernels[i].reads + kernels[i].writes:
            if tensor not in seen:
                seen.add(tensor)
                total += nbytes
        if total > stop:
            break
    return total


def billed_bytes(kernels: Sequence[Kernel], l2_bytes: float | None) -> list[float]:
    """DRAM bytes of each kernel: every write, and every read the L2 does not serve (module
    docstring). `l2_bytes` None or 0: every read from DRAM."""
    out: list[float] = []
    last_touch: dict[str, int] = {}
    for k, kern in enumerate(kernels):
        billed = 0.0
        if kern.streamed:
            for tensor, nbytes in kern.reads:
                j = last_touch.get(tensor)
                hit = l2_bytes and j is not None
                if hit and reuse_distance_bytes(kernels, j, k, l2_bytes) <= l2_bytes:
                    continue  # served from L2
                billed += nbytes
            billed += sum(nbytes for _, nbytes in kern.writes)
        out.append(billed)
        for tensor, _ in kern.reads + kern.writes:
            last_touch[tensor] = k
    return out
