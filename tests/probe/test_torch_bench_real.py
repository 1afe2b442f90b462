"""torch_bench behaviour that only a real GPU machine would have shown: which devices it
synchronizes, the TF32 setting (checked against the real `torch.backends`, which the CPU build
has), and matching cuda:0 to its NVML row."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from dlrig.probe import torch_bench
from dlrig.probe.models import GpuInfo
from dlrig.probe.torch_bench import probe_torch


def _stand_in() -> Any:
    path = Path(__file__).with_name("test_torch_bench.py")
    spec = importlib.util.spec_from_file_location("_torch_bench_stand_in", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STAND_IN = _stand_in()


class SyncLog(STAND_IN.FakeTorch):
    def __init__(self, gpus: int) -> None:
        super().__init__(gpus=gpus)
        self.synced: list[int | None] = []

    def synchronize(self, device: int | None = None) -> None:
        self.synced.append(device)
        super().synchronize(device)


def _probe(tc: Any) -> Any:
    return probe_torch(
        copy_mb=0.01,
        matmul_n=8,
        runs=1,
        sustained_s=None,
        gpus=[GpuInfo(index=0, name="NVIDIA H100 80GB HBM3")],
        backend=None,
        tc=tc,
    )


@pytest.mark.parametrize("gpus", [1, 2, 8])
def test_only_the_gpus_measured_are_synchronized(gpus):
    """torch.cuda.synchronize(i) creates a context on GPU i: on an 8-GPU box the probe used to
    open one on every GPU (memory on each; an error on a busy exclusive-process GPU)."""
    tc = SyncLog(gpus)
    bench = _probe(tc)
    assert bench.matmul_tflops and bench.h2d_pinned_gbs is not None
    assert tc.synced and set(tc.synced) <= ({0, 1} if gpus >= 2 else {0})
    assert (1 in tc.synced) == (gpus >= 2)  # the GPU 0 -> GPU 1 copy waits for both


# -- TF32 against the real torch.backends -------------------------------------------------------

torch_mod = pytest.importorskip("torch")
KNOBS = (
    "fp32_precision",
    "cuda.matmul.fp32_precision",
    "cudnn.fp32_precision",
    "cudnn.conv.fp32_precision",
    "cudnn.rnn.fp32_precision",
    "mkldnn.fp32_precision",
    "mkldnn.matmul.fp32_precision",
    "mkldnn.conv.fp32_precision",
    "mkldnn.rnn.fp32_precision",
)


def _get(path: str) -> Any:
    obj: Any = torch_mod.backends
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _set(path: str, value: Any) -> None:
    *parents, last = path.split(".")
    obj: Any = torch_mod.backends
    for part in parents:
        obj = getattr(obj, part)
    setattr(obj, last, value)


@pytest.fixture
def real_backends():
    """The real precision settings, put back afterwards (they are process-wide)."""
    if not hasattr(torch_mod.backends.cuda.matmul, "fp32_precision"):
        pytest.skip("torch before 2.9: one TF32 setting only")
    legacy = torch_mod.get_float32_matmul_precision()
    saved = {k: _get(k) for k in KNOBS}
    yield torch_mod.backends.cuda.matmul
    torch_mod.set_float32_matmul_precision(legacy)
    for k, v in saved.items():
        _set(k, v)
    assert torch_mod.backends.cuda.matmul.allow_tf32 is False or legacy != "highest"


class RealBackends(STAND_IN.FakeTorch):
    """The stand-in with the real torch.backends; logs the setting cuBLAS reads per operand."""

    def __init__(self) -> None:
        super().__init__()
        self.backends = torch_mod.backends
        self.seen: list[tuple[str, str]] = []

    def randn(self, *shape: int, dtype: Any = None, device: str | None = None) -> Any:
        self.seen.append((dtype, torch_mod.backends.cuda.matmul.fp32_precision))
        return super().randn(*shape, dtype=dtype, device=device)


def _setup_default() -> None:
    pass


def _setup_legacy_on() -> None:
    torch_mod.backends.cuda.matmul.allow_tf32 = True


def _setup_new_api_only() -> None:
    # The API PyTorch >= 2.9 recommends. Reading the legacy flag now raises a RuntimeError,
    # which made the probe report every matmul as "CUDA error: PyTorch is checking ...".
    torch_mod.backends.cuda.matmul.fp32_precision = "tf32"


def _setup_set_float32_high() -> None:
    torch_mod.set_float32_matmul_precision("high")


@pytest.mark.parametrize(
    "setup", [_setup_default, _setup_legacy_on, _setup_new_api_only, _setup_set_float32_high]
)
def test_tf32_is_set_per_dtype_and_put_back(real_backends, setup):
    setup()
    before = real_backends.fp32_precision
    tc = RealBackends()
    out = torch_bench._matmuls(tc, 8, 1)
    assert set(out) == {"fp32", "tf32", "bf16", "fp16"}
    # the fp32 row without TF32, the tf32 row with it (two operands each)
    assert [p for d, p in tc.seen if d == "float32"] == ["ieee", "ieee", "tf32", "tf32"]
    # what cuBLAS reads is back to what it was, and the legacy flag reads without raising
    assert real_backends.fp32_precision == before
    assert real_backends.allow_tf32 == (setup is not _setup_default)


def test_tf32_restore_from_the_default_state_is_exact(real_backends):
    before = {k: _get(k) for k in KNOBS}
    legacy = torch_mod.get_float32_matmul_precision()
    torch_bench._matmuls(RealBackends(), 8, 1)
    assert {k: _get(k) for k in KNOBS} == before  # "none" stays "none" (not "ieee")
    assert torch_mod.get_float32_matmul_precision() == legacy


def test_cuda0_uuid_match_ignores_case():
    tc = STAND_IN.FakeTorch()
    tc.uuid = "FFFF0000-0001-4090-0000-000000000001"
    rows = [
        GpuInfo(index=0, uuid="GPU-a1b2c3d4-0000-4090-0000-000000000000"),
        GpuInfo(index=1, uuid="GPU-ffff0000-0001-4090-0000-000000000001"),
    ]
    assert torch_bench.nvml_index_of_cuda0(tc, rows) == 1
