"""dlrig serve's page in a real headless browser (Debian's chromium, driven by playwright),
against a real `dlrig serve` process: load an example, change a GPU and see the findings
change, export TOML that `dlrig check` accepts, see a bad value's error next to its field,
open the shared link, ask the recommender. No request leaves the server, nothing overflows
the window. A screenshot goes to build/screenshots/serve.png (and, with
DLRIG_UPDATE_SCREENSHOT=1, to docs/screenshots/serve.png, the README's picture)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator

import pytest

pytest.importorskip("uvicorn", reason="dlrig serve needs uvicorn (pip install -e .)")
import browser_helpers
from serve.server import ROOT, check_file, running

sync_api = browser_helpers.sync_api()

EXAMPLE = ROOT / "examples" / "llama3-8b-lora-4090.toml"
VIEWPORT = {"width": 1400, "height": 1000}
WAIT_MS = 60_000  # the first check draws its charts with matplotlib (a cold import)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running(str(EXAMPLE)) as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with browser_helpers.chromium() as b:
        yield b


@pytest.fixture
def tab(browser, server):
    """A page of the server's, recording console errors and every request."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.errors, page.requests = [], []  # type: ignore[attr-defined]
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))

    def only_the_server(route, request) -> None:
        page.requests.append(request.url)
        route.continue_() if request.url.startswith(server) else route.abort()

    context.route("**/*", only_the_server)
    yield page
    context.close()


def ready(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)


def finding(page, rule: str):
    return page.locator(f'li[data-rule="{rule}"]')


def change(page, key: str, value: str) -> None:
    control = page.locator(f'[data-key="{key}"]')
    control.fill(value)
    control.dispatch_event("change")


def test_load_change_gpu_export_and_share(tab, server, tmp_path):
    ready(tab, server)
    assert "RTX 4090" in finding(tab, "gpu-choice").text_content()
    assert tab.locator("#charts svg.chart").count() == 4  # power, lanes, data chain, memory
    assert "Memory per GPU" in tab.locator("#estimate-out").text_content()

    # Change the GPU: the findings follow.
    change(tab, "gpus[0].model", "RTX 3090")
    sync_api.expect(finding(tab, "gpu-choice")).to_contain_text("RTX 3090", timeout=WAIT_MS)
    sync_api.expect(finding(tab, "gpu-memory")).to_contain_text("RTX 3090", timeout=WAIT_MS)
    sync_api.expect(tab.locator('[data-price-for="gpus[0].model"]')).to_contain_text(
        "GeForce RTX 3090", timeout=WAIT_MS
    )

    # Export TOML: `dlrig check` takes it, with the new GPU.
    tab.click("#export-toml")
    sync_api.expect(tab.locator("#export-dialog")).to_be_visible()
    path = tmp_path / "exported.toml"
    path.write_text(tab.locator("#export-text").input_value())
    assert check_file(path)["build"]["gpus"][0]["spec"]["name"] == "GeForce RTX 3090"
    tab.keyboard.press("Escape")

    # The shared link carries the build: a new tab opens it as it is now.
    link = tab.url
    assert "#build=" in link
    other = tab.context.new_page()
    ready(other, link)
    assert other.locator('[data-key="gpus[0].model"]').input_value() == "RTX 3090"
    sync_api.expect(finding(other, "gpu-choice")).to_contain_text("RTX 3090", timeout=WAIT_MS)

    # Nothing overflows the window; no request left the server; no console error.
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORT["width"], width
    assert all(r.startswith(server) for r in tab.requests)
    assert tab.errors == []
    shot = ROOT / "build" / "screenshots" / "serve.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(shot), full_page=False)
    if os.environ.get("DLRIG_UPDATE_SCREENSHOT"):
        shutil.copyfile(shot, ROOT / "docs" / "screenshots" / "serve.png")


def test_checkpointing_choice_reaches_the_estimate_and_the_export(tab, server, tmp_path):
    """The workload's checkpointing is the build file's words: none, full, selective."""
    ready(tab, server)
    control = tab.locator('[data-key="workload.checkpointing"]')
    assert control.input_value() == ""  # the example leaves it out
    out = tab.locator("#estimate-out")
    sync_api.expect(out).to_contain_text("Memory per GPU", timeout=WAIT_MS)
    unset = out.text_content()
    control.select_option("full")
    sync_api.expect(out).not_to_have_text(unset, timeout=WAIT_MS)
    full = out.text_content()
    control.select_option("selective")  # keeps more than full: more memory, another estimate
    sync_api.expect(out).not_to_have_text(full, timeout=WAIT_MS)

    tab.click("#export-toml")
    sync_api.expect(tab.locator("#export-dialog")).to_be_visible()
    sync_api.expect(tab.locator("#export-text")).to_have_value(
        re.compile(r'checkpointing = "selective"'), timeout=WAIT_MS
    )
    path = tmp_path / "selective.toml"
    path.write_text(tab.locator("#export-text").input_value())
    assert check_file(path)["build"]["workload"]["checkpointing"] == "selective"
    assert tab.errors == []


