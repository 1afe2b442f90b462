"""Held-out check of the estimator: published measurements that no fit here has seen.

Run:  python benchmarks/holdout.py                       # benchmarks/holdout_points.csv
      python benchmarks/holdout.py path/to/points.csv

The points (benchmarks/holdout_points.csv) have exactly the columns of
catalog/data/calibration_points.csv, but come from sources that table does not use (checked
here by source_id and URL: an overlap is printed). Each point is scored the way
benchmarks/calibrate.py scores a calibration point in-fit (its build() and predict(), the same
row reader estimate/points.py), with the fitted constants as they are in
catalog/data/fitted_constants.csv: nothing is refitted, so every error is out-of-sample.

Printed: per category n, median and p90 |error| and the share of points whose measurement lies
inside the prediction's own interval (value x (1 ± frac), the frac the estimator reports for
that prediction); every point's predicted / measured / error; the points the estimator cannot
express, with the reason; and the memory verdict ("fits" / "tight" / "does not fit") of every
published run that completed (a completed run said "does not fit" is a false refusal).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import calibrate as cb  # benchmarks/calibrate.py: the fit's point reader and predictor

from dlrig.estimate import calibration as cal
from dlrig.estimate import job as jobs
from dlrig.estimate import perf

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "benchmarks" / "holdout_points.csv"
CALIBRATION = ROOT / "src" / "dlrig" / "catalog" / "data" / "calibration_points.csv"
MAX_BYTES = 4 * 2**20  # a points file is a few hundred kB; refuse anything far larger
WORST = 8  # the largest misses listed apart


class BadInput(Exception):
    """A points file that is not one (exit 2, one line naming the file and the expectation)."""


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file() or path.is_symlink():
        raise BadInput(f"{path}: not a regular file")
    if path.stat().st_size > MAX_BYTES:
        raise BadInput(f"{path}: larger than {MAX_BYTES} bytes")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def calibration_columns_and_sources() -> tuple[list[str], set[str], set[str]]:
    columns, rows = read_table(CALIBRATION)
    ids = {r["source_id"] for r in rows if r.get("source_id")}
    urls = {r["source"].split()[0] for r in rows if r.get("source")}
    return columns, ids, urls


def to_point(row: dict[str, str]) -> cb.Point:
    """The row as calibrate.py's Point, built by calibrate.build (load_points' reading)."""
    pt = cb.point_of(row)
    cb.build(pt)
    return pt


def interval_frac(pt: cb.Point, consts: cal.Constants) -> float | None:
    """The ± the estimator itself reports for this prediction: the memory interval of the job's
    task group, or the rate's interval of its fitted group."""
    if pt.category == "memory":
        iv = jobs.memory_of(pt.shape).per_gpu_interval
    else:
        iv = perf.throughput_of(pt.shape, consts).interval
    return iv.frac if iv is not None else None


def score(pt: cb.Point, consts: cal.Constants) -> None:
    try:
        pt.fitted = cb.predict(pt, consts)
        pt.extra["frac"] = interval_frac(pt, consts)
        pt.extra["verdict"] = jobs.memory_of(pt.shape).verdict
    except Exception as exc:  # an estimator failure on a real point is reported, never hidden
        pt.reason = f"estimator raised {type(exc).__name__}: {exc}"
        return
    if pt.fitted is None or not math.isfinite(pt.fitted) or pt.fitted <= 0:
        pt.reason = f"the estimator gives no figure for this point ({pt.fitted})"


def inside(pt: cb.Point) -> bool:
    frac = pt.extra.get("frac")
    if frac is None or pt.fitted is None:
        return False
    # where the measured value lies when the error is within ± frac (Interval.band): the
    # same test as the calibration's cross-validated coverage
    return abs(cb.err(pt.fitted, pt.measured)) <= frac


def family(label: str) -> str:
    if label.startswith("memory"):
        return "ALL memory"
    if label.startswith("throughput"):
        # as calibrate.py's summary: a vision or encoder model's forward passes are not training
        return "ALL training throughput" if cb.training_label(label) else "ALL vision inference"
    return f"ALL {label}"


def target(label: str) -> float:
    if label.startswith("memory"):
        return cb.TARGETS["memory"]
    return cb.TARGETS.get(label.split("/")[0], cb.TARGETS["throughput"])


def summary_line(name: str, sel: list[cb.Point], tgt: float | None) -> str:
    errs = [abs(cb.err(x.fitted, x.measured)) for x in sel]
    med, p90 = statistics.median(errs), cb.percentile(errs, 0.9)
    share = sum(inside(x) for x in sel) / len(sel)
    srcs = len({x.source_id for x in sel})
    verdict = "" if tgt is None else f"  {tgt:.0%} {'met' if med <= tgt else 'missed'}"
    return f"{name:26} {len(sel):4} {srcs:5} {med:8.1%} {p90:8.1%} {share:10.0%}{verdict}"


