"""Prefetcher on the CPU path: order, nesting, pass-through, exceptions, shutdown, leaks, overlap."""

from __future__ import annotations

import _thread
import gc
import signal
import threading
import time
import traceback
import tracemalloc
from collections import OrderedDict, namedtuple
from dataclasses import dataclass, field

import pytest

from dlrig.pipeline import Prefetcher

Pair = namedtuple("Pair", "a b")


@dataclass
class Sample:
    x: object
    label: str
    extra: list = field(default_factory=list)


@dataclass(frozen=True)
class Frozen:
    x: object


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dlrig-prefetch"]


def wait_until(cond, timeout_s: float = 3.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


@pytest.fixture(autouse=True)
def no_stray_threads():
    assert wait_until(lambda: not prefetch_threads()), "a previous test left a thread running"
    yield
    assert wait_until(lambda: not prefetch_threads()), "this test left a thread running"


class Loader:
    """A re-iterable loader with len() and set_epoch()."""

    def __init__(self, n: int, sleep_s: float = 0.0) -> None:
        self.n, self.sleep_s, self.epoch, self.dataset = n, sleep_s, None, "the dataset"

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        for i in range(self.n):
            if self.sleep_s:
                time.sleep(self.sleep_s)
            yield i


def test_order_is_kept_for_every_depth():
    for depth in (1, 2, 5):
        assert list(Prefetcher(range(100), depth=depth)) == list(range(100))


def test_reiterable_loader_gives_each_epoch():
    p = Prefetcher(Loader(5))
    assert list(p) == list(range(5))
    assert list(p) == list(range(5))


def test_nested_structures_and_non_tensor_leaves_pass_through():
    batches = [
        {"x": [1, 2], "meta": ("a", b"b", None), "od": OrderedDict(k=3)},
        Pair(a={"deep": [Pair(1, "s")]}, b=2.5),
        Sample(x=(1, [2, {"y": 3}]), label="cat", extra=[Frozen(4)]),
        [Frozen(x={"z": 1}), "text"],
    ]
    out = list(Prefetcher(batches))
    assert out == batches
    assert type(out[1]) is Pair and type(out[1].a["deep"][0]) is Pair
    assert type(out[0]["od"]) is OrderedDict
    assert type(out[2]) is Sample and type(out[3][0]) is Frozen


def test_torch_tensors_nested_pass_through_on_cpu():
    torch = pytest.importorskip("torch")
    batches = [{"x": torch.full((2,), i), "y": (torch.tensor(i), "label")} for i in range(10)]
    out = list(Prefetcher(batches, device="cpu"))
    for i, b in enumerate(out):
        assert torch.equal(b["x"], torch.full((2,), i)) and b["y"][1] == "label"


def test_map_leaves_rebuilds_structure():
    from dlrig.pipeline.tree import leaves, map_leaves

    batch = {"a": [1, (2, 3)], "b": Pair(4, Sample(5, "s")), "c": "str"}
    doubled = map_leaves(lambda v: v * 2, batch)
    assert doubled == {"a": [2, (4, 6)], "b": Pair(8, Sample(10, "ss")), "c": "strstr"}
    assert leaves(batch) == [1, 2, 3, 4, 5, "s", "str"]


def test_len_set_epoch_and_attributes_pass_through():
    loader = Loader(7)
    p = Prefetcher(loader)
    assert len(p) == 7
    p.set_epoch(3)
    assert loader.epoch == 3
    assert p.dataset == "the dataset"
    assert not hasattr(Prefetcher(range(3)), "set_epoch")  # range has none
    with pytest.raises(TypeError):
        len(Prefetcher(iter(range(3))))


@pytest.mark.parametrize("depth", [0, -1, 1.5, True, "2"])
def test_bad_depth_is_a_value_error(depth):
    with pytest.raises(ValueError, match="depth must be an integer >= 1"):
        Prefetcher(range(3), depth=depth)


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "", "gpu"])
def test_unknown_device_is_a_value_error(device):
    with pytest.raises(ValueError, match="unknown device"):
        Prefetcher(range(3), device=device)


