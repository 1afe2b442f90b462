"""`Prefetcher`: load the next batches in a background thread while the current one computes.

    for batch in Prefetcher(loader, device="cuda", depth=2):
        loss = model(batch["x"]).sum()

On the CPU (and without PyTorch) a daemon thread keeps `depth` batches ready, so loading that
releases the GIL (file reads, decoding, NumPy and torch ops, sleeps) overlaps compute. With
`device="cuda"` the same thread also pins and copies each batch on a side stream (see `cuda.py`).

Shutdown: the thread never holds a reference to the iterator; a `weakref.finalize` on the
iterator sets a stop event, and every blocking queue operation on both sides polls with a
timeout. Breaking out of the loop, dropping the iterator, an exception in the loop body or
Ctrl-C while waiting for a batch all stop the thread within `POLL_S` plus the loader's own
`next()`. A loader exception is re-raised in the consumer at the batch where it happened, with
the loader's traceback.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

# How often blocked queue operations recheck the stop flag: bounds how long a stopped thread
# lingers, at the cost of one wake-up per poll while blocked (a dlrig choice, not a measurement).
POLL_S = 0.05
# How long close() waits for the thread once stopped (it is a daemon thread either way, so a
# loader stuck in a read delays Ctrl-C by at most this much).
JOIN_TIMEOUT_S = 0.25
DEFAULT_DEPTH = 2  # batches ahead; PyTorch DataLoader's default prefetch_factor is 2

_BATCH, _END, _ERROR = "batch", "end", "error"


def parse_device(device: object) -> str:
    """'cpu', 'cuda' or 'cuda:N' (a torch.device works too); anything else is a ValueError."""
    text = str(device).strip().lower()
    if text == "cpu":
        return text
    kind, _, index = text.partition(":")
    if kind == "cuda" and (index == "" or index.isdigit()):
        return text
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")


class Prefetcher:
    """Wrap an iterable of batches; iterate it with `depth` batches prepared ahead.

    Batches may be tensors or any nesting of tuples, lists, dicts, dataclasses and namedtuples;
    non-tensor leaves pass through unchanged and order is kept. `len()`, `set_epoch()` and any
    other public attribute of the loader pass through.
    """

    def __init__(
        self,
        loader: Iterable[Any],
        device: object = "cpu",
        depth: int = DEFAULT_DEPTH,
        *,
        pin_memory: bool = True,
    ) -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
        if not hasattr(loader, "__iter__"):
            raise ValueError(f"loader must be iterable, got {type(loader).__name__}")
        self.loader = loader
        self.depth = depth
        self.device = parse_device(device)
        self._cuda = None
        if self.device != "cpu":
            from dlrig.pipeline.cuda import CudaStage

            self._cuda = CudaStage(self.device, pin_memory=pin_memory)  # one side stream

    def __iter__(self) -> Iterator[Any]:
        return PrefetchIterator(iter(self.loader), self.depth, self._cuda)

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes Prefetcher lacks: set_epoch, dataset, sampler, batch_size.
        if name.startswith("_") or name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)


def _put(q: queue.Queue, stop: threading.Event, item: tuple[str, Any]) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _produce(source: Iterator[Any], stage: Any, q: queue.Queue, stop: threading.Event) -> None:
    """The background thread. Holds no reference to the consumer's iterator."""
    try:
        while not stop.is_set():
            try:
                batch = next(source)
            except StopIteration:
                _put(q, stop, (_END, None))
                return
            if stage is not None:
                batch = stage(batch)
            if not _put(q, stop, (_BATCH, batch)):
                if stage is not None:
                    batch.done.synchronize()  # stopped: let the copy finish before dropping it
                return
            del batch
    except BaseException as exc:  # re-raised in the consumer, traceback included
        _put(q, stop, (_ERROR, exc))
        del exc
    finally:
        close = getattr(source, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):  # the loader's own cleanup; nothing to report
                close()


def _release(stop: threading.Event, keepalive: deque[tuple[Any, list[Any]]]) -> None:
    """Stop the thread; drop pinned sources once their copies are done."""
    stop.set()
    while keepalive:
        keepalive[0][0].synchronize()
        keepalive.popleft()


class PrefetchIterator:
    """One pass over the loader, with its own background thread."""

    def __init__(self, source: Iterator[Any], depth: int, cuda: Any = None) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._depth = depth
        self._cuda = cuda
        self._keepalive: deque[tuple[Any, list[Any]]] = deque()
        self._done = False
        stage = cuda.stage if cuda is not None else None
        self._thread = threading.Thread(
            target=_produce,
            args=(source, stage, self._queue, self._stop),
            name="dlrig-prefetch",
            daemon=True,
        )
        # GC or interpreter exit stops the thread (the finalizer holds no reference to self).
        weakref.finalize(self, _release, self._stop, self._keepalive)
        self._thread.start()

    def __iter__(self) -> PrefetchIterator:
        return self

    def _get(self) -> tuple[str, Any]:
        while True:
            try:
                return self._queue.get(timeout=POLL_S)
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    return (_ERROR, RuntimeError("prefetch thread ended without a result"))

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        try:
            kind, payload = self._get()
        except BaseException:  # Ctrl-C while waiting: stop the thread, then let it propagate
            self.close()
            raise
        if kind == _BATCH:
            if self._cuda is not None:
                return self._cuda.deliver(payload, self._keepalive, self._depth)
            return payload
        self.close()
        if kind == _ERROR:
            try:
                raise payload
            finally:
                del payload
        raise StopIteration

    def close(self) -> None:
        """Stop the background thread and drop the batches it prepared."""
        self._done = True
        self._stop.set()
        self._drain()
        if self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT_S)
        self._drain()
        _release(self._stop, self._keepalive)

    def _drain(self) -> None:
        while True:
            try:
                kind, payload = self._queue.get_nowait()
            except queue.Empty:
                return
            if kind == _BATCH and self._cuda is not None:
                payload.done.synchronize()  # its pinned source must outlive the copy

    @property
    def thread(self) -> threading.Thread:
        return self._thread
