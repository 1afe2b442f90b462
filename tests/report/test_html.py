"""HTML reports: every page parsed with the stdlib parser; every finding and chart present, and
nothing a browser would fetch (no scripts, stylesheets, fonts, images or url() from anywhere)."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from report.html_pages import EXAMPLES, Page, all_pages

# Attributes that make a browser fetch something when the page loads.
LOADING_ATTRS = {"src", "srcset", "href", "xlink:href", "poster", "data", "background", "action"}

# CSS url() of anything but an in-document fragment (matplotlib's hatch patterns are url(#id)).
EXTERNAL_URL = re.compile(r"url\(\s*['\"]?(?!#)")


class Parsed(HTMLParser):
    """The tags, attributes and text of a page, as a browser's tokenizer sees them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._in_style = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)

    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


PAGES = all_pages()


@pytest.fixture(params=PAGES, ids=[p.name for p in PAGES])
def page(request: pytest.FixtureRequest) -> Page:
    return request.param


def test_every_example_and_every_kind_of_page_is_rendered():
    names = {p.name for p in PAGES}
    assert {f"check-{p.stem}" for p in EXAMPLES} <= names
    assert {n.split("-")[0] for n in names} == {"check", "estimate", "probe", "recommend"}


def test_page_is_one_well_formed_document(page: Page):
    assert page.html.startswith("<!DOCTYPE html>")
    parsed = Parsed(page.html)
    assert [t for t, _ in parsed.tags].count("html") == 1
    assert [t for t, _ in parsed.tags].count("head") == 1
    assert "style" in [t for t, _ in parsed.tags]  # inlined: no stylesheet file next to it


def test_every_finding_is_on_the_page(page: Page):
    text = Parsed(page.html).all_text()
    for f in page.findings:
        assert f.id in text, f.id
        assert " ".join(f.title.split()) in text, f.title


def test_every_expected_chart_is_inline_svg_with_a_title(page: Page):
    parsed = Parsed(page.html)
    svgs = {a.get("id"): a for t, a in parsed.tags if t == "svg"}
    assert set(page.charts) <= set(svgs), (page.charts, list(svgs))
    for chart_id in page.charts:
        assert svgs[chart_id]["role"] == "img"
        assert svgs[chart_id]["aria-label"]
    assert page.html.count("<title>") == 1 + len(svgs)  # the page's and one per chart


def test_nothing_is_loaded_from_anywhere(page: Page):
    parsed = Parsed(page.html)
    tags = [t for t, _ in parsed.tags]
    for banned in ("script", "link", "iframe", "img", "object", "embed", "image", "base"):
        assert banned not in tags, banned
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            if name not in LOADING_ATTRS:
                continue
            # A link is followed when clicked, never fetched on load; in-page anchors are fine.
            assert (tag == "a" and name == "href") or value.startswith("#"), (tag, name, value)
        assert not EXTERNAL_URL.search(attrs.get("style", "")), attrs["style"]
    css = " ".join(parsed.styles)
    assert not EXTERNAL_URL.search(css) and "@import" not in css and "@font-face" not in css


def test_sources_become_links_and_text_stays_text(page: Page):
    links = [a["href"] for t, a in Parsed(page.html).tags if t == "a" and "href" in a]
    for f in page.findings:
        for url in re.findall(r"https?://[^\s)\]>\"']+", f.source):
            assert url.rstrip(".,;:") in links
    assert all(h.startswith(("https://", "http://", "#")) for h in links)


def test_text_from_the_input_is_escaped():
    page = next(p for p in PAGES if p.name.startswith("recommend"))
    assert "CPU cores &lt;few&gt;" in page.html  # a title with <...> from the data
    assert "<few>" not in page.html


def test_check_page_has_counts_and_skipped_rules():
    page = next(p for p in PAGES if p.name == "check-guide-2015-4gpu")
    text = Parsed(page.html).all_text()
    assert "1 error, 3 warnings, 8 info, 10 ok, 11 skipped" in text
    assert "Skipped rules (11)" in text and "gpu-memory" in text
    assert "bottleneck" in text  # the data-rate chain marks the CPU


def test_power_chart_shows_psu_80_percent_and_circuit():
    page = next(p for p in PAGES if p.name == "check-guide-2015-4gpu")
    assert "PSU rating: 1,600 W" in page.html
    assert "80 % of the PSU: 1,280 W" in page.html
    assert "wall circuit, continuous: 2,944 W" in page.html  # the wall-circuit finding's circuit_w
    assert "1,240 W" in page.html  # the psu-capacity finding's load_w, stacked


def test_lanes_chart_shows_each_link_against_x16():
    """The guide's X99 board: one Titan X at x16 and three at x8, all PCIe 3.0."""
    page = next(p for p in PAGES if p.name == "check-guide-2015-4gpu")
    assert "PCIe links: narrowest x8 PCIe 3.0, 7.88 GB/s" in page.html
    assert "15.8 GB/s: x16 PCIe 3.0" in page.html  # the first card's full link
    assert "7.88 GB/s: x8 PCIe 3.0 (x16: 15.8)" in page.html  # the three others, one bar
    assert "3 x GeForce GTX Titan X" in page.html


def test_no_lanes_chart_without_the_lanes_rule():
    from dlrig.report.html.check_charts import lanes
    from helpers import run_check

    assert lanes(run_check({"memory": {"size_gb": 64}})) is None  # no GPUs: rule skipped


