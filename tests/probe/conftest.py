"""Fixtures for the probe tests: NVML scenarios replayed by FakeNvml, tiny measurement sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrig.probe import run
from dlrig.probe.fake import FakeNvml
from dlrig.probe.nvml import NvmlBackend, open_backend

DATA = Path(__file__).resolve().parent.parent / "data"
NVML = DATA / "nvml"
SCENARIOS = sorted(p.stem for p in NVML.glob("*.json"))
# Sizes small enough that a whole probe runs in well under a second.
TINY = run.Sizes(
    memory_buffer_mb=4,
    memory_runs=1,
    disk_test_mb=4,
    disk_iops_s=None,
    copy_mb=1,
    matmul_n=64,
    gpu_runs=1,
    sustained_s=None,
)


def fake(name: str) -> FakeNvml:
    return FakeNvml.from_file(NVML / f"{name}.json")


def backend(name: str) -> NvmlBackend:
    b = open_backend(fake(name))
    assert isinstance(b, NvmlBackend), b
    return b


@pytest.fixture
def tiny_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """`dlrig probe --quick` with tiny sizes (the CLI picks run.QUICK)."""
    monkeypatch.setattr(run, "QUICK", TINY)


@pytest.fixture
def scenario_env(monkeypatch: pytest.MonkeyPatch):
    """Point $DLRIG_FAKE_NVML at a named scenario."""

    def use(name: str) -> None:
        monkeypatch.setenv(run.FAKE_NVML_ENV, str(NVML / f"{name}.json"))

    return use
