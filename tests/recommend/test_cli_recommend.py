"""`dlrig recommend` end to end through `dlrig.cli.run`: the issue's three example commands,
`--write-dir` files that `dlrig check` accepts, `--explain`, Markdown, and bad usage (exit 2,
one line on stderr)."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from dlrig.cli import run
from dlrig.model.recommend import RECOMMEND_SCHEMA
from dlrig.report.recommend import render_markdown

PRICES = Path(__file__).resolve().parents[1] / "data" / "prices"
EXAMPLE_1 = [
    "recommend",
    "--budget",
    "5000",
    "--currency",
    "USD",
    "--workload",
    "llama-3-8b:lora",
    "--seq-len",
    "2048",
]
EXAMPLE_2 = [
    "recommend",
    "--budget",
    "20000",
    "--workload",
    "resnet50:train",
    "--max-gpus",
    "4",
    "--format",
    "json",
]
EXAMPLE_3 = [
    "recommend",
    "--budget",
    "3000",
    "--workload",
    "llama-3-70b:infer",
    "--quant",
    "int4",
    # Only the card the prices file is about: the 2026 market also has 24 GB Arc Pro B60s,
    # which would otherwise join the proposals at catalog prices.
    "--gpu",
    "RTX 3090",
    "--prices",
    str(PRICES / "good.used-3090.toml"),
]


class Ran:
    def __init__(self, rc: int, out: str, err: str, files: list[Path]) -> None:
        self.rc, self.out, self.err, self.files = rc, out, err, files


def _run_captured(argv: list[str]) -> Ran:
    """Run with stdout and stderr captured (capsys is function-scoped; these run once a module)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = run(argv)
    return Ran(rc, out.getvalue(), err.getvalue(), [])


def check_all(files: list[Path], tmp: Path) -> list[int]:
    return [
        run(["check", str(f), "--format", "json", "-o", str(tmp / f"{f.stem}.check.json")])
        for f in files
    ]


@pytest.fixture(scope="module")
def example_1(tmp_path_factory) -> Ran:
    tmp = tmp_path_factory.mktemp("ex1")
    ran = _run_captured([*EXAMPLE_1, "--explain", "--write-dir", str(tmp / "builds")])
    ran.files = sorted((tmp / "builds").glob("*.toml"))
    return ran


@pytest.fixture(scope="module")
def example_2(tmp_path_factory) -> Ran:
    return _run_captured(EXAMPLE_2)


@pytest.fixture(scope="module")
def example_3(tmp_path_factory) -> Ran:
    tmp = tmp_path_factory.mktemp("ex3")
    ran = _run_captured([*EXAMPLE_3, "--format", "json", "--write-dir", str(tmp / "b")])
    ran.files = sorted((tmp / "b").glob("*.toml"))
    return ran


def test_example_1_terminal(example_1):
    assert example_1.rc == 0, example_1.err
    out = example_1.out
    assert out.startswith("dlrig recommend — llama-3-8b lora (seq 2048), budget 5,000 USD\n")
    assert re.search(r"^[\d,]+ candidate builds evaluated; \d+ valid within budget; \d proposed\.$",
                     out, re.M)  # fmt: skip
    for title in ("Proposals (fastest first", "Pareto front", "Performance per USD"):
        assert title in out
    assert "\x1b[" not in out  # no colour when not a terminal


def test_example_1_write_dir_files_pass_check(example_1, tmp_path):
    n = len(example_1.files)
    assert n >= 2
    assert example_1.err.splitlines() == [
        f"dlrig: wrote {n} build files to {example_1.files[0].parent}"
    ]
    names = [f.name for f in example_1.files]
    assert [name[:3] for name in names] == [f"{i:02d}-" for i in range(1, n + 1)]
    assert all(re.fullmatch(r"\d\d-[a-z0-9-]+\.toml", n) for n in names)
    for f in example_1.files:
        assert f.read_text(encoding="utf-8").startswith("# dlrig recommend: ")
    assert check_all(example_1.files, tmp_path) == [0] * n


def test_example_1_explain_lists_left_out(example_1):
    out = example_1.out
    assert re.search(r"Left out \(\d+\)", out)
    flat = " ".join(out.split())
    assert "catalog GPUs: no current price" in flat
    assert "GeForce GTX 1080 Ti" in flat
    # Configurations that fit the estimator but no build within 5000: the cheapest named.
    assert re.search(r"the cheapest valid build costs [\d,]+ USD, over the budget", flat)


def test_example_2_json(example_2):
    assert example_2.rc == 0 and example_2.err == ""
    doc = json.loads(example_2.out)
    assert doc["schema"] == RECOMMEND_SCHEMA == "dlrig.recommend/1"
    assert doc["currency"] == "USD" and doc["budget"] == 20000
    assert doc["throughput_unit"] == "samples/s"
    assert len(doc["proposals"]) == 5
    for p in doc["proposals"]:
        assert {"price", "currency", "throughput", "score", "findings", "build"} <= set(p)
        assert p["currency"] == "USD" and 0 < p["price"] <= 20000
        assert p["throughput"] > 0 and p["score"] > 0
        # every proposed rate carries the estimator's interval for its group
        iv = p["throughput_interval"]
        assert iv["low"] < p["throughput"] < iv["high"] and iv["group"].startswith("mfu:cnn")
        assert 1 <= p["n_gpus"] <= 4
        assert all(f["severity"] != "error" for f in p["findings"])
        build = p["build"]
        assert build["gpus"][0]["count"] == p["n_gpus"]
        assert build["workload"]["model"] == "resnet50"
        assert build["workload"]["task"] == "train"


