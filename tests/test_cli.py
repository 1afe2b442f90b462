"""The `dlrig` command end to end: exit codes, output formats, `parts`, and the entry points.

Exit codes: 0 the build has no errors, 1 it has errors, 2 bad input or usage.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dlrig.cli import run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# One RTX 4090 on a PSU with room to spare: no errors (a warning about ATX 3 is fine).
GOOD = '[[gpus]]\nmodel = "RTX 4090"\n\n[psu]\nwatts = 1200\n'
# The same card on a 300 W PSU: the PSU capacity rule gives an error.
SMALL_PSU = '[[gpus]]\nmodel = "RTX 4090"\n\n[psu]\nwatts = 300\n'

GPU_FIELDS = {
    "name",
    "vendor",
    "architecture",
    "year",
    "memory_gb",
    "memory_bandwidth_gbs",
    "fp32_tflops",
    "fp16_tensor_tflops",
    "fp8_tensor_tflops",
    "tdp_w",
    "pcie_gen",
    "form_factor",
    "slot_width",
    "length_mm",
    "power_connectors",
    "nvlink",
    "p2p",
    "price_usd",
    "price_date",
    "source",
}
CPU_FIELDS = {
    "name",
    "vendor",
    "socket",
    "cores",
    "threads",
    "pcie_lanes",
    "pcie_gen",
    "memory_channels",
    "max_memory_mts",
    "tdp_w",
    "price_usd",
    "source",
}


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    return path


@pytest.fixture
def small_psu(tmp_path: Path) -> Path:
    path = tmp_path / "small-psu.toml"
    path.write_text(SMALL_PSU)
    return path


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Assert exit 2 with exactly one `dlrig: error:` line on stderr and nothing on stdout."""
    code = run(argv)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dlrig: error: ")
    return lines[0]


# --------------------------------------------------------------------------- exit codes


def test_build_without_errors_exits_0(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["check", "--no-color", str(good)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "0 errors" in out


def test_build_with_errors_exits_1(small_psu: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["check", "--no-color", str(small_psu)]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    assert "psu-capacity" in out


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[psu]\nwats = 1200\n")
    line = usage_error(["check", str(path)], capsys)
    assert line == f"dlrig: error: {path}: psu.wats: unknown key; did you mean 'watts'?"


def test_utf8_bom_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert run(["check", str(path)]) == 0
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["check"], r"Missing argument"),
        (["check", "--format", "xml", "x.toml"], r"'--format'.*'xml' is not one of"),
        (["check", "--bogus", "x.toml"], r"No such option: --bogus"),
        (["check", "a.toml", "b.toml"], r"unexpected extra argument"),
        (["frobnicate"], r"No such command 'frobnicate'"),
        (["parts", "gpus", "--format", "xml"], r"'xml' is not one of 'table', 'json'"),
        (["parts", "routers"], r"No such command 'routers'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = usage_error(argv, capsys)
    assert re.search(expected, line), line
    assert "--help" in line


def test_unwritable_output_exits_2(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-dir" / "report.json"
    line = usage_error(["check", "-o", str(target), str(good)], capsys)
    assert line.startswith(f"dlrig: error: {target}: cannot write")


@pytest.mark.parametrize("argv", [[], ["parts"], ["--help"], ["check", "--help"]])
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv) == 0
    out, err = capsys.readouterr()
    assert "Usage:" in out
    assert err == ""


# --------------------------------------------------------------------------- output formats


def test_json_report(small_psu: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["check", "--format", "json", str(small_psu)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["schema"] == "dlrig.check/1"
    assert {"build", "findings", "summary"} <= set(report)
    assert {"errors", "warnings", "info", "skipped"} <= set(report["summary"])
    assert report["summary"]["errors"] >= 1
    assert isinstance(report["findings"], list)


def test_json_report_without_errors(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["check", "-f", "json", str(good)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["errors"] == 0


def test_markdown_report(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["check", "--format", "markdown", str(good)]) == 0
    assert capsys.readouterr().out.startswith("# ")


def test_output_file(small_psu: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "report.json"
    assert run(["check", "-f", "json", "-o", str(target), str(small_psu)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ""
    assert json.loads(target.read_text(encoding="utf-8"))["schema"] == "dlrig.check/1"


def test_output_file_markdown(good: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    assert run(["check", "--format", "markdown", "--output", str(target), str(good)]) == 0
    assert target.read_text(encoding="utf-8").startswith("# ")


# --------------------------------------------------------------------------- parts


def test_parts_gpus_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["parts", "gpus", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list)
    assert len(rows) >= 40
    for row in rows:
        assert set(row) >= GPU_FIELDS, (row.get("name"), sorted(GPU_FIELDS - set(row)))
    assert "GeForce RTX 4090" in {row["name"] for row in rows}


def test_parts_cpus_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["parts", "cpus", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list)
    assert len(rows) >= 20
    for row in rows:
        assert set(row) >= CPU_FIELDS, (row.get("name"), sorted(CPU_FIELDS - set(row)))
    assert "Core i7-5930K" in {row["name"] for row in rows}


@pytest.mark.parametrize("kind", ["gpus", "cpus"])
def test_parts_table(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["parts", kind]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert len(out.splitlines()) >= 20


# --------------------------------------------------------------------------- entry points


def _dlrig(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dlrig", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_python_m_dlrig_help() -> None:
    done = _dlrig("--help")
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout
    assert "check" in done.stdout
    assert done.stderr == ""


def test_python_m_dlrig_check_example() -> None:
    done = _dlrig("check", "--format", "json", "examples/rtx4090-2x-workstation.toml")
    assert "Traceback" not in done.stderr
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    assert report["schema"] == "dlrig.check/1"
    assert done.returncode == (1 if report["summary"]["errors"] else 0)


def test_python_m_dlrig_bad_input() -> None:
    done = _dlrig("check", "tests/data/bad/build.gpu-unknown.toml")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "did you mean 'GeForce RTX 4090'" in done.stderr
