"""The README's claims against what the commands print (issue 16: a newcomer found the
skipped-rule count, the measurement count and the JSON summary's shape out of date).

Each number the README's check, JSON, estimate-accuracy and build-file sections state is taken
from the README text here and compared with the real output, so the two cannot drift apart.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from dlrig.cli import run

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Earlier rounds of the estimator's accuracy, moved out of the README (it links to them)
ROUNDS_DOC = (ROOT / "docs" / "accuracy-rounds.md").read_text(encoding="utf-8")
RULE_CHARS = "─"


def flat(text: str) -> str:
    """Whitespace collapsed and rule lines' box characters dropped: rich wraps and pads to the
    terminal's width, the README to its own."""
    return " ".join(text.replace(RULE_CHARS, " ").split())


def section(heading: str, text: str = README) -> str:
    """From `heading` to the next heading as high or higher, outside code blocks."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.rstrip() == heading)
    fenced = False
    for end in range(start + 1, len(lines)):
        if lines[end].startswith("```"):
            fenced = not fenced
        hashes = len(lines[end]) - len(lines[end].lstrip("#"))
        if not fenced and 1 <= hashes <= level and lines[end][hashes : hashes + 1] == " ":
            break
    else:
        end = len(lines)
    return "".join(lines[start:end])


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.DOTALL)


def run_out(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(argv)
    captured = capsys.readouterr()
    assert "error" not in captured.err, captured.err
    return code, captured.out


def test_check_example_matches_the_real_output(capsys):
    (console,) = blocks(section("## Check a build"), "console")
    command, *shown = console.splitlines()
    assert command == "$ dlrig check examples/guide-2015-4gpu.toml"
    code, out = run_out(["check", str(ROOT / "examples" / "guide-2015-4gpu.toml")], capsys)
    assert code == 1  # "it exits with status 1: that build has an error"
    real = flat(out)
    for line in shown:
        text = flat(line.removesuffix("..."))
        if text and text != "...":
            assert text in real, f"README line not in the output: {line!r}"
    assert shown[-1] == out.strip().splitlines()[-1]  # the summary line, exactly


def test_check_paragraph_numbers_come_from_the_output(capsys):
    prose = section("## Check a build").split("```")[2]
    _, out = run_out(["check", str(ROOT / "examples" / "guide-2015-4gpu.toml")], capsys)
    real = flat(out)
    for watts in re.findall(r"(\d{3,4}) W", prose):  # 1240 W sustained, 1550 needed, 1600 fitted
        assert f"{int(watts):,} W" in real, watts
    kwh, euros = re.search(r"(\d+) kWh, €(\d+)", prose).groups()
    assert f"{kwh} kWh" in real and re.search(rf"\b{euros}\.\d+ EUR", real)
    lanes = re.search(r"\((x16/x8/x8/x8)", prose).group(1)
    assert lanes.replace("/", ", ") in real
    per_gpu = re.search(r"each read (\d+) MB/s of JPEGs", flat(prose)).group(1)
    assert f"~{per_gpu} MB/s as JPEG per GPU" in real


def test_json_summary_shape_is_the_one_described(capsys):
    text = flat(section("### JSON and Markdown"))
    assert "`skipped` as a list of `{rule, reason}`" in text
    _, out = run_out(
        ["check", str(ROOT / "examples" / "guide-2015-4gpu.toml"), "-f", "json"], capsys
    )
    d = json.loads(out)
    described = re.search(r"`summary` \((.*?)\)\.", text).group(1)
    assert set(re.findall(r"`(\w+)`", described)) == set(d["summary"])
    assert all(isinstance(d["summary"][k], int) for k in ("errors", "warnings", "info", "ok"))
    assert d["summary"]["skipped"] and all(
        set(s) == {"rule", "reason"} for s in d["summary"]["skipped"]
    )
    finding_keys = re.search(r"`findings` \(each with (.*?)\) and", text).group(1)
    assert set(re.findall(r"`(\w+)`", finding_keys)) == set(d["findings"][0])


def test_measurement_counts_match_the_bundled_file():
    path = ROOT / "src" / "dlrig" / "catalog" / "data" / "measurements.csv"
    with path.open(encoding="utf-8") as f:
        kinds = Counter(row["category"] for row in csv.DictReader(f))
    text = flat(README)
    total = int(re.search(r"over the (\d+) points of `measurements.csv`", text).group(1))
    assert total == sum(kinds.values())


@pytest.mark.parametrize("which", ["minimal", "full"])
def test_build_file_examples_check(which, tmp_path, capsys):
    """The how-to's minimal file and the reference with every section both pass `check`."""
    toml = blocks(section("## The build file"), "toml")
    text = toml[0] if which == "minimal" else toml[1]
    path = tmp_path / "mybox.toml"
    path.write_text(text, encoding="utf-8")
    code, out = run_out(["check", str(path)], capsys)
    assert code in (0, 1)
    if which == "minimal":
        howto = flat(section("### Write your own from scratch"))
        needs = re.search(r"\(`(psu-capacity: needs \[psu\] watts)`\)", howto).group(1)
        assert needs in flat(out)
        for rule in ("gpu-choice", "cooling", "power-limit", "gpu-p2p"):
            assert rule in out
    else:
        sections = set(re.findall(r"^\[+([a-z]+)\]+", text, flags=re.MULTILINE))
        assert sections == {
            "cpu", "memory", "gpus", "motherboard", "psu", "storage", "case", "power", "workload"
        }  # fmt: skip


