"""Debian's chromium driven by playwright, shared by the browser tests (HTML reports and
dlrig serve's page): no browser download, a skip with the reason where either is missing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# Debian's package; `playwright install` (a browser download) is never needed.
CHROMIUM = os.environ.get("DLRIG_CHROMIUM", "/usr/bin/chromium")


def sync_api() -> Any:
    """playwright.sync_api, or skip the calling test module."""
    api = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed (pip install -e '.[test]')"
    )
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(
            f"chromium not found at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
            allow_module_level=True,
        )
    return api


@contextmanager
def chromium() -> Iterator[Any]:
    """One headless browser (starting chromium is most of a browser test's time)."""
    with sync_api().sync_playwright() as p:
        # --no-sandbox: CI runs as root in a container, where chromium's sandbox cannot start.
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
