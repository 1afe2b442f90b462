"""The GPU seam: a small `GpuBackend` protocol, and `Unavailable`, the value a probe returns
instead of raising when something cannot be measured.

Implementations: `dlrig.probe.nvml.NvmlBackend` (the real one, over nvidia-ml-py) and the same
class over `dlrig.probe.fake.FakeNvml`, which replays NVML replies stored as JSON (tests and
`DLRIG_FAKE_NVML`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dlrig.probe.models import GpuInfo, GpuSystem


@dataclass(frozen=True)
class Unavailable:
    """Why a whole backend (or one value) could not be read: `unavailable: <reason>`."""

    reason: str

    def __str__(self) -> str:
        return f"unavailable: {self.reason}"


@runtime_checkable
class GpuBackend(Protocol):
    """What the probe and the pipeline need from a GPU library."""

    def device_count(self) -> int:
        """GPUs visible to the driver (`nvidia-smi -L`)."""
        ...

    def utilization_pct(self, index: int) -> float | None:
        """Percent of the last sample period a kernel ran on GPU `index`, None if unreadable
        (`nvidia-smi --query-gpu=utilization.gpu --format=csv`)."""
        ...

    def uuid(self, index: int) -> str | None:
        """GPU `index`'s UUID ("GPU-8f3c…"), None if unreadable (`nvidia-smi -L`)."""
        ...

    def gpu(self, index: int) -> GpuInfo:
        """Everything readable about one GPU; unreadable fields are None with a reason."""
        ...

    def system(self) -> GpuSystem:
        """Driver and CUDA versions, the P2P matrix and the topology matrix."""
        ...

    def close(self) -> None: ...


def same_gpu(nvml_uuid: str | None, cuda_uuid: str | None) -> bool:
    """NVML says "GPU-8f3c…" (or "MIG-…"), torch's device properties "8f3c…": the same GPU?"""
    if not nvml_uuid or not cuda_uuid:
        return False
    return nvml_uuid.removeprefix("GPU-").removeprefix("MIG-").lower() == cuda_uuid.lower()
