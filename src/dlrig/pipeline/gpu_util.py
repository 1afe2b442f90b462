"""GPU utilisation sampled in a background thread while the profiler runs.

The sampler takes any `utilization_fn() -> float | None` (percent), so tests pass a fake; the
default one reads NVML through `dlrig.probe.nvml`, the one module that wraps it. Without NVML
the result is `None` with a reason, never a made-up number.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable
from typing import Any

# NVML's utilization.gpu is "percent of time over the past sample period during which one or
# more kernels was executing"; the period is 1/6 s to 1 s depending on the product (NVML API
# reference, nvmlUtilization_t). Sampling at the shortest period sees every update.
SAMPLE_INTERVAL_S = 1 / 6

UtilizationFn = Callable[[], float | None]


def nvml_utilization_fn(
    device_index: int, nv: Any = None, cuda_uuid: str | None = None
) -> tuple[UtilizationFn | None, str, Callable[[], None]]:
    """(reader of one GPU's utilisation percent, reason if none, close) via dlrig.probe.nvml.

    NVML numbers GPUs in PCI bus order, CUDA fastest first and after CUDA_VISIBLE_DEVICES; with
    the CUDA device's UUID the NVML row is matched by UUID, otherwise `device_index` is taken as
    the NVML index (right with CUDA_DEVICE_ORDER=PCI_BUS_ID and no remapping). `nv`: a
    pynvml-shaped module (tests pass `dlrig.probe.fake.FakeNvml`).
    """
    from dlrig.probe.backend import Unavailable, same_gpu
    from dlrig.probe.nvml import open_backend

    backend = open_backend(nv)
    if isinstance(backend, Unavailable):
        return None, str(backend), lambda: None
    count = backend.device_count()
    if cuda_uuid:
        matched = [i for i in range(count) if same_gpu(backend.uuid(i), cuda_uuid)]
        device_index = matched[0] if matched else device_index
    if device_index >= count:
        backend.close()
        return None, f"unavailable: NVML sees no GPU {device_index}", lambda: None
    index = device_index
    return (lambda: backend.utilization_pct(index)), "", backend.close


class UtilizationSampler:
    """`with UtilizationSampler(fn) as s: ...` then `s.mean_pct` (None with `s.reason`)."""

    def __init__(
        self,
        utilization_fn: UtilizationFn | None,
        reason: str = "",
        interval_s: float = SAMPLE_INTERVAL_S,
    ) -> None:
        self.fn = utilization_fn
        self.reason = reason if utilization_fn is None else ""
        self.interval_s = interval_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        try:
            value = self.fn() if self.fn is not None else None
        except Exception as exc:  # the hardware seam: any reader failure ends sampling
            self.reason = f"unavailable: {type(exc).__name__}: {exc}".rstrip(": ")
            self.fn = None
            return
        if value is not None:
            self.samples.append(float(value))

    def __enter__(self) -> UtilizationSampler:
        if self.fn is not None:
            self._sample()
            self._thread = threading.Thread(target=self._run, name="dlrig-gpu-util", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._sample()

    @property
    def mean_pct(self) -> float | None:
        return statistics.fmean(self.samples) if self.samples else None

    @property
    def unavailable(self) -> str | None:
        if self.samples:
            return None
        return self.reason or "unavailable: no samples"
