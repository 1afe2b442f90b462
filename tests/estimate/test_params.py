"""Every efficiencies.csv key the estimator names exists, with a source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dlrig.estimate import params as p

SRC = Path(__file__).resolve().parents[2] / "src" / "dlrig"
CALLS = re.compile(r'p\.(?:value|cite|get)\(\s*"([a-z0-9_]+)"')
KEY_LITERALS = re.compile(r'"((?:mfu|efficiency|allreduce|pcie|bits|bytes|cuda|peer)_[a-z0-9_]+)"')


def named_keys() -> set[str]:
    keys: set[str] = set()
    for path in [*SRC.glob("estimate/*.py"), SRC / "rules" / "workload.py"]:
        text = path.read_text()
        keys |= set(CALLS.findall(text)) | set(KEY_LITERALS.findall(text))
    return keys


def test_the_scan_finds_the_keys():
    assert {
        "allreduce_busbw_fraction_pcie",
        "cpu_adam_params_per_core_s",
        "cuda_context_gb",
    } <= named_keys()


@pytest.mark.parametrize("key", sorted(named_keys()))
def test_named_key_has_a_sourced_row(key):
    row = p.get(key)
    assert row.source.startswith(("http", "dlrig")) or "http" in row.source
    assert row.value > 0


def test_efficiencies_are_fractions_where_they_should_be():
    for key, row in p.table().items():
        if key.startswith(("mfu_", "efficiency_", "allreduce_", "pcie_no_p2p")):
            assert 0 < row.value <= 1, key
