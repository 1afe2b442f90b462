"""The SM-count table: the shipped rows valid and sourced, hostile rows refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_helpers import assert_refused
from dlrig.catalog import sm_counts as sm

HOSTILE = Path(__file__).parents[1] / "data" / "sm_counts_hostile"


def test_the_shipped_table_gives_the_whitepapers_counts():
    # Ada whitepaper: RTX 4090 128 SMs; GA102 whitepaper: RTX 3090 82; A100 108; H100 SXM5 132
    assert sm.sm_count("GeForce RTX 4090") == 128
    assert sm.sm_count("GeForce RTX 3090") == 82
    assert sm.sm_count("A100 80GB SXM") == 108
    assert sm.sm_count("H100 SXM") == 132


def test_a_card_without_a_sourced_row_has_no_count():
    assert sm.sm_count("DGX Spark") is None


CASES = [
    ("cores-as-sms", "sms", "from 1 to 1024"),
    ("zero", "sms", "whole number"),
    ("space-in-value", "sms", "whole number"),
    ("unknown-gpu", "gpu", "did you mean GeForce RTX 4090"),
    ("http-source", "source", "https://"),
    ("duplicate", "gpu", "one row per card"),
]


@pytest.mark.parametrize(("name", "key", "expected"), CASES)
def test_a_hostile_row_is_refused_naming_its_line_and_key(name, key, expected):
    assert_refused(sm.parse, sm.FILE, HOSTILE / f"{name}.csv", key, expected)
