"""The PyTorch measurements: unavailable without torch or CUDA, and the measuring code run over a
stand-in torch module whose copies take a known time."""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace
from typing import Any

import pytest

from dlrig.probe import torch_bench
from dlrig.probe.models import GpuInfo
from dlrig.probe.result import TorchBench
from dlrig.probe.torch_bench import matmul_tflops, pct_of_peak, probe_torch, summarise_samples
from probe_helpers import backend

PINNED_S, PAGEABLE_S = 0.002, 0.008  # pageable copies take 4x as long: 25 % of the pinned rate


class VirtualTime:
    """A clock that moves only when a fake copy sleeps on it: rates come out exact, whatever the
    machine's load (issue 16: no test depends on how fast the machine is)."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


CLOCK: dict[str, object] = {"sleep": time.sleep}  # what FakeTensor.copy_ sleeps on


@pytest.fixture
def vtime(monkeypatch: pytest.MonkeyPatch) -> VirtualTime:
    from dlrig.probe import torch_bench

    vt = VirtualTime()
    monkeypatch.setattr(torch_bench, "time", vt)
    monkeypatch.setitem(CLOCK, "sleep", vt.sleep)
    return vt


class FakeTensor:
    def __init__(self, n: int, device: str | None = None, pinned: bool = False, fail: bool = False):
        self.n, self.device, self.pinned, self.fail = n, device, pinned, fail

    def copy_(self, src: FakeTensor, non_blocking: bool = False) -> FakeTensor:
        if self.fail:
            raise RuntimeError("CUDA error: out of memory\nmore lines")
        host = [t for t in (self, src) if t.device is None]
        CLOCK["sleep"](PAGEABLE_S if any(not t.pinned for t in host) else PINNED_S)  # type: ignore[operator]
        return self

    def __matmul__(self, other: FakeTensor) -> FakeTensor:
        return self


class FakeTorch:
    __version__ = "2.13.0+fake"
    uint8, float32, bfloat16, float16 = "uint8", "float32", "bfloat16", "float16"
    version = SimpleNamespace(cuda="12.4")

    def __init__(self, gpus: int = 2, fail: bool = False) -> None:
        self.fail = fail
        self.backends = SimpleNamespace(
            cuda=SimpleNamespace(matmul=SimpleNamespace(allow_tf32=False))
        )
        self.cuda = SimpleNamespace(
            is_available=lambda: True,
            synchronize=self.synchronize,
            device_count=lambda: gpus,
            get_device_properties=self.get_device_properties,
            can_device_access_peer=lambda a, b: False,
        )

    uuid = "a1b2c3d4-0000-4090-0000-000000000000"

    def get_device_properties(self, device: int) -> SimpleNamespace:
        return SimpleNamespace(uuid=self.uuid)

    def synchronize(self, device: int | None = None) -> None:
        # torch.cuda.synchronize() defaults to the current device; the probe names its devices.
        assert device is not None and 0 <= device < self.cuda.device_count()

    def empty(
        self, n: int, dtype: Any = None, device: str | None = None, pin_memory: bool = False
    ) -> FakeTensor:
        return FakeTensor(n, device, pin_memory, self.fail)

    def empty_like(self, t: FakeTensor) -> FakeTensor:
        return FakeTensor(t.n, t.device)

    def randn(self, *shape: int, dtype: Any = None, device: str | None = None) -> FakeTensor:
        return FakeTensor(shape[0], device)


def gpus() -> list[GpuInfo]:
    return [GpuInfo(index=0, name="NVIDIA GeForce RTX 4090")]


def test_without_torch(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    bench = probe_torch(copy_mb=1, matmul_n=8, runs=1, sustained_s=None, gpus=[], backend=None)
    assert bench.h2d_pinned_gbs is None
    assert (
        bench.unavailable["h2d_pinned_gbs"]
        == "PyTorch is not installed (pip install 'dlrig[torch]')"
    )


def test_torch_without_cuda():
    class NoCuda(FakeTorch):
        def __init__(self) -> None:
            super().__init__()
            self.cuda.is_available = lambda: False
            self.version = SimpleNamespace(cuda=None)

    bench = probe_torch(
        copy_mb=1, matmul_n=8, runs=1, sustained_s=None, gpus=[], backend=None, tc=NoCuda()
    )
    assert bench.torch_version == "2.13.0+fake"
    assert bench.unavailable["matmul_tflops"].startswith("no CUDA device visible to PyTorch")


def test_measures_over_a_stand_in_torch(vtime):
    steps: list[float] = []
    bench = probe_torch(
        copy_mb=1,
        matmul_n=64,
        runs=3,
        sustained_s=None,
        gpus=gpus(),
        backend=None,
        tc=FakeTorch(),
        progress=steps.append,
    )
    # 1 MB (1e6 B) in 2 ms is 0.5 GB/s pinned; in 8 ms, 0.125 GB/s pageable.
    assert bench.h2d_pinned_gbs == pytest.approx(0.5, rel=0.05)
    assert bench.h2d_pageable_gbs == pytest.approx(0.125, rel=0.05)
    assert bench.p2p_gbs is not None and bench.p2p_direct is False  # the copy went via host
    assert bench.loaded_gpu_index == 0
    assert set(bench.matmul_tflops) == {"fp32", "tf32", "bf16", "fp16"}
    assert set(bench.matmul_pct_of_peak) == {"fp32", "tf32", "bf16", "fp16"}
    assert bench.unavailable["sustained_s"] == "full mode only (drop --quick)"
    assert steps[-1] == 1.0 and steps == sorted(steps)


def test_one_gpu_has_no_p2p():
    bench = probe_torch(
        copy_mb=1,
        matmul_n=8,
        runs=1,
        sustained_s=None,
        gpus=gpus(),
        backend=None,
        tc=FakeTorch(gpus=1),
    )
    assert bench.p2p_gbs is None and bench.unavailable["p2p_gbs"] == "needs two GPUs"


def test_cuda_errors_become_reasons():
    bench = probe_torch(
        copy_mb=1,
        matmul_n=8,
        runs=1,
        sustained_s=None,
        gpus=gpus(),
        backend=None,
        tc=FakeTorch(fail=True),
    )
    assert bench.h2d_pinned_gbs is None
    assert bench.unavailable["h2d_pinned_gbs"] == "CUDA error: CUDA error: out of memory"


def test_sustained_load_samples_nvml(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(torch_bench, "SUSTAINED_SAMPLE_S", 0.0)
    bench = probe_torch(
        copy_mb=1,
        matmul_n=8,
        runs=1,
        sustained_s=0.05,
        gpus=gpus(),
        backend=backend("throttling"),
        tc=FakeTorch(),
    )
    assert bench.sustained_s is not None and bench.sustained_s >= 0.05
    assert bench.sustained_temp_max_c == 91.0
    assert bench.sustained_throttle_reasons == [
        "hw_thermal_slowdown",
        "sw_power_cap",
        "sw_thermal_slowdown",
    ]
    assert (bench.sustained_pcie_gen, bench.sustained_pcie_width) == (4, 16)


def test_summarise_without_samples():
    bench = TorchBench()
    summarise_samples(bench, [])
    assert bench.unavailable["sustained_temp_max_c"] == "no NVML samples during the load"


def test_matmul_arithmetic_and_peaks():
    assert matmul_tflops(1000, 10, 0.02) == pytest.approx(1.0)  # 2 x 1e9 x 10 / 0.02 s
    pct = pct_of_peak(
        {"fp32": 41.3, "tf32": 41.3, "bf16": 82.6, "fp16": 82.6}, "NVIDIA GeForce RTX 4090"
    )
    # catalog: 82.6 fp32, 165.2 dense fp16 tensor (tf32 at half of it)
    assert pct["bf16"] == 50.0 and pct["tf32"] == 50.0
    assert pct_of_peak({"fp32": 1.0}, "Unknown GPU 9000") == {}
    assert pct_of_peak({"fp32": 1.0}, None) == {}


def test_cuda0_is_matched_to_its_nvml_row_by_uuid():
    rows = [
        GpuInfo(index=0, uuid="GPU-a1b2c3d4-0000-4090-0000-000000000000"),
        GpuInfo(index=1, uuid="GPU-ffff0000-0001-4090-0000-000000000001"),
    ]
    tc = FakeTorch()
    tc.uuid = "ffff0000-0001-4090-0000-000000000001"  # CUDA_VISIBLE_DEVICES=1, or fastest-first
    assert torch_bench.nvml_index_of_cuda0(tc, rows) == 1
    tc.uuid = "not-a-match"
    assert torch_bench.nvml_index_of_cuda0(tc, rows) == 0  # fall back to NVML's first
    assert torch_bench.nvml_index_of_cuda0(tc, []) is None


def test_tf32_on_volta_is_measured_against_the_fp32_peak():
    # Volta has tensor cores but no TF32: a "tf32" matmul runs on the CUDA cores.
    pct = pct_of_peak({"tf32": 7.85, "fp16": 62.5}, "Tesla V100-SXM2-16GB")
    assert pct["tf32"] == pytest.approx(50.0, abs=0.5)  # of 15.7 TFLOPS FP32
    assert pct["fp16"] == pytest.approx(50.0, abs=0.5)  # of 125 TFLOPS FP16 tensor
