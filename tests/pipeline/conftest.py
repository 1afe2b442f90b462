"""Fixtures for the pipeline tests: a stand-in for the bits of `torch` the CUDA prefetcher uses, logging every call.

Lets the CUDA path's logic (pin in the background thread, copy on the side stream after waiting
on the consumer, consumer waits on the copy's event, keep-alive) run on a machine without a GPU.
"""

from __future__ import annotations

import contextlib
import threading
import types
from types import SimpleNamespace

import pytest

from dlrig.pipeline import cuda as cuda_mod


class FakeDevice:
    def __init__(self, kind: str, index: int | None = None) -> None:
        if ":" in kind:
            kind, idx = kind.split(":")
            index = int(idx)
        self.type, self.index = kind, index

    def __repr__(self) -> str:
        return f"{self.type}:{self.index}" if self.index is not None else self.type


class FakeCuda:
    def __init__(self, log: list, available: bool = True) -> None:
        self.log = log
        self.available = available
        self.local = threading.local()
        self.default = FakeStream(self, "default")
        self.streams_made = 0
        self.events: list[FakeEvent] = []
        self.complete_events = True

    def is_available(self) -> bool:
        return self.available

    def current_device(self) -> int:
        return 0

    def get_device_properties(self, device):
        # The fake GPU's UUID as torch reports it (no "GPU-" prefix, unlike NVML).
        return types.SimpleNamespace(uuid="00000000-0000-0000-0000-00000000000" + str(device))

    def Stream(self, device=None):
        self.streams_made += 1
        return FakeStream(self, f"side{self.streams_made}")

    def Event(self, enable_timing=False):
        event = FakeEvent(self, len(self.events))
        self.events.append(event)
        return event

    def synchronize(self, device=None) -> None:
        self.log.append(("device-synchronize",))

    def current_stream(self, device=None):
        return getattr(self.local, "stream", self.default)

    @contextlib.contextmanager
    def stream(self, s):
        old = self.current_stream()
        self.local.stream = s
        try:
            yield
        finally:
            self.local.stream = old

    @contextlib.contextmanager
    def device(self, d):
        yield


class FakeStream:
    def __init__(self, cuda: FakeCuda, name: str) -> None:
        self.cuda, self.name = cuda, name

    def wait_event(self, event) -> None:
        self.cuda.log.append(("wait", self.name, event.id, threading.current_thread().name))


class FakeEvent:
    def __init__(self, cuda: FakeCuda, id_: int) -> None:
        self.cuda, self.id, self.stream = cuda, id_, None
        self.synchronized = False

    def record(self, stream=None) -> None:
        self.stream = (stream or self.cuda.current_stream()).name
        self.cuda.log.append(("record", self.stream, self.id, threading.current_thread().name))

    def query(self) -> bool:
        return self.cuda.complete_events or self.synchronized

    def synchronize(self) -> None:
        self.synchronized = True
        self.cuda.log.append(("synchronize", self.id))

    def elapsed_time(self, end: FakeEvent) -> float:
        return float(end.id - self.id)  # "milliseconds": one per event recorded in between


class FakeTensor:
    cuda: FakeCuda

    def __init__(self, value, device="cpu", pinned=False) -> None:
        self.value, self.device, self.pinned = value, FakeDevice(str(device)), pinned

    def is_pinned(self) -> bool:
        return self.pinned

    def pin_memory(self) -> FakeTensor:
        self.cuda.log.append(("pin", self.value, threading.current_thread().name))
        return type(self)(self.value, "cpu", pinned=True)

    def to(self, device, non_blocking=False) -> FakeTensor:
        stream = self.cuda.current_stream().name
        self.cuda.log.append(("copy", self.value, stream, non_blocking, self.pinned))
        return type(self)(self.value, device)

    def copy_(self, src, non_blocking=False) -> FakeTensor:
        stream = self.cuda.current_stream().name
        self.cuda.log.append(("copy", src.value, stream, non_blocking, src.pinned))
        self.value = src.value
        return self


def empty_like(tensor: FakeTensor, device=None) -> FakeTensor:
    stream = tensor.cuda.current_stream().name
    tensor.cuda.log.append(("alloc", None, stream, threading.current_thread().name))
    return type(tensor)(None, device or tensor.device)


def fake_torch(available: bool = True) -> SimpleNamespace:
    log: list = []
    cuda = FakeCuda(log, available)
    tensor = type("Tensor", (FakeTensor,), {"cuda": cuda})
    return SimpleNamespace(
        Tensor=tensor, cuda=cuda, device=FakeDevice, log=log, empty_like=empty_like
    )


@pytest.fixture
def torch_fake(monkeypatch):
    """A fake torch with CUDA 'available', installed where the prefetcher imports torch."""
    fake = fake_torch()
    monkeypatch.setattr(cuda_mod, "import_torch", lambda: fake)
    return fake


@pytest.fixture
def torch_fake_no_cuda(monkeypatch):
    fake = fake_torch(available=False)
    monkeypatch.setattr(cuda_mod, "import_torch", lambda: fake)
    return fake
