"""Every HTML page the tests render: each example build, a few estimates, each recorded NVML
scenario and a hand-made recommendation (the search is tested apart; this is the page)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dlrig.catalog.resolve import resolve
from dlrig.estimate import estimate
from dlrig.estimate.request import make_job, resolve_model
from dlrig.model.finding import Finding, Severity
from dlrig.model.load import read_build_file
from dlrig.model.recommend import GpuValue, PriceLine, Proposal, Recommendation, Rejection
from dlrig.probe.findings import probe_findings
from dlrig.report.html import render_check, render_estimate, render_probe, render_recommend
from dlrig.rules import check
from probe_helpers import SCENARIOS, result_for

ROOT = Path(__file__).resolve().parents[2]
# cluster-*.toml are cluster files (tests/cluster renders them)
EXAMPLES = sorted(
    p for p in (ROOT / "examples").glob("*.toml") if not p.name.startswith("cluster-")
)


@dataclass(frozen=True)
class Page:
    name: str
    html: str
    findings: list[Finding]
    charts: list[str]  # ids of the <svg> charts the page must have


ESTIMATES = {
    "estimate-llama3-8b-lora-4090": dict(model="llama-3-8b", task="lora", gpu="RTX 4090"),
    "estimate-resnet50-8x-a100": dict(
        model="resnet50", task="train", gpu="A100 80GB SXM", n_gpus=8, batch_size=256
    ),
    "estimate-llama3-8b-infer-4090": dict(
        model="llama-3-8b", task="infer", gpu="RTX 4090", quant="int4"
    ),
}


def check_page(path: Path) -> Page:
    report = check(resolve(read_build_file(path), str(path)))
    ids = {f.id for f in report.findings}
    charts = ["chart-power"]
    w = report.build.workload
    if w is not None and w.step_time_s is not None and ids & {"disk-throughput", "pcie-transfer"}:
        charts.append("chart-data-rate")
    if "gpu-memory" in ids:
        charts.append("chart-memory")
    if "pcie-lanes" in ids:
        charts.append("chart-lanes")
    return Page(f"check-{path.stem}", render_check(report), report.findings, charts)


def estimate_page(name: str) -> Page:
    args = dict(ESTIMATES[name])
    spec = resolve_model(args.pop("model"), None, None)
    gpu, task = args.pop("gpu"), args.pop("task")
    est = estimate(spec, make_job(gpu, task=task, **args))
    charts = ["chart-memory", "chart-step"]
    if task != "infer":
        charts.append("chart-data-rate")
    return Page(name, render_estimate(est), [], charts)


def probe_page(scenario: str) -> Page:
    result = result_for(scenario)
    result = result.model_copy(update={"findings": probe_findings(result)})
    return Page(
        f"probe-{scenario}", render_probe(result, host="testbox"), result.findings, ["chart-probe"]
    )


def _finding(rule: str, severity: Severity, title: str, source: str) -> Finding:
    return Finding(
        id=rule,
        severity=severity,
        section="test",
        title=title,
        message=f"{title}.",
        why="Because.",
        fix="Do this." if severity != "ok" else "",
        source=source,
    )


def _proposal(
    name: str, gpu: str, n: int, price: float, rate: float, front: bool, rank: int | None
) -> Proposal:
    lines = [
        PriceLine(
            part="gpu",
            name=gpu,
            count=n,
            unit_price=round(price * 0.6 / n),
            price=round(price * 0.6),
            price_date="2026-10",
            source="catalog market_prices.csv https://example.org/prices",
        ),
        PriceLine(
            part="platform",
            name="AM5 X870E",
            count=1,
            unit_price=round(price * 0.4),
            price=round(price * 0.4),
            price_date="2026-10",
            source="catalog platforms.csv",
        ),
    ]
    return Proposal(
        name=name,
        gpu=gpu,
        n_gpus=n,
        cpu="Ryzen 9 9950X",
        platform="AM5 X870E",
        price=price,
        currency="USD",
        throughput=rate,
        throughput_unit="tokens/s",
        score=rate / price * 1000,
        score_unit="tokens/s per 1000 USD",
        on_pareto_front=front,
        value_rank=rank,
        time_hours=None,
        wall_power_w=450 + 350 * n,
        energy_kwh=100.0 * n,
        energy_cost=None,
        cloud_break_even_hours=2000.0,
        price_lines=lines,
        findings=[
            _finding("psu-capacity", Severity.OK, "PSU capacity", "guide https://timdettmers.com/"),
            _finding("cpu-cores", Severity.WARNING, "CPU cores <few>", "stas00 ML Engineering"),
        ],
        reasons=[f"{rate:,.0f} tokens/s for {price:,.0f} USD"],
        build={"name": name},
    )


def recommendation() -> Recommendation:
    proposals = [
        _proposal("2x RTX 3090 (used)", "RTX 3090", 2, 3200, 5200, True, 1),
        _proposal("1x RTX 4090", "RTX 4090", 1, 3100, 3600, True, 2),
        _proposal("2x RTX 4090", "RTX 4090", 2, 4900, 6900, True, 3),
        _proposal("1x RTX 5090", "RTX 5090", 1, 4200, 4300, False, 4),
    ]
    values = [
        GpuValue(
            gpu="RTX 3090",
            memory_gb=24,
            price=800,
            price_date="2026-10",
            condition="used",
            throughput_per_gpu=2700,
            score=3375,
            min_gpus=1,
            fits=True,
        ),
        GpuValue(
            gpu="RTX 4090",
            memory_gb=24,
            price=1800,
            price_date="2026-10",
            condition="new",
            throughput_per_gpu=3600,
            score=2000,
            min_gpus=1,
            fits=True,
        ),
        GpuValue(
            gpu="RTX 5090",
            memory_gb=32,
            price=2600,
            price_date="2026-10",
            condition="new",
            throughput_per_gpu=4300,
            score=1654,
            min_gpus=1,
            fits=True,
        ),
        GpuValue(
            gpu="RTX 3060 12GB",
            memory_gb=12,
            price=250,
            price_date="2026-10",
            condition="used",
            throughput_per_gpu=900,
            score=3600,
            min_gpus=2,
            fits=False,
            reason="needs 2 cards for the memory",
        ),
        GpuValue(
            gpu="H100 SXM",
            memory_gb=80,
            price=None,
            price_date=None,
            condition=None,
            throughput_per_gpu=None,
            score=None,
            min_gpus=None,
            fits=True,
            reason="no price within the budget",
        ),
    ]
    return Recommendation(
        workload="llama-3-8b:lora",
        model="llama-3-8b",
        task="lora",
        quant="none",
        seq_len=2048,
        budget=5000,
        currency="USD",
        throughput_unit="tokens/s",
        score_unit="tokens/s per 1000 USD",
        energy_hours=720,
        electricity_price=0.2,
        cloud_price_per_gpu_hour=0.7,
        candidates_evaluated=1234,
        candidates_within_budget=321,
        proposals=proposals,
        pareto_front=[p for p in proposals if p.on_pareto_front],
        gpu_value=values,
        rejected=[Rejection(what="H100 SXM", reason="over budget")],
        assumptions=["prices as of 2026-10 https://example.org/prices"],
        sources=["Dettmers 2023 https://timdettmers.com/2023/01/30/which-gpu-for-deep-learning/"],
    )


def recommend_page() -> Page:
    rec = recommendation()
    findings = [f for p in rec.proposals for f in p.findings]
    return Page(
        "recommend-llama3-8b-lora", render_recommend(rec), findings, ["chart-value", "chart-pareto"]
    )


def searched_recommend_page(budget: float, workload: str) -> Page:
    """A page from the real search over the catalog's market (issue 16 looked at the 20,000 USD
    ResNet-50 page: long build names, many proposals)."""
    from dlrig.recommend import Request
    from dlrig.recommend import recommend as run_recommend
    from dlrig.recommend.market import catalog_market
    from dlrig.recommend.request import parse_workload

    model, task = parse_workload(workload)
    request = Request(workload=workload, model=model, task=task, budget=budget, currency="USD")
    rec = run_recommend(request, catalog_market("USD"))
    findings = [f for p in rec.proposals for f in p.findings]
    name = f"recommend-{workload.replace(':', '-')}-{budget:.0f}"
    return Page(name, render_recommend(rec), findings, ["chart-value", "chart-pareto"])


def cluster_check_page() -> Page:
    """The cluster example's check page, as `dlrig check cluster.toml -f html` writes it."""
    import tempfile

    from dlrig.cli import run

    example = ROOT / "examples" / "cluster-8x-h100.toml"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cluster.html"
        assert run(["check", str(example), "-f", "html", "-o", str(out)]) in (0, 1)
        html = out.read_text(encoding="utf-8")
    return Page("check-cluster-8x-h100", html, [], [])


@cache
def all_pages() -> tuple[Page, ...]:
    """Rendered once per test session: matplotlib takes ~0.1 s a chart."""
    return (
        *(check_page(p) for p in EXAMPLES),
        *(estimate_page(n) for n in ESTIMATES),
        *(probe_page(s) for s in SCENARIOS),
        recommend_page(),
        searched_recommend_page(20_000, "resnet50:train"),
        searched_recommend_page(5_000, "llama-3-8b:lora"),
        cluster_check_page(),
    )
