"""Bad values for the issue-17 build-file keys: exit 2 and one line naming file, key, the
expectation and close matches (files under tests/data/bad-build-keys/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dlrig.cli import run

BAD = Path(__file__).resolve().parents[1] / "data" / "bad-build-keys"

CASES = {
    "bridge-one-slot.toml": r"nvlink_bridges\[0\]\.slots: expected at least 2 items, got 1$",
    "bridge-typo.toml": r"nvlink_bridges\[0\]\.widht: unknown key; did you mean 'width'\?$",
    "bridge-width.toml": r"nvlink_bridges\[0\]\.width: expected 2, 3 or 4, got 5$",
    "display-enum.toml": r"display\.attached_to: expected 'compute-gpu', 'integrated', "
    r"'display-card' or 'none', got 'igpu'",
    "iommu-enum.toml": r"bios\.iommu: expected .*got 'of'; did you mean 'off'\?$",
    "m2-unknown.toml": r"storage\[0\]\.m2_slot: unknown M\.2 socket 'M\.2_3'; expected a name "
    r"from motherboard\.m2; did you mean 'M\.2_2', 'M\.2_1'\?$",
    "positions-count.toml": r"gpus\[0\]\.slots: expected one slot position per card \(2\), got 1$",
    "riser-gen.toml": r"gpus\[0\]\.riser\.gen: expected at most 6, got 7$",
    "second-psu-missing.toml": r"gpus\[0\]\.psu: expected \"main\" \(the file has no "
    r"\[second_psu\] section\), got \"second\"$",
    "slot-lanes-too-long.toml": r"motherboard\.gpu_slot_lanes: expected at most 20 slots .*got 21$",
    "slot-not-on-map.toml": r"gpus\[0\]\.slots: slot 2 is not in motherboard\.slots",
    "slot-twice.toml": r"gpus\[1\]\.slots: slot 3 is already used by gpus\[0\]\.slots$",
    "software-not-list.toml": r"workload\.software: expected an array, got 'pytorch'$",
}


def test_every_file_has_a_case():
    assert {p.name for p in BAD.iterdir()} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_key(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD / name
    assert run(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith(f"dlrig: error: {path}: "), err
    assert re.search(CASES[name], err), err