def test_not_iterable_is_a_value_error():
    with pytest.raises(ValueError, match="must be iterable"):
        Prefetcher(42)


def failing_loader(n_good: int):
    yield from range(n_good)
    raise KeyError("bad sample 3")


def test_loader_exception_raised_at_the_same_batch_with_its_traceback():
    seen = []
    with pytest.raises(KeyError, match="bad sample 3") as info:
        for batch in Prefetcher(failing_loader(3), depth=2):
            seen.append(batch)
    assert seen == [0, 1, 2]
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "failing_loader" in frames  # the loader's own frame is in the traceback


def test_iterator_after_an_error_is_exhausted():
    it = iter(Prefetcher(failing_loader(1)))
    assert next(it) == 0
    with pytest.raises(KeyError):
        next(it)
    with pytest.raises(StopIteration):
        next(it)


def test_early_break_stops_the_thread():
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    for i in Prefetcher(endless(), depth=3):
        if i == 5:
            break
    assert wait_until(lambda: not prefetch_threads())
    assert closed.wait(2.0), "the loader's generator was not closed"


def test_garbage_collection_stops_the_thread():
    it = iter(Prefetcher(range(10**9), depth=2))
    assert next(it) == 0
    assert prefetch_threads()
    del it
    gc.collect()
    assert wait_until(lambda: not prefetch_threads())


def test_exception_in_the_loop_body_stops_the_thread():
    def run():
        for i in Prefetcher(range(10**9)):
            if i == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run()
    assert wait_until(lambda: not prefetch_threads())


def test_ctrl_c_while_waiting_for_a_batch_stops_the_thread():
    release = threading.Event()

    def slow():
        yield 0
        release.wait(30)  # a loader stuck in a slow read
        yield 1

    it = iter(Prefetcher(slow()))
    assert next(it) == 0
    # Ctrl-C raises KeyboardInterrupt only under Python's default handler: a test run started
    # in the background (SIGINT ignored) would otherwise never see it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.1, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            next(it)
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
        release.set()  # the read returns; the stopped thread must then exit, not deliver
    assert wait_until(lambda: not it.thread.is_alive())
    with pytest.raises(StopIteration):
        next(it)


def test_no_thread_or_memory_leak_over_ten_thousand_steps():
    steps = 10_000
    base_threads = threading.active_count() - len(prefetch_threads())
    # Warm up allocations (queue internals, thread objects) before measuring.
    for _ in Prefetcher(range(200)):
        pass
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        total = 0
        for i in Prefetcher(range(steps), depth=2):
            total += i
        for epoch in range(50):  # many short epochs, some broken off early
            for j in Prefetcher(range(100)):
                if j == epoch:
                    break
        assert wait_until(lambda: not prefetch_threads())
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert total == steps * (steps - 1) // 2
    assert grown < 200_000, f"{grown} bytes still allocated after 10^4 steps"
    assert threading.active_count() - len(prefetch_threads()) <= base_threads


def test_loading_overlaps_compute():
    """The next batch loads while the consumer still works on the current one. Told by events,
    not by timing (issue 16: tests assert behaviour; benchmarks/pipeline_overlap.py prints how
    much time the overlap saves)."""
    loaded = [threading.Event() for _ in range(4)]

    def batches():
        for i, event in enumerate(loaded):
            event.set()
            yield i

    it = iter(Prefetcher(batches(), depth=2))
    assert next(it) == 0
    # Still "computing" on batch 0: the prefetcher's thread goes on to load batch 1.
    assert loaded[1].wait(timeout=30)
    assert list(it) == [1, 2, 3]

    fresh = [threading.Event() for _ in range(2)]

    def serial():
        for i, event in enumerate(fresh):
            event.set()
            yield i

    gen = serial()
    assert next(gen) == 0
    assert not fresh[1].is_set()  # a plain loop loads batch 1 only when asked for it