def _report_categories(path: Path) -> dict[str, tuple[str, str, str]]:
    """category -> (n, LOSO median, LOSO p90) from a saved `benchmarks/calibrate.py` report."""
    out = {}
    pattern = (
        r"^(\S+(?: training throughput| decode| prefill| memory)?)\s+(\d+)\s+([\d.]+)%\s+([\d.]+)%"
    )
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(pattern, line)
        if m and not line.startswith("points"):
            out[m[1]] = (m[2], m[3], m[4])
    return out


ROUNDS = {
    # section -> (the saved report of the round's start, of its end); "This round" is the
    # README's, the others docs/accuracy-rounds.md's
    "#### This round": ("calibration-a6ddd56.txt", "calibration-after.txt"),
    "#### Round 17 (75e20e6 to a6ddd56)": ("calibration-75e20e6.txt", "calibration-a6ddd56.txt"),
    "#### Round 16 (a3b5538 to 75e20e6)": ("calibration-a3b5538.txt", "calibration-75e20e6.txt"),
    "#### Round 15 (191c88d to a3b5538)": ("calibration-191c88d.txt", "calibration-a3b5538.txt"),
    "#### Round 14 (2a297a5 to 191c88d)": ("calibration-2a297a5.txt", "calibration-191c88d.txt"),
    "#### Round 13 (86e13f8 to 2a297a5)": ("calibration-86e13f8.txt", "calibration-2a297a5.txt"),
    "#### Round 12 (6b0a3da to 86e13f8)": ("calibration-6b0a3da.txt", "calibration-86e13f8.txt"),
    "#### Round 11 (b36d96e to 6b0a3da)": ("calibration-b36d96e.txt", "calibration-6b0a3da.txt"),
    "#### Round 10 (2245987 to b36d96e)": ("calibration-2245987.txt", "calibration-b36d96e.txt"),
    "#### Round 9 (714c041 to 2245987)": ("calibration-714c041.txt", "calibration-2245987.txt"),
    "#### Round 8 (aaf30b1 to 714c041)": ("calibration-aaf30b1.txt", "calibration-714c041.txt"),
    "#### Round 7 (d77a2bb to aaf30b1)": ("calibration-d77a2bb.txt", "calibration-aaf30b1.txt"),
    "#### Round 6 (fde0573 to d77a2bb)": ("calibration-fde0573.txt", "calibration-d77a2bb.txt"),
    "#### Round 5 (f989ae1 to fde0573)": ("calibration-f989ae1.txt", "calibration-fde0573.txt"),
    "#### Round 4 (3a3df09 to f989ae1)": ("calibration-3a3df09.txt", "calibration-f989ae1.txt"),
    "#### Round 3 (910ddff to 3a3df09)": ("calibration-910ddff.txt", "calibration-3a3df09.txt"),
    "#### Round 2 (c124331 to 910ddff)": ("calibration-c124331.txt", "calibration-910ddff.txt"),
    "#### Round 1 (1f098e4 to c124331)": ("calibration-1f098e4.txt", "calibration-c124331.txt"),
}


