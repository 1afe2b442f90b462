"""Heavy libraries load only on the paths that use them (issue 16: start-up). Which modules a
command imports, never how long it takes: `benchmarks/cli_start.py` prints the time ratio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "guide-2015-4gpu.toml")
HEAVY = ("numpy", "matplotlib", "jinja2", "pynvml", "psutil", "torch")
PROBE = (
    "import contextlib, io, sys\n"
    "from dlrig.cli import run\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    code = run(sys.argv[1:])\n"
    f"print(code, ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
)


def heavy_modules_after(*argv: str) -> tuple[int, set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    return int(out[0]), set(out[1].split(",")) if len(out) > 1 else set()


@pytest.mark.parametrize(
    "argv",
    [
        ["check", EXAMPLE],
        ["check", EXAMPLE, "--format", "json"],
        ["check", EXAMPLE, "--format", "markdown"],
        ["estimate", "--model", "llama-3-8b", "--task", "infer", "--gpu", "RTX 4090"],
    ],
    ids=["check", "check-json", "check-markdown", "estimate"],
)
def test_text_outputs_import_no_heavy_library(argv):
    code, heavy = heavy_modules_after(*argv)
    assert code in (0, 1)
    assert heavy == set()


def test_html_output_does_load_its_libraries(tmp_path):
    """The probe above sees imports: the HTML path really does load matplotlib and jinja2."""
    code, heavy = heavy_modules_after(
        "check", EXAMPLE, "--format", "html", "-o", str(tmp_path / "r.html")
    )
    assert code in (0, 1)
    assert {"matplotlib", "jinja2"} <= heavy


def test_a_training_script_printing_a_profile_loads_no_ui_library():
    """`print(profile(...))` in a training script: plain text from the pipeline layer, which
    imports neither the report layer nor rich (issue 16 broke the pipeline <-> report cycle)."""
    code = (
        "import sys\n"
        "from dlrig.pipeline import profile\n"
        "r = profile(range(30), lambda b: None, steps=10, device='cpu')\n"
        "text = str(r)\n"
        "assert 'verdict:' in text and 'bottleneck:' in text, text\n"
        "print(','.join(m for m in ('rich', 'dlrig.report', 'typer') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""


def test_check_loads_no_market_cluster_or_recommend_models():
    """`check` of a build needs the parts catalog (and, for gpu-choice, today's GPU prices), not
    the recommender or the cluster fabrics: their modules cost start-up time on every `check`."""
    code = (
        "import contextlib, io, sys\n"
        "from dlrig.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    run(['check', {EXAMPLE!r}])\n"
        "unwanted = ('dlrig.model.cluster', 'dlrig.recommend')\n"
        "print(','.join(m for m in sys.modules if m.startswith(unwanted)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""