def by_source(sel: list[cb.Point]) -> list[str]:
    """One line per source, best first: its median |error|, median signed error and points."""
    errs: dict[str, list[float]] = defaultdict(list)
    for x in sel:
        errs[x.source_id].append(cb.err(x.fitted, x.measured))
    rows = sorted(
        (statistics.median(abs(e) for e in es), statistics.median(es), len(es), src)
        for src, es in errs.items()
    )
    return [f"{src:40} {med:7.1%} {signed:+8.1%} {n:4}" for med, signed, n, src in rows]


def report(path: Path, points: list[cb.Point], overlap: list[str]) -> str:
    lines: list[str] = []
    pr = lines.append
    usable = [x for x in points if x.expressible]
    n_src = len({x.source_id for x in points})
    pr(f"held-out points: {len(points)} from {n_src} sources in {path.name}; "
       f"expressible {len(usable)}")  # fmt: skip
    pr("scored in-fit with the fitted constants of catalog/data/fitted_constants.csv (no refit)")
    if overlap:
        pr("NOT HELD OUT (source also in calibration_points.csv): " + ", ".join(overlap))
    else:
        pr("no source_id or URL is shared with calibration_points.csv")
    pr("")
    if usable:
        pr(f"{'category':26} {'n':>4} {'srcs':>5} {'median':>8} {'p90':>8} {'inside ±':>10}"
           "  target (issue 15)")  # fmt: skip
        by_label: dict[str, list[cb.Point]] = defaultdict(list)
        by_family: dict[str, list[cb.Point]] = defaultdict(list)
        for x in usable:
            by_label[x.label].append(x)
            by_family[family(x.label)].append(x)
        for label in sorted(by_label):
            pr(summary_line(label, by_label[label], target(label)))
        for name in sorted(by_family):
            pr(summary_line(name, by_family[name], None))
        pr(summary_line("ALL", usable, None))
        pr("")
        pr("by source (median |error| of its points, median signed error, n): a source's")
        pr("harness and host weigh on all its points alike")
        for name in sorted(by_family):
            pr(f"  {name}:")
            for line in by_source(by_family[name]):
                pr(f"    {line}")
        pr("")
        pr("every point (error = (predicted - measured) / measured; ± = the prediction's own "
           "interval):")  # fmt: skip
        pr(f"  {'point':52} {'category':24} {'predicted':>10} {'measured':>10} {'unit':>13} "
           f"{'error':>8} {'±':>5} {'in':>3}  verdict")  # fmt: skip
        for x in sorted(usable, key=lambda p: (p.label, p.id)):
            frac = x.extra.get("frac")
            pr(f"  {x.id:52} {x.label:24} {x.fitted:10.4g} {x.measured:10.4g} {x.unit:>13} "
               f"{cb.err(x.fitted, x.measured):+8.1%} "
               f"{'-' if frac is None else f'{frac:.0%}':>5} {'yes' if inside(x) else 'no':>3}  "
               f"{x.extra.get('verdict', '')}")  # fmt: skip
        pr("")
    if usable:
        pr("largest |errors|:")
        for x in sorted(usable, key=lambda p: -abs(cb.err(p.fitted, p.measured)))[:WORST]:
            pr(f"  {x.id:52} {x.label:24} {cb.err(x.fitted, x.measured):+8.1%}")
        pr("")
    pr("not expressible:")
    for x in points:
        if not x.expressible:
            pr(f"  {x.id}: {x.reason}")
    if all(x.expressible for x in points):
        pr("  (none)")
    pr("")
    verdicts = Counter(str(x.extra.get("verdict")) for x in usable)
    refused = [x.id for x in usable if x.extra.get("verdict") == "does not fit"]
    pr(f"memory verdicts on the {len(usable)} published runs that completed: "
       + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))  # fmt: skip
    pr("completed runs said 'does not fit' (false refusals): "
       + (", ".join(refused) if refused else "none"))  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("points", nargs="?", type=Path, default=DEFAULT, help="a points CSV")
    args = ap.parse_args(argv)
    cal_columns, cal_ids, cal_urls = calibration_columns_and_sources()
    try:
        columns, rows = read_table(args.points)
    except (BadInput, UnicodeDecodeError, csv.Error) as exc:
        print(f"{args.points}: {exc}" if not isinstance(exc, BadInput) else exc, file=sys.stderr)
        return 2
    if columns != cal_columns:
        missing = [c for c in cal_columns if c not in columns]
        extra = [c for c in columns if c not in cal_columns]
        print(
            f"{args.points}: columns differ from calibration_points.csv "
            f"(missing {missing}, extra {extra}, or another order)",
            file=sys.stderr,
        )
        return 2
    overlap = sorted(
        {r["source_id"] for r in rows if r["source_id"] in cal_ids}
        | {u for r in rows if r["source"] and (u := r["source"].split()[0]) in cal_urls}
    )
    consts = cal.constants()
    points = []
    for n, row in enumerate(rows, start=2):
        try:
            points.append(to_point(row))
        except (ValueError, KeyError, TypeError) as exc:  # a row that is not a measurement
            print(f"{args.points}: line {n}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
    for pt in points:
        if pt.expressible:
            score(pt, consts)
    try:
        print(report(args.points, points, overlap))
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: stop quietly, as every dlrig command does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