def round_section(heading: str) -> str:
    """A round's section: the current one in the README, earlier ones in docs/accuracy-rounds.md."""
    return section(heading, README if heading == "#### This round" else ROUNDS_DOC)


def test_the_readme_links_the_earlier_rounds():
    assert "(docs/accuracy-rounds.md)" in section("#### This round")
    assert all(h in ROUNDS_DOC for h in ROUNDS if h != "#### This round")


@pytest.mark.parametrize("heading", sorted(ROUNDS))
def test_each_rounds_accuracy_table_is_the_saved_reports(heading):
    """Both columns of a round's table in the README are the saved calibrate.py reports."""
    results = ROOT / "benchmarks" / "results"
    start, end = ROUNDS[heading]
    before = _report_categories(results / start)
    now = _report_categories(results / end)
    text = round_section(heading)
    rows = re.findall(
        r"^\| ([^|]+) \| ([\d.]+) % / ([\d.]+) % \((\d+)\) \| \**([\d.]+) % / ([\d.]+) % \((\d+)\)\** \|",
        text,
        flags=re.M,
    )
    assert len(rows) >= 12
    for label, b_med, b_p90, b_n, n_med, n_p90, n_n in rows:
        key = re.search(r"\(([^)]+)\)$", label.strip())
        name = key[1] if key else label.strip()
        name = "ALL training throughput" if name == "training throughput, all" else name
        assert before[name] == (b_n, b_med, b_p90), label
        assert now[name] == (n_n, n_med, n_p90), label


def benchmark_output(script: str) -> str:
    """What `python benchmarks/<script>` prints now."""
    import subprocess
    import sys

    argv = [sys.executable, str(ROOT / "benchmarks" / script)]
    return subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT).stdout


def test_saved_calibration_report_is_what_calibrate_prints_now():
    """benchmarks/results/calibration-after.txt (which the README quotes) is current: the
    categories a fresh `python benchmarks/calibrate.py` prints equal the saved ones."""
    fresh = benchmark_output("calibrate.py")
    saved = (ROOT / "benchmarks" / "results" / "calibration-after.txt").read_text(encoding="utf-8")
    # the whole report (categories, groups, relations, worst points), then the points
    assert saved.startswith(fresh)


def test_saved_holdout_report_is_what_holdout_prints_now():
    """benchmarks/results/holdout.txt (which the README quotes) is current."""
    fresh = benchmark_output("holdout.py")
    saved = (ROOT / "benchmarks" / "results" / "holdout.txt").read_text(encoding="utf-8")
    assert saved == fresh