def test_example_3_used_prices_fit_3000(example_3):
    assert example_3.rc == 0, example_3.err
    doc = json.loads(example_3.out)
    assert doc["quant"] == "int4"
    (p,) = doc["proposals"]
    # All parts from good.used-3090.toml: 2 x 600 + 350 + 400 + 250 + 200 + 70 = 2470. The 2026
    # market has a cheaper CPU (Ryzen 5 9600X, 279) and PSU (RM1200x SHIFT, 230), so the build
    # may swap those in: 2470 - (350 - 279) - (250 - 230) = 2379; the GPUs stay the user's.
    assert (p["gpu"], p["n_gpus"], p["price"]) == ("GeForce RTX 3090", 2, 2379.0)
    assert sum(line["price"] for line in p["price_lines"]) == 2379.0
    shown = f"prices file {PRICES / 'good.used-3090.toml'}"
    gpu_line = next(line for line in p["price_lines"] if line["part"] == "gpu")
    assert gpu_line["source"] == shown and gpu_line["unit_price"] == 600
    assert p["build"]["workload"]["quant"] == "int4"


def test_example_3_write_dir_passes_check(example_3, tmp_path):
    assert len(example_3.files) == 1
    assert check_all(example_3.files, tmp_path) == [0]


def test_example_3_without_the_prices_file_has_no_build(capsys):
    argv = [*EXAMPLE_3[:-2], "--format", "json"]
    assert run(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["proposals"] == [] and doc["cheapest_valid_price"] > 3000


def test_markdown_tables(capsys):
    assert run([*EXAMPLE_1, "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# dlrig recommend — llama-3-8b lora (seq 2048), budget 5,000 USD\n")
    assert "| # | build | price | tokens/s | per 1000 USD | Pareto | time |" in out
    assert "## Pareto front" in out and "| price | tokens/s | build |" in out
    assert "## Performance per USD, one card" in out
    assert "## Left out" not in out  # only with --explain
    rows = [line for line in out.splitlines() if re.match(r"\| [1-5] \| ", line)]
    assert 2 <= len(rows) <= 5
    assert "Proposals, fastest first" in out


def test_markdown_explain(rec):
    r = rec("llama-3-8b:lora", 5000, job={"seq_len": 2048})
    md = render_markdown(r, explain=True)
    assert "## Left out" in md
    assert md.count("\n- ") >= len(r.rejected)


def test_no_build_within_budget(tmp_path, capsys):
    argv = ["recommend", "--budget", "500", "--workload", "llama-3-8b:lora"]
    assert run([*argv, "--write-dir", str(tmp_path / "b"), "--no-color"]) == 0
    out, err = capsys.readouterr()
    assert "No build within the budget passes the checks; the cheapest that does costs" in out
    assert err == f"dlrig: wrote 0 build files to {tmp_path / 'b'}\n"
    assert list((tmp_path / "b").iterdir()) == []


BASE = ["recommend", "--budget", "5000", "--workload", "llama-3-8b:lora"]
BAD_USAGE = [
    (["--workload", "nonsense"], r"--workload: expected MODEL:TASK .*got 'nonsense'"),
    (["--workload", "llama-3-8b:dance"], r"--workload: unknown task 'dance'.*train, lora"),
    (["--workload", "gpt-9:train"], r"unknown model 'gpt-9'; did you mean 'gpt2'"),
    (["--budget", "-5"], r"--budget: expected .*got -5"),
    (["--budget", "0"], r"--budget: expected .*got 0"),
    (["--budget", "nan"], r"--budget: expected .*got nan"),
    (["--currency", "XYZ"], r"--currency: no exchange rate for 'XYZ'; known: .*EUR"),
    (["--max-gpus", "99"], r"--max-gpus: .*99"),
    (["--gpu", "RTX 9999"], r"unknown GPU 'RTX 9999'; did you mean"),
    (["--gpu", "RTX 3080 10GB"], r"--gpu: no price for GeForce RTX 3080 10GB; .*--prices"),
    (["--mains-voltage", "230"], r"--mains-voltage and --circuit-amps go together"),
    (["--top", "0"], r"--top"),
]


@pytest.mark.parametrize(("extra", "pattern"), BAD_USAGE, ids=[" ".join(e) for e, _ in BAD_USAGE])
def test_bad_usage_exit_2_one_line(extra, pattern, capsys):
    # Later options win over BASE's for --budget and --workload.
    assert run([*BASE, *extra]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dlrig: error: ")
    assert re.search(pattern, lines[0]), lines[0]


def test_output_must_not_overwrite_the_prices_file(tmp_path, capsys):
    prices = tmp_path / "p.toml"
    prices.write_text((PRICES / "good.used-3090.toml").read_text())
    assert run([*BASE, "--prices", str(prices), "-o", str(prices)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "overwrite the input file" in line
    assert prices.read_text() == (PRICES / "good.used-3090.toml").read_text()


def test_used_cards_only_with_used(rec):
    """The catalog's used cards (RTX 3090, 4090, A6000 ...) are proposed only with --used, and
    --explain says they were left out."""
    from dlrig.catalog import load as catalog

    used = {r.name for r in catalog.market_prices() if r.condition == "used"}
    assert used
    plain = rec("llama-3-8b:qlora", 5000)
    assert not {p.gpu for p in [*plain.proposals, *plain.pareto_front]} & used
    assert any("only with --used" in r.reason for r in plain.rejected)
    allowed = rec("llama-3-8b:qlora", 5000, used=True)
    assert {p.gpu for p in [*allowed.proposals, *allowed.pareto_front]} & used
    assert not any("only with --used" in r.reason for r in allowed.rejected)


def test_rank_value_orders_by_throughput_per_money(capsys):
    assert run([*EXAMPLE_1, "--rank", "value", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rank_by"] == "value"
    scores = [p["score"] for p in doc["proposals"]]
    assert scores == sorted(scores, reverse=True)
    assert [p["value_rank"] for p in doc["proposals"]] == list(range(1, len(scores) + 1))


@pytest.mark.parametrize(
    ("workload", "budget", "kw"),
    [
        ("llama-3-8b:lora", 40000, {"job": {"seq_len": 2048}}),
        ("llama-3-8b:lora", 5000, {"job": {"seq_len": 2048}}),
        ("resnet50:train", 40000, {"max_gpus": 1}),
        ("gpt2-xl:train", 50000, {}),
    ],
)
def test_unspent_budget_is_explained(rec, workload, budget, kw):
    """The note is there exactly when the fastest build spends under two thirds of the budget;
    a named next step up is faster than the fastest proposal."""
    r = rec(workload, budget, **kw)
    fastest = r.pareto_front[-1]
    assert (r.budget_note is not None) == (fastest.price < budget * 2 / 3)
    if r.next_step_up is not None:
        assert r.next_step_up.throughput > fastest.throughput
        assert r.budget_note and f"{r.next_step_up.n_gpus} x {r.next_step_up.gpu}" in r.budget_note


def test_dominated_builds_are_listed_under_explain(rec):
    r = rec("resnet50:train", 20000, max_gpus=4)
    dominated = [x for x in r.rejected if x.reason.startswith("dominated by ")]
    names = {p.name for p in r.proposals}
    for d in dominated:
        assert d.what not in names


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (
            ["--workload", "resnet50:lora"],
            "--task lora: LoRA needs a transformer; resnet50 is a cnn",
        ),
        (
            ["--workload", "llama-3-8b:train", "--quant", "int4"],
            "--quant int4 with --task train: stores inference weights",
        ),
    ],
)
def test_inapplicable_options_exit_2_naming_them(argv, named, capsys):
    # The same rule and wording as `dlrig estimate` (estimate/applicable.py).
    assert run(["recommend", "--budget", "3000", *argv]) == 2
    err = capsys.readouterr().err
    assert named in err and len(err.strip().splitlines()) == 1


def test_qlora_8b_at_1500_usd_gets_a_proposal(rec):
    """Issue 17: $1,500 for QLoRA of an 8B model had no proposal; a 16 GB card (or a used
    12-24 GB one) does it. The CPU needs a core per loader worker and GPU process, not the
    n x (workers + 1) + 4 of a comfortable multi-GPU box."""
    r = rec("llama-3-8b:qlora", 1500)
    assert r.proposals
    best = r.proposals[0]
    assert best.price <= 1500 and best.n_gpus == 1
    assert best.n_gpus * gpu_memory_gb(best.gpu) >= 12


def gpu_memory_gb(name: str) -> float:
    from dlrig.catalog.lookup import find_gpu

    return find_gpu(name).memory_gb


def test_time_and_rent_carry_the_rates_interval(capsys):
    argv = [*EXAMPLE_1, "--tokens", "1e9", "--cloud-price-per-gpu-hour", "2", "--format", "json"]
    assert run(argv) == 0
    for p in json.loads(capsys.readouterr().out)["proposals"]:
        rate, time, rent = (
            p["throughput_interval"],
            p["time_hours_interval"],
            p["cloud_cost_interval"],
        )
        # a time is work over the rate: t(1 ± f) for the rate's error within ± f; the rent
        # scales with the time
        assert time["low"] == pytest.approx(p["time_hours"] * (1 - rate["frac"]))
        assert time["high"] == pytest.approx(p["time_hours"] * (1 + rate["frac"]))
        k = p["cloud_cost"] / p["time_hours"]
        assert (rent["low"], rent["high"]) == pytest.approx((time["low"] * k, time["high"] * k))
