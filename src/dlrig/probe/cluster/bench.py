"""Collective and per-rank benchmarks over torch.distributed (imported only on this path).

Sizes follow nccl-tests: S is the whole array (all-gather: S / n per rank in, S out;
reduce-scatter: S in, S / n out), float32 elements, doubling from --min-bytes to --max-bytes.
Every rank runs the same number of iterations: the count comes from the slowest rank's warm-up
(an all-reduce of one number), so no rank waits on a collective another skipped. The time
reported is the slowest rank's mean, as a job waits for its slowest rank.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dlrig.model.cluster import CollectiveSeries, RankFigures
from dlrig.probe.cluster.aggregate import bus_point

# Aim each size at about this much timed work, within [1, MAX_ITERS] iterations.
TARGET_S = 0.05
MAX_ITERS = 20
ELEMENT_BYTES = 4  # float32


@dataclass
class Setup:
    torch: Any
    dist: Any
    device: Any
    backend: str

    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)


def _elements(size_bytes: int, n: int) -> int:
    """Elements per rank's share: a multiple of n so the array splits evenly."""
    total = max(size_bytes // ELEMENT_BYTES, n)
    return total - total % n


def _op(
    setup: Setup, op: str, size_bytes: int, group: Any, ranks: list[int], me: int
) -> Callable[[], None]:
    t, dist = setup.torch, setup.dist
    n = len(ranks)
    count = _elements(size_bytes, n)
    dev = setup.device
    if op == "all_reduce":
        buf = t.ones(count, dtype=t.float32, device=dev)
        return lambda: dist.all_reduce(buf, group=group)
    if op == "all_gather":
        src = t.ones(count // n, dtype=t.float32, device=dev)
        out = t.empty(count, dtype=t.float32, device=dev)
        gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
        return lambda: gather(out, src, group=group)
    if op == "reduce_scatter":
        src = t.ones(count, dtype=t.float32, device=dev)
        out = t.empty(count // n, dtype=t.float32, device=dev)
        scatter = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
        return lambda: scatter(out, src, group=group)
    if op == "send_recv":
        # every rank sends S to the next rank of the ring and receives S from the previous one
        pos = ranks.index(me)
        nxt, prv = ranks[(pos + 1) % n], ranks[(pos - 1) % n]
        send = t.ones(count, dtype=t.float32, device=dev)
        recv = t.empty(count, dtype=t.float32, device=dev)

        def sendrecv() -> None:
            reqs = dist.batch_isend_irecv(
                [dist.P2POp(dist.isend, send, nxt, group), dist.P2POp(dist.irecv, recv, prv, group)]
            )
            for r in reqs:
                r.wait()

        return sendrecv
    raise ValueError(op)


def _timed(setup: Setup, fn: Callable[[], None], iters: int) -> float:
    setup.sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    setup.sync()
    return (time.perf_counter() - t0) / iters


def _max_over(setup: Setup, value: float, control: Any) -> float:
    """The largest `value` of all ranks (over the gloo control group, on the CPU)."""
    t = setup.torch.tensor([value], dtype=setup.torch.float64)
    setup.dist.all_reduce(t, op=setup.dist.ReduceOp.MAX, group=control)
    return float(t.item())


def run_series(
    setup: Setup,
    *,
    op: str,
    scope: str,
    sizes: list[int],
    group: Any,
    ranks: list[int],
    groups: int,
    me: int,
    control: Any,
    enter: Callable[[str], None],
    on_point: Callable[[CollectiveSeries], None] | None = None,
    on_last: Callable[[list[float]], None] | None = None,
) -> CollectiveSeries:
    """One collective over every size. Every rank calls it (ranks outside `ranks` idle through
    the control all-reduces); the series keeps what finished if a later size fails.
    `on_last` gets every rank's time at the largest size (for per-node figures)."""
    series = CollectiveSeries(
        op=op, scope=scope, backend=setup.backend, ranks=len(ranks), groups=groups
    )
    member = me in ranks
    for size in sizes:
        enter(f"{op} {scope} {_human(size)}")
        fn = _op(setup, op, size, group, ranks, me) if member else None
        warm = _timed(setup, fn, 1) if fn else 0.0
        iters = max(1, min(MAX_ITERS, int(TARGET_S / max(_max_over(setup, warm, control), 1e-9))))
        took = _timed(setup, fn, iters) if fn else 0.0
        slowest = _max_over(setup, took, control)
        if on_last is not None and size == sizes[-1]:
            on_last(_all_times(setup, took, control))
        series.points.append(
            bus_point(op, len(ranks), _elements(size, len(ranks)) * ELEMENT_BYTES, slowest)
        )
        if on_point is not None:
            on_point(series)
    return series


def _all_times(setup: Setup, value: float, control: Any) -> list[float]:
    """Every rank's `value`, in rank order (a tensor all-gather over the gloo control group)."""
    t, dist = setup.torch, setup.dist
    world = dist.get_world_size()
    out = [t.zeros(1, dtype=t.float64) for _ in range(world)]
    dist.all_gather(out, t.tensor([value], dtype=t.float64), group=control)
    return [float(x.item()) for x in out]


def _human(size: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= div and size % div == 0:
            return f"{size // div} {unit}"
    return f"{size} B"


def rank_matmul(setup: Setup, rank: int, node: str, local_rank: int, n: int) -> RankFigures:
    """This rank's dense matmul rate on its device (bf16 on a GPU, fp32 on a CPU)."""
    t = setup.torch
    dtype = t.bfloat16 if setup.device.type == "cuda" else t.float32
    fig = RankFigures(rank=rank, node=node, local_rank=local_rank, device=_device_name(setup))
    try:
        a = t.randn(n, n, dtype=dtype, device=setup.device)
        b = t.randn(n, n, dtype=dtype, device=setup.device)
        a @ b
        setup.sync()
        iters, t0 = 0, time.perf_counter()
        while iters < 3 or time.perf_counter() - t0 < 0.2:
            a @ b
            iters += 1
            if iters >= 200:
                break
        setup.sync()
        dt = (time.perf_counter() - t0) / iters
        fig.matmul_tflops = round(2 * n**3 / dt / 1e12, 6)
        fig.matmul_what = f"{n}x{n} {str(dtype).removeprefix('torch.')} matmul"
    except Exception as exc:  # a broken device is a figure of its own, not a crash
        fig.unavailable["matmul_tflops"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    return fig


def _device_name(setup: Setup) -> str:
    if setup.device.type == "cuda":
        return f"cuda:{setup.device.index} {setup.torch.cuda.get_device_name(setup.device)}"
    return "cpu"