def test_framework_choice_reaches_the_estimate_and_the_export(tab, server, tmp_path):
    """The LoRA trainer is a drop-down of the build file's values; torchtune's 16-bit adapters
    change the example's LoRA estimate, and the export says framework = "torchtune"."""
    ready(tab, server)
    control = tab.locator('[data-key="workload.framework"]')
    assert control.input_value() == ""  # the example leaves it out: transformers
    out = tab.locator("#estimate-out")
    sync_api.expect(out).to_contain_text("Memory per GPU", timeout=WAIT_MS)
    unset = out.text_content()
    control.select_option("torchtune")
    sync_api.expect(out).not_to_have_text(unset, timeout=WAIT_MS)
    tab.click("#export-toml")
    sync_api.expect(tab.locator("#export-text")).to_have_value(
        re.compile(r'framework = "torchtune"'), timeout=WAIT_MS
    )
    path = tmp_path / "framework.toml"
    path.write_text(tab.locator("#export-text").input_value())
    assert check_file(path)["build"]["workload"]["framework"] == "torchtune"
    assert tab.errors == []


def test_grad_buffers_choice_reaches_the_estimate_and_the_export(tab, server, tmp_path):
    """Full training's gradient buffers are a drop-down of the build file's values: kept from
    the first step (persistent) they hold one more copy of the weights' size at the loss, so
    the estimate changes; the export says grad_buffers = "persistent"."""
    ready(tab, server)
    tab.locator('[data-key="workload.task"]').select_option("train")
    out = tab.locator("#estimate-out")
    sync_api.expect(out).to_contain_text(re.compile(r"llama.* train on"), timeout=WAIT_MS)
    sync_api.expect(out).to_contain_text("Memory per GPU", timeout=WAIT_MS)
    on_demand = out.text_content()
    tab.locator('[data-key="workload.grad_buffers"]').select_option("persistent")
    sync_api.expect(out).not_to_have_text(on_demand, timeout=WAIT_MS)
    tab.click("#export-toml")
    sync_api.expect(tab.locator("#export-text")).to_have_value(
        re.compile(r'grad_buffers = "persistent"'), timeout=WAIT_MS
    )
    path = tmp_path / "grad-buffers.toml"
    path.write_text(tab.locator("#export-text").input_value())
    assert check_file(path)["build"]["workload"]["grad_buffers"] == "persistent"
    assert tab.errors == []


def test_bad_value_shows_its_error_next_to_the_field(tab, server):
    ready(tab, server)
    change(tab, "gpus[0].count", "two")
    error = tab.locator('[data-error-for="gpus[0].count"]')
    sync_api.expect(error).to_have_text(
        "build: gpus[0].count: expected an integer, got 'two'", timeout=WAIT_MS
    )
    assert tab.locator('[data-key="gpus[0].count"]').get_attribute("aria-invalid") == "true"
    # Fixing it clears the error and brings the findings back.
    change(tab, "gpus[0].count", "2")
    sync_api.expect(error).to_have_text("", timeout=WAIT_MS)
    sync_api.expect(finding(tab, "gpu-choice")).to_be_visible(timeout=WAIT_MS)
    assert tab.errors == [] or all("400" in e for e in tab.errors)  # the refused check


def test_budget_panel_recommends_and_loads_a_build(tab, server):
    ready(tab, server)
    tab.fill("#budget-amount", "4000")
    tab.click("#budget-run")
    rows = tab.locator("#budget-table tbody tr")
    sync_api.expect(rows.first).to_be_visible(timeout=WAIT_MS)
    assert tab.locator("#budget-charts svg.chart").count() >= 1
    name = rows.first.locator("td").nth(1).text_content()
    rows.first.locator("button").click()
    sync_api.expect(tab.locator("#build-name")).to_have_value(
        name.removesuffix(" Load").strip(), timeout=WAIT_MS
    )


def test_market_picker_fills_a_table_and_the_total_counts_it(tab, server):
    ready(tab, server)
    psu = tab.locator('select[data-picker="psu"]')
    label = next(
        t for t in psu.locator("option").all_text_contents() if t.startswith("Corsair RM850x")
    )
    psu.select_option(label=label)
    sync_api.expect(tab.locator('[data-key="psu.watts"]')).to_have_value("850", timeout=WAIT_MS)
    sync_api.expect(tab.locator("#total")).to_contain_text("psu", timeout=WAIT_MS)
    # The new PSU is what the findings check: its watts appear in the PSU capacity finding.
    sync_api.expect(finding(tab, "psu-capacity")).to_contain_text("850 W", timeout=WAIT_MS)
