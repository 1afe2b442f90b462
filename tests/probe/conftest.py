"""Fixtures for the probe tests; shared helpers live in tests/probe_helpers.py."""

from __future__ import annotations

import pytest

from dlrig.probe import run
from probe_helpers import NVML, TINY


@pytest.fixture
def tiny_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """`dlrig probe --quick` with tiny sizes (the CLI picks run.QUICK)."""
    monkeypatch.setattr(run, "QUICK", TINY)


@pytest.fixture
def scenario_env(monkeypatch: pytest.MonkeyPatch):
    """Point $DLRIG_FAKE_NVML at a named scenario."""

    def use(name: str) -> None:
        monkeypatch.setenv(run.FAKE_NVML_ENV, str(NVML / f"{name}.json"))

    return use