HOLDOUT_ROUNDS = {
    # README section -> the saved holdout.py report its held-out sentence quotes
    "#### This round": "holdout.txt",
    "#### Round 17 (75e20e6 to a6ddd56)": "holdout-a6ddd56.txt",
    "#### Round 16 (a3b5538 to 75e20e6)": "holdout-75e20e6.txt",
    "#### Round 15 (191c88d to a3b5538)": "holdout-a3b5538.txt",
    "#### Round 14 (2a297a5 to 191c88d)": "holdout-191c88d.txt",
    "#### Round 13 (86e13f8 to 2a297a5)": "holdout-2a297a5.txt",
    "#### Round 12 (6b0a3da to 86e13f8)": "holdout-86e13f8.txt",
    "#### Round 11 (b36d96e to 6b0a3da)": "holdout-6b0a3da.txt",
    "#### Round 10 (2245987 to b36d96e)": "holdout-b36d96e.txt",
    "#### Round 9 (714c041 to 2245987)": "holdout-2245987.txt",
    "#### Round 8 (aaf30b1 to 714c041)": "holdout-714c041.txt",
    "#### Round 7 (d77a2bb to aaf30b1)": "holdout-aaf30b1.txt",
    "#### Round 6 (fde0573 to d77a2bb)": "holdout-d77a2bb.txt",
    "#### Round 5 (f989ae1 to fde0573)": "holdout-fde0573.txt",
    "#### Round 4 (3a3df09 to f989ae1)": "holdout-f989ae1.txt",
    "#### Round 3 (910ddff to 3a3df09)": "holdout-3a3df09.txt",
    "#### Round 2 (c124331 to 910ddff)": "holdout-910ddff.txt",
}


@pytest.mark.parametrize("heading", sorted(HOLDOUT_ROUNDS))
def test_each_rounds_held_out_sentence_is_its_saved_report(heading):
    """A round's held-out medians and share inside the ± are those of its saved report."""
    saved = (ROOT / "benchmarks" / "results" / HOLDOUT_ROUNDS[heading]).read_text(encoding="utf-8")
    rows = {
        m[1]: m.groups()[1:]
        for m in re.finditer(
            r"^(ALL(?: \w+)*)\s+(\d+)\s+\d+\s+([\d.]+)%\s+([\d.]+)%\s+(\d+)%", saved, re.M
        )
    }
    text = flat(round_section(heading))
    assert HOLDOUT_ROUNDS[heading] in text
    for name in ("ALL decode", "ALL memory"):
        n, median, p90, _ = rows[name]
        assert f"{median} % ({p90} %, {n} points" in text, name
    assert f"{rows['ALL'][3]} % of the measurements fall inside" in text


def test_the_tables_size_is_the_saved_reports():
    """The accuracy section's count of published points and sources is the report's."""
    saved = (ROOT / "benchmarks" / "results" / "calibration-after.txt").read_text(encoding="utf-8")
    head = re.match(r"points: (\d+) from (\d+) sources", saved)
    text = flat(section("### Estimator accuracy"))
    assert f"({head[1]} published points from {head[2]} sources)" in text


def test_this_rounds_same_point_figures_are_what_same_points_prints():
    """The round's sentence on the points both reports score quotes benchmarks/same_points.py."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "same_points", ROOT / "benchmarks" / "same_points.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    start, end = ROUNDS["#### This round"]
    results = ROOT / "benchmarks" / "results"
    printed = {}
    for line in module.compare(results / start, results / end)[1:-1]:
        m = re.match(
            r"^(.+?)\s+(\d+)\s+([\d.]+) % /\s+([\d.]+) %\s+([\d.]+) % /\s+([\d.]+) %", line
        )
        printed[m[1].strip()] = m.groups()[1:]
    text = flat(section("#### This round"))
    n_both = re.search(r"On the (\d+) points both reports score", text)
    assert (
        n_both
        and f"points in both: {n_both[1]};" in module.compare(results / start, results / end)[-1]
    )
    quoted = re.findall(
        r"([\w/ -]+?) ([\d.]+) % → ([\d.]+) % \(p90 ([\d.]+) % → ([\d.]+) %\)",
        text[n_both.end() :].split(". ")[0] + ".",
    )
    assert len(quoted) >= 4
    for name, a_med, b_med, a_p90, b_p90 in quoted:
        _n, pa_med, pa_p90, pb_med, pb_p90 = printed[name.strip().split(": ")[-1]]
        assert (a_med, a_p90, b_med, b_p90) == (pa_med, pa_p90, pb_med, pb_p90), name
