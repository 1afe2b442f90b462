"""Every HTML report in a real headless browser (Debian's chromium, driven by playwright):
it loads from a file:// URL with no console errors and no request but the file itself, and a
screenshot of each page is saved under build/screenshots/ for a person to look at."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from report.html_pages import ROOT, Page, all_pages

# Debian's package; `playwright install` (a browser download) is never needed.
CHROMIUM = os.environ.get("DLRIG_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "screenshots"
# A laptop-sized window: the page's text column and its charts at their designed width.
VIEWPORT = {"width": 1100, "height": 900}
LOAD_TIMEOUT_MS = 15_000

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright not installed (pip install -e '.[test]')"
)
if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
    pytest.skip(
        f"chromium not found at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
        allow_module_level=True,
    )

PAGES = all_pages()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One browser for every page: starting chromium is most of the test's time."""
    with sync_api.sync_playwright() as p:
        # --no-sandbox: CI runs as root in a container, where chromium's sandbox cannot start.
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_loads_offline_without_errors(browser, page: Page, tmp_path: Path):
    path = tmp_path / f"{page.name}.html"
    path.write_text(page.html, encoding="utf-8")
    url = path.as_uri()
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))

    def only_the_file(route, request) -> None:
        requests.append(request.url)
        route.continue_() if request.url == url else route.abort()

    context.route("**/*", only_the_file)
    try:
        tab.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
        charts = tab.locator("svg.chart")
        assert charts.count() >= len(page.charts)
        box = charts.first.bounding_box() if charts.count() else None
        assert box is None or box["width"] > VIEWPORT["width"] / 2  # drawn at full width
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"{page.name}.png"
        tab.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 0
    finally:
        context.close()
    assert requests == [url], requests
    assert errors == []
