"""Fixtures shared by the tests (helpers live in tests/helpers.py, on pytest's pythonpath)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from helpers import EXAMPLES


@pytest.fixture
def guide_build() -> dict[str, Any]:
    """The guide's 2015 four-Titan-X build as a dict (tests change one thing at a time)."""
    return tomllib.loads((EXAMPLES / "guide-2015-4gpu.toml").read_text())
