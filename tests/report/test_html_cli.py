"""`--format html` through the CLI: check, estimate and probe (with the -o / --build-file split)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dlrig.cli import run
from dlrig.probe import run as probe_run
from probe_helpers import NVML, TINY

EXAMPLE = "examples/guide-2015-4gpu.toml"


@pytest.fixture
def fake_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny quick probe of the x4-link scenario (as tests/probe/conftest.py does)."""
    monkeypatch.setattr(probe_run, "QUICK", TINY)
    monkeypatch.setenv(probe_run.FAKE_NVML_ENV, str(NVML / "x4-link.json"))


def test_check_html_to_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "report.html"
    assert run(["check", EXAMPLE, "--format", "html", "-o", str(out)]) == 1  # it has an error
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "disk-throughput" in html
    assert capsys.readouterr().out == ""


def test_check_html_to_stdout(capsys: pytest.CaptureFixture[str]):
    assert run(["check", "examples/budget-1gpu.toml", "-f", "html"]) == 0
    assert 'id="chart-power"' in capsys.readouterr().out


def test_estimate_html(tmp_path: Path):
    out = tmp_path / "estimate.html"
    # seq 1024 without checkpointing: within the estimator's error of the 24 GB card.
    argv = ["estimate", "--model", "llama-3-8b", "--task", "lora", "--gpu", "RTX 4090"]
    argv += ["--seq-len", "1024"]
    assert run([*argv, "--format", "html", "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert 'id="chart-memory"' in html and "Tight, within the estimator's error" in html


def test_probe_html_goes_to_o_and_build_file_to_build_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_gpus: None
):
    report, build = tmp_path / "mybox.html", tmp_path / "mybox.toml"
    argv = ["probe", "--quick", "--data-dir", str(tmp_path), "--format", "html"]
    assert run([*argv, "-o", str(report), "--build-file", str(build)]) == 0
    assert 'id="chart-probe"' in report.read_text(encoding="utf-8")
    assert "pcie-link-degraded" in report.read_text(encoding="utf-8")
    assert "[[gpus]]" in build.read_text()
    assert f"wrote {build}" in capsys.readouterr().err
    assert run(["check", str(build)]) in (0, 1)


def test_probe_o_still_writes_a_build_file_for_terminal_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_gpus: None
):
    build = tmp_path / "mybox.toml"
    assert run(["probe", "--quick", "--data-dir", str(tmp_path), "-o", str(build)]) == 0
    assert "[[gpus]]" in build.read_text()
    capsys.readouterr()


def test_probe_build_file_with_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_gpus: None
):
    build = tmp_path / "b.toml"
    argv = ["probe", "--quick", "--data-dir", str(tmp_path), "-f", "json"]
    assert run([*argv, "--build-file", str(build)]) == 0
    assert '"schema": "dlrig.probe/1"' in capsys.readouterr().out
    assert "[[gpus]]" in build.read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "a.toml", "--build-file", "b.toml"], "-o or --build-file, not both"),
        (["-f", "html", "-o", "same.x", "--build-file", "same.x"], "name the same file"),
    ],
)
def test_probe_conflicting_outputs_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_gpus: None, extra, message
):
    extra = [str(tmp_path / e) if e.endswith((".toml", ".x")) else e for e in extra]
    assert run(["probe", "--quick", "--data-dir", str(tmp_path), *extra]) == 2
    assert message in capsys.readouterr().err


def test_probe_help_explains_o_and_build_file(capsys: pytest.CaptureFixture[str]):
    assert run(["probe", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--build-file" in out and "With --format html: write the HTML report here" in out


def test_recommend_html(tmp_path: Path):
    out = tmp_path / "options.html"
    args = ["recommend", "--budget", "5000", "--workload", "llama-3-8b:lora", "--seq-len", "2048"]
    assert run([*args, "--format", "html", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.count("<svg") == 2  # performance per money, cost against throughput
    assert re.search(r"\d{1,3}(,\d{3})+ builds evaluated", page)  # thousands separated
    assert "<script" not in page and 'src="http' not in page
    assert "Pareto front" in page and "GeForce RTX 5090" in page
