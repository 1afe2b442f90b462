"""The held-out points (benchmarks/holdout_points.csv) obey the calibration table's contract and
come from sources the calibration table does not use; benchmarks/holdout.py scores a table.

The accuracy on them is printed by `python benchmarks/holdout.py`, never asserted here."""

from __future__ import annotations

import csv
import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

from dlrig.estimate import points

ROOT = Path(__file__).resolve().parents[2]
HOLDOUT = ROOT / "benchmarks" / "holdout_points.csv"
CALIBRATION = ROOT / "src" / "dlrig" / "catalog" / "data" / "calibration_points.csv"
FIXTURE = ROOT / "tests" / "data" / "holdout" / "two_points.csv"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


# The calibration table's own row checks, reused as they are.
schema = _load(
    "calibration_points_checks", ROOT / "tests" / "catalog" / "test_calibration_points.py"
)
holdout = _load("holdout", ROOT / "benchmarks" / "holdout.py")


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


COLUMNS, ROWS = read(HOLDOUT)


def test_the_holdout_table_has_the_calibration_columns_and_unique_ids() -> None:
    assert COLUMNS == schema.COLUMNS
    assert len(ROWS) >= 40
    assert not [i for i, n in Counter(r["id"] for r in ROWS).items() if n > 1]


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_holdout_row_passes_the_calibration_row_checks(row: dict[str, str]) -> None:
    schema.test_row_obeys_the_schema(row)
    schema.test_row_names_a_known_model_and_gpu(row)


def test_no_holdout_source_is_a_calibration_source() -> None:
    _, calibration = read(CALIBRATION)
    ids = {r["source_id"] for r in calibration}
    urls = {r["source"].split()[0] for r in calibration}
    assert not {r["source_id"] for r in ROWS} & ids
    assert not {r["source"].split()[0] for r in ROWS} & urls


def test_holdout_script_scores_a_two_row_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert holdout.main([str(FIXTURE)]) == 0
    out = capsys.readouterr().out
    _, (scored, unexpressible) = read(FIXTURE)
    assert "held-out points: 2 from 2 sources" in out and "expressible 1" in out
    # The second row names a calibration source and no sequence length: both are reported.
    assert "NOT HELD OUT (source also in calibration_points.csv): " in out
    assert "torchtune-readme" in out
    assert f"  {unexpressible['id']}: training sequence length not stated" in out
    # The scored row's prediction is the memory model's figure in the row's semantics and unit.
    predicted = points.predicted_memory_bytes(scored) / points.UNIT_BYTES[scored["unit"]]
    line = next(x for x in out.splitlines() if x.strip().startswith(scored["id"]))
    fields = line.split()
    assert fields[2] == f"{predicted:.4g}"
    assert fields[3] == f"{float(scored['value']):.4g}"
    error = (predicted - float(scored["value"])) / float(scored["value"])
    assert fields[5] == f"{error:+.1%}"
    assert fields[-1] in {"fits", "tight", "does not fit"}


def test_holdout_script_refuses_a_table_with_other_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,value\nx,1\n", encoding="utf-8")
    assert holdout.main([str(bad)]) == 2
    assert "columns differ from calibration_points.csv" in capsys.readouterr().err


def test_holdout_script_refuses_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert holdout.main([str(tmp_path)]) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_holdout_script_refuses_a_row_whose_value_is_not_a_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    columns, (row, _) = read(FIXTURE)
    bad = tmp_path / "bad_value.csv"
    with bad.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerow(row | {"value": "lots"})
    assert holdout.main([str(bad)]) == 2
    assert "line 2" in capsys.readouterr().err
