"""Inputs found by a QA pass (2026-11-25) that once crashed, hung or printed nonsense."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dlrig.cli import run
from dlrig.rules import check
from helpers import make_build, run_check, skipped


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dlrig: error: ") and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("toml", "shown"),
    [
        ('[[gpus]]\nmodel = "RTX 4090\\nsecond line"\n', "gpus[0].model: control character \\n"),
        (
            'name = "evil\\u001b[31mRED"\n[[gpus]]\nmodel = "RTX 4090"\n',
            "name: control character \\x1b",
        ),
    ],
)
def test_control_characters_in_a_build_file_are_refused(tmp_path, capsys, toml, shown):
    # A name with an escape sequence would otherwise reach the terminal report raw.
    path = tmp_path / "b.toml"
    path.write_text(toml)
    assert run(["check", str(path)]) == 2
    line = one_error_line(capsys)
    assert shown in line and "\x1b" not in line.replace("\\x1b", "")


def test_control_characters_in_an_argument_are_escaped(capsys):
    assert run(["estimate", "--task", "train", "--model", "gpt2", "--gpu", "RTX\x1b[31m4090"]) == 2
    line = one_error_line(capsys)
    assert "\\x1b" in line and "\x1b" not in line


def test_output_over_the_input_is_refused(tmp_path, capsys):
    path = tmp_path / "b.toml"
    path.write_text('[[gpus]]\nmodel = "RTX 4090"\n')
    assert run(["check", str(path), "-o", str(path)]) == 2
    assert "would overwrite the input file" in one_error_line(capsys)
    assert path.read_text() == '[[gpus]]\nmodel = "RTX 4090"\n'


def test_endless_input_is_not_read_to_the_end(capsys):
    assert run(["check", "/dev/zero"]) == 2
    assert "is a character device, not a regular file" in one_error_line(capsys)


def test_a_very_long_name_is_refused_quickly(capsys):
    assert run(["estimate", "--task", "train", "--model", "gpt2", "--gpu", "x" * 100_000]) == 2
    line = one_error_line(capsys)
    assert len(line) < 400 and "unknown GPU" in line


def test_tiny_mfu_is_refused_instead_of_infinite_times(capsys):
    args = [
        "estimate",
        "--task",
        "train",
        "--model",
        "gpt2",
        "--gpu",
        "H100 SXM",
        "--mfu",
        "1e-320",
    ]
    assert run(args) == 2
    assert "--mfu" in one_error_line(capsys)


def test_tiny_step_time_is_refused(tmp_path, capsys):
    path = tmp_path / "b.toml"
    path.write_text('[[gpus]]\nmodel = "RTX 4090"\n[workload]\nstep_time_s = 1e-300\n')
    assert run(["check", str(path)]) == 2
    assert "workload.step_time_s: expected at least 0.0001" in one_error_line(capsys)


def test_more_gpus_than_the_estimator_models_skips_gpu_memory():
    groups = [{"model": "RTX 4090", "count": 64}] * 1600
    report = run_check({"gpus": groups, "workload": {"model": "gpt2", "task": "train"}})
    assert "gpu-memory" in skipped(report)
    reason = next(s.reason for s in report.skipped if s.rule == "gpu-memory")
    assert reason.startswith("outside the estimator's range: total GPU count")


def test_large_batch_within_the_build_limit_is_estimated():
    b = make_build(
        {
            "gpus": [{"model": "H100 SXM"}],
            "workload": {"model": "gpt2", "task": "train", "batch_size": 2_000_000},
        }
    )
    assert any(f.id == "gpu-memory" for f in check(b).findings)


def test_unencodable_output_is_replaced_not_a_traceback():
    env = {"PYTHONIOENCODING": "ascii", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", "from dlrig.cli import main; main()", "parts", "gpus"],
        capture_output=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0 and b"Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("extra", "warning"),
    [
        (["--epochs", "3"], "--epochs and --dataset-size go together"),
        (["--tokens", "1e9", "--epochs", "1", "--dataset-size", "100"], "the time is for --tokens"),
        (["--interconnect", "nvlink"], "has no effect with one GPU"),
    ],
)
def test_ignored_options_are_said(extra, warning, capsys):
    args = ["estimate", "--task", "train", "--model", "gpt2", "--gpu", "RTX 4090", "-f", "json"]
    assert run(args + extra) == 0
    data = json.loads(capsys.readouterr().out)
    assert any(warning in w for w in data["warnings"]), data["warnings"]


def test_lora_rank_above_the_hidden_size_is_said(capsys):
    args = [
        "estimate",
        "--task",
        "lora",
        "--model",
        "qwen2.5-0.5b",
        "--gpu",
        "RTX 4090",
        "--lora-rank",
        "65536",
        "-f",
        "json",
    ]
    assert run(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert any("adapters outgrow" in w for w in data["warnings"])