def test_rendering_is_deterministic():
    from report.html_pages import probe_page

    assert probe_page("x4-link").html == probe_page("x4-link").html


def test_terminal_check_does_not_import_matplotlib_or_jinja():
    code = (
        "import sys\nfrom dlrig.cli import run\n"
        "run(['check', 'examples/guide-2015-4gpu.toml', '--format', 'json'])\n"
        "print([m for m in ('matplotlib', 'jinja2') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]"), out.stdout[-200:]


# --- what a newcomer saw in a browser (issue 16) ----------------------------------------------


@pytest.mark.parametrize("page", all_pages(), ids=[p.name for p in all_pages()])
def test_every_needed_figure_in_a_chart_has_a_unit(page: Page):
    """ "0.0183 needed" under a chart said nothing: a unit comes before every "needed"."""
    charts = re.findall(r"<svg\b.*?</svg>", page.html, flags=re.DOTALL)
    assert [m for c in charts for m in re.findall(r"[\d.,]+ needed", c)] == []


def test_check_page_findings_summary_counts_the_skipped_rules():
    page = next(p for p in all_pages() if p.name == "check-guide-2015-4gpu")
    findings = page.html[page.html.index('<section class="findings">') :]
    summary = re.search(r'<p class="summary">([^<]*)</p>', findings).group(1)
    assert re.search(r"\d+ skipped", summary), summary


def test_memory_legend_leaves_out_parts_of_zero_gb():
    """Inference holds no gradients or optimizer states: no 0 GB entries in the legend."""
    page = next(p for p in all_pages() if p.name == "estimate-llama3-8b-infer-4090")
    chart = page.html[page.html.index('id="chart-memory"') :]
    chart = chart[: chart.index("</svg>")]
    assert ">weights<" in chart
    assert ">gradients<" not in chart and ">optimizer states<" not in chart


def test_a_job_that_does_not_fit_shows_no_throughput():
    from dlrig.estimate import estimate
    from dlrig.estimate.request import make_job, resolve_model
    from dlrig.report.html import render_estimate

    spec = resolve_model("llama-3-70b", None, None)
    est = estimate(spec, make_job("RTX 4090", task="train"))
    assert not est.memory.fits
    html = render_estimate(est)
    tables = html[html.index("<h2>Numbers</h2>") : html.index('<section class="assumptions">')]
    assert "tokens/s" not in tables
    assert "none: the job does not fit" in tables


def _stacked_rows(fig) -> list[tuple[float, str]]:
    """(sum of the bars stacked in a row, the label at the row's end) for each labelled row."""
    import matplotlib.patches

    ax = fig.axes[0]
    rows = []
    for text in ax.texts:
        x, y = text.xy if hasattr(text, "xy") else text.get_position()
        bars = [
            p
            for p in ax.patches
            if isinstance(p, matplotlib.patches.Rectangle)
            and abs(p.get_y() + p.get_height() / 2 - y) < 1e-9
            and p.get_width() > 0
        ]
        if bars and any(abs(p.get_x()) < 1e-9 for p in bars):  # a row drawn from zero
            rows.append((sum(p.get_width() for p in bars if p.get_x() < x + 1e-9), text.get_text()))
    return rows


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_stacked_bar_adds_up_to_its_label(example, monkeypatch):
    """Issue 16: a chart drew one bar under a label it did not add up to. For the power and
    memory charts, the bars stacked in each row sum to the number printed at its end."""
    from dlrig.catalog.resolve import resolve
    from dlrig.model.load import read_build_file
    from dlrig.report.html import charts, check_charts
    from dlrig.rules import check

    seen: list[tuple[float, str]] = []

    def capture(fig, chart_id, title):
        import matplotlib.pyplot as plt

        seen.extend(_stacked_rows(fig))
        plt.close(fig)  # as to_svg does
        return ""

    monkeypatch.setattr(charts, "to_svg", capture)
    check_charts.all_charts(check(resolve(read_build_file(example), str(example))))
    assert seen  # the power chart at least
    for total, label in seen:
        number = float(re.match(r"[\d,.]+", label).group().replace(",", ""))
        assert number == pytest.approx(total, rel=0.01, abs=0.06), (label, total)


def test_cards_that_are_no_candidate_are_not_ranked_among_candidates(monkeypatch):
    """Issue 16: a greyed "not a candidate" GPU (the workload does not fit on it) sat ranked
    among the proposed ones, by its score; now every candidate comes first."""
    from dlrig.report.html import charts_compare as cc

    order: list[str] = []

    def capture(fig, chart_id, title):
        ticks = fig.axes[0].get_yticklabels()
        order.extend(t.get_text() for t in sorted(ticks, key=lambda t: -t.get_position()[1]))
        return ""

    monkeypatch.setattr(cc, "to_svg", capture)
    cc.value_bars(
        [
            cc.ValueBar("RTX 4090", 2000, True, ""),
            cc.ValueBar("RTX 3060 12GB", 3600, False, ""),  # the best score, but does not fit
            cc.ValueBar("RTX 3090", 3375, True, ""),
        ],
        "tokens/s per 1000 USD",
    )
    assert order == ["RTX 3090", "RTX 4090", "RTX 3060 12GB"]
