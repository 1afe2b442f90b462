"""benchmarks/same_points.py: two saved reports compared on the points both score, and its
inputs refused with one line and exit 2 (it reads files a user names)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "same_points.py"
REPORT = ROOT / "benchmarks" / "results" / "calibration-after.txt"

HEAD = "point                                      category                    fit       LOSO   measured  LOSO err\n"


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_the_shared_points_are_compared_by_hand_computable_errors(tmp_path):
    start = tmp_path / "start.txt"
    now = tmp_path / "now.txt"
    start.write_text(HEAD + "a decode 1 1 1 +10.0%\nb decode 1 1 1 -30.0%\nc decode 1 1 1 +5.0%\n")
    now.write_text(HEAD + "a decode 1 1 1 +20.0%\nb decode 1 1 1 -10.0%\nd decode 1 1 1 +1.0%\n")
    out = run(str(start), str(now))
    assert out.returncode == 0, out.stderr
    # a and b in both: start |10|, |30| -> median 20, p90 10 + 0.9 x 20 = 28; now 20, 10
    # -> median 15, p90 19
    assert " ".join(out.stdout.split()).find("decode 2 20.0 % / 28.0 % 15.0 % / 19.0 %") >= 0
    assert "points in both: 2; only now: 1; only at the start: 1" in out.stdout


def test_a_fifo_a_device_and_a_missing_file_are_refused_in_one_line(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for bad in (str(fifo), "/dev/zero", str(tmp_path / "missing.txt")):
        out = run(bad, str(REPORT))
        assert out.returncode == 2, bad
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr


def test_reports_with_no_point_in_common_are_refused(tmp_path):
    other = tmp_path / "other.txt"
    other.write_text(HEAD + "zz decode 1 1 1 +1.0%\n")
    out = run(str(other), str(REPORT))
    assert out.returncode == 2 and "share no point" in out.stderr
