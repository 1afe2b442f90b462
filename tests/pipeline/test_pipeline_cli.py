"""`dlrig pipeline bench` end to end, and the package importing without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dlrig.cli import run

SMALL = ["--load-ms", "4", "--compute-ms", "6", "--steps", "12", "--batch-mb", "0.01"]


def test_bench_terminal(capsys):
    assert run(["pipeline", "bench", *SMALL]) == 0
    out = capsys.readouterr().out
    for text in ("plain (measured)", "prefetched (measured)", "ideal", "verdict:", "Predictions"):
        assert text in out


def test_bench_json_ratios_and_checks(capsys):
    assert run(["pipeline", "bench", *SMALL, "--read-ms", "2", "--cores", "3", "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["schema"] == "dlrig.pipeline.bench/1"
    r = d["ratios"]
    # Generous: CI is a noisy 2-core box. Ideal: prefetched 1.0 of ideal, plain 1.0 of serial.
    assert r["prefetched_vs_ideal"] > 0.7
    assert 0.7 < r["plain_vs_serial"] < 1.1
    assert r["prefetched_vs_plain"] > 1.2
    assert d["profile"]["verdict"] == "input-bound"
    fixes = {c["fix"] for c in d["checks"]}
    assert {"prefetch", "workers", "cache", "decode"} <= fixes
    for c in d["checks"]:
        assert abs(c["error"]) < 0.5, c


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "-1"], "steps must be >= 1"),
        (["--depth", "0"], "depth must be >= 1"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--load-ms", "-3"], "load_ms must be >= 0"),
        (["--read-ms", "30", "--load-ms", "20"], "cannot exceed"),
        (["--workers", "-1"], "workers must be >= 0"),
        (["--cores", "0"], "cores must be >= 1"),
        (["--steps", "many"], "steps"),
    ],
)
def test_bench_bad_input_is_one_line_and_exit_2(capsys, args, message):
    assert run(["pipeline", "bench", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dlrig: error: ") and message in err
    assert err.count("\n") == 1


def test_bench_cuda_without_a_gpu_is_exit_2(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert run(["pipeline", "bench", "--device", "cuda", "--steps", "2"]) == 2
    assert "is_available" in capsys.readouterr().err


NO_TORCH = """
import sys
sys.modules["torch"] = None  # `import torch` now raises ImportError
import dlrig.pipeline
from dlrig.pipeline import Prefetcher, profile
assert list(Prefetcher(range(50), device="cpu", depth=3)) == list(range(50))
try:
    Prefetcher(range(3), device="cuda")
except ValueError as exc:
    print("cuda:", exc)
r = profile([{"x": i} for i in range(20)], lambda b: None, steps=5, device="cpu")
print("verdict:", r.verdict)
from dlrig.cli import run
print("bench:", run(["pipeline", "bench", "--steps", "3", "--load-ms", "1", "--compute-ms", "1",
                     "-f", "json"]) )
bad = [m for m in ("torch", "pynvml") if sys.modules.get(m) is not None]
print("loaded:", bad)
"""


def test_pipeline_works_without_torch():
    out = subprocess.run(
        [sys.executable, "-c", NO_TORCH], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "cuda: device='cuda' needs PyTorch: pip install 'dlrig[torch]'" in out.stdout
    assert "bench: 0" in out.stdout
    assert "loaded: []" in out.stdout


def test_pipeline_package_imports_no_heavy_library():
    code = (
        "import sys, dlrig.pipeline, dlrig.pipeline.whatif\n"
        "print([m for m in ('torch', 'rich', 'typer', 'psutil', 'pynvml') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
