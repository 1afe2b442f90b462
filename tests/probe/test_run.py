"""run_probe: progress, the guard that turns a failing step into reasons, and import hygiene."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dlrig.probe import cpu, run
from dlrig.probe.backend import Unavailable
from probe_helpers import TINY, backend

SRC = Path(__file__).resolve().parents[2] / "src" / "dlrig"


def test_progress_reaches_every_step(tmp_path: Path):
    seen: dict[str, float] = {}
    result = run.run_probe(
        quick=True,
        data_dir=tmp_path,
        sizes=TINY,
        backend_factory=lambda: backend("x4-link"),
        progress=lambda step, fraction: seen.__setitem__(step, fraction),
    )
    assert set(seen) == {"CPU", "Memory bandwidth", "Disk read", "GPUs (NVML)"}
    assert all(v == 1.0 for v in seen.values())
    assert result.gpu_status == "ok" and len(result.gpus) == 2
    assert result.duration_s >= 0 and result.quick


def test_a_crashing_step_becomes_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def boom() -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(cpu, "probe_cpu", lambda: boom())
    result = run.run_probe(
        quick=True, data_dir=tmp_path, sizes=TINY, backend_factory=lambda: Unavailable("none")
    )
    assert result.cpu.cores_physical is None
    assert result.cpu.unavailable["cores_physical"] == "probe failed: RuntimeError: kaput"
    assert result.memory.bandwidth_gbs is not None  # the other steps still ran
    assert result.gpu_status == "unavailable: none"


def test_a_crashing_backend_becomes_gpu_status(tmp_path: Path):
    class Broken:
        closed = False

        def device_count(self) -> int:
            raise RuntimeError("driver went away")

        def close(self) -> None:
            Broken.closed = True

    result = run.run_probe(quick=True, data_dir=tmp_path, sizes=TINY, backend_factory=Broken)  # type: ignore[arg-type]
    assert result.gpu_status == "unavailable: NVML probe failed: RuntimeError: driver went away"
    assert result.gpus == [] and Broken.closed


def test_pynvml_is_imported_only_in_probe_nvml():
    importers = [
        p.relative_to(SRC).as_posix()
        for p in SRC.rglob("*.py")
        if re.search(r"^\s*(import pynvml|from pynvml)", p.read_text(), re.MULTILINE)
    ]
    assert importers == ["probe/nvml.py"]


def test_findings_and_build_writer_import_no_hardware_library():
    code = (
        "import sys\nimport dlrig.probe.findings, dlrig.probe.to_build, dlrig.probe.fake\n"
        "print(','.join(m for m in ('pynvml', 'torch', 'psutil', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_progress_bars_draw_on_stderr(capsys: pytest.CaptureFixture[str]):
    from dlrig.report.probe_terminal import progress_bars

    with progress_bars(True) as update:
        update("CPU", 0.5)
        update("CPU", 1.0)
        update("Disk read", 2.0)  # clamped, not an error
    assert capsys.readouterr().out == ""
    with progress_bars(False) as update:
        update("CPU", 1.0)


def test_unavailable_values_show_their_reason():
    from dlrig.report.probe_terminal import value_text

    assert value_text("read_mbs", None, "cannot write").plain == "unavailable: cannot write"
    assert (
        value_text("cgroup_cpus", None, "no limit (cpu.max = max)").plain
        == "no limit (cpu.max = max)"
    )
    assert value_text("read_mbs", 1706.64, None).plain == "1,707 MB/s"
    assert value_text("mem_clock_mhz", 10501.0, None).plain == "10,501 MHz"
    assert value_text("persistence_mode", False, None).plain == "no"
    assert value_text("matmul_tflops", {"bf16": 150.2}, None).plain == "bf16 150.2 TFLOPS"
