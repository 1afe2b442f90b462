"""Every HTML report in a real headless browser (Debian's chromium, driven by playwright):
it loads from a file:// URL with no console errors and no request but the file itself, and a
screenshot of each page is saved under build/screenshots/ for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import browser_helpers
from report.html_pages import ROOT, Page, all_pages

SCREENSHOTS = ROOT / "build" / "screenshots"
# A laptop-sized window: the page's text column and its charts at their designed width.
VIEWPORT = {"width": 1100, "height": 900}
LOAD_TIMEOUT_MS = 15_000

sync_api = browser_helpers.sync_api()

PAGES = all_pages()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One browser for every page: starting chromium is most of the test's time."""
    with browser_helpers.chromium() as b:
        yield b


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


# Two labels may touch (antialiasing, a glyph's side bearing); a visible overlap is more.
OVERLAP_PX = 1.5
# Every <text> of every chart, with its box in page pixels (empty strings have no box).
TEXT_BOXES_JS = """
() => Array.from(document.querySelectorAll('svg.chart')).map(svg => ({
  id: svg.id,
  frame: (r => ({x: r.x, y: r.y, w: r.width, h: r.height}))(svg.getBoundingClientRect()),
  texts: Array.from(svg.querySelectorAll('text'))
    .filter(t => t.textContent.trim() !== '')
    .map(t => { const r = t.getBoundingClientRect();
                return {text: t.textContent.trim(), x: r.x, y: r.y, w: r.width, h: r.height}; })
}))
"""


def overlapping_labels(charts: list[dict]) -> list[str]:
    """'chart: "a" overlaps "b"' for each pair of text boxes in one chart that intersect by
    more than OVERLAP_PX both ways."""
    bad = []
    for chart in charts:
        boxes = [b for b in chart["texts"] if b["w"] > 0 and b["h"] > 0]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                dx = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
                dy = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
                if dx > OVERLAP_PX and dy > OVERLAP_PX:
                    bad.append(f"{chart['id']}: {a['text']!r} overlaps {b['text']!r}")
    return bad


def labels_cut_off(charts: list[dict]) -> list[str]:
    """Labels reaching past their chart's frame, where the SVG clips them ("fits on 1" cut)."""
    bad = []
    for chart in charts:
        f = chart["frame"]
        for b in chart["texts"]:
            outside = (
                b["x"] < f["x"] - OVERLAP_PX
                or b["y"] < f["y"] - OVERLAP_PX
                or b["x"] + b["w"] > f["x"] + f["w"] + OVERLAP_PX
                or b["y"] + b["h"] > f["y"] + f["h"] + OVERLAP_PX
            )
            if outside and b["w"] > 0:
                bad.append(f"{chart['id']}: {b['text']!r} runs past the chart's edge")
    return bad


def test_overlap_detector_sees_an_overlap():
    """The check below can fail: two boxes sharing 10 x 10 px are reported, touching ones not."""
    a = {"text": "5,000", "x": 0, "y": 0, "w": 30, "h": 12}
    b = {"text": "10,000", "x": 20, "y": 2, "w": 36, "h": 12}
    c = {"text": "15,000", "x": 56, "y": 0, "w": 36, "h": 12}
    assert overlapping_labels([{"id": "c", "texts": [a, b, c]}]) == ["c: '5,000' overlaps '10,000'"]
    frame = {"x": 0, "y": 0, "w": 60, "h": 20}
    assert labels_cut_off([{"id": "c", "frame": frame, "texts": [a, b, c]}]) == [
        "c: '15,000' runs past the chart's edge"
    ]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_no_chart_label_overlaps_and_the_page_fits_the_window(browser, page: Page, tmp_path):
    """Issue 16: tick labels ran together ("5,00010,000"), build labels piled up, and the probe
    page's memory table ran past the window."""
    path = tmp_path / f"{page.name}.html"
    path.write_text(page.html, encoding="utf-8")
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    try:
        tab.goto(path.as_uri(), wait_until="load", timeout=LOAD_TIMEOUT_MS)
        charts = tab.evaluate(TEXT_BOXES_JS)
        width = tab.evaluate("() => document.documentElement.scrollWidth")
        window = tab.evaluate("() => window.innerWidth")
    finally:
        context.close()
    assert overlapping_labels(charts) == []
    assert labels_cut_off(charts) == []
    assert width <= window, f"page is {width} px wide in a {window} px window"
