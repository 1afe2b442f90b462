"""Compare two saved `calibrate.py --points` reports on the points both score.

A round that adds published points moves its categories' medians two ways: the new points'
own errors, and the constants they shift for the old ones. This prints, per category, the LOSO
median and p90 |error| of the start and of now over the point ids both reports list, so the
second effect can be read alone.

    python benchmarks/same_points.py benchmarks/results/calibration-fde0573.txt \
        benchmarks/results/calibration-after.txt
"""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path

from dlrig.errors import DlrigError
from dlrig.model.files import read_bounded

POINT_ROW = re.compile(r"^(\S+)\s+(\S+)\s+\S+\s+\S+\s+\S+\s+([+-][\d.]+)%")
# A saved report is about 200 KB; a larger input is not one.
MAX_REPORT_BYTES = 8 * 2**20


def loso_errors(report: Path) -> dict[str, tuple[str, float]]:
    """{point id: (category, |LOSO error| in %)} from the report's per-point table."""
    out: dict[str, tuple[str, float]] = {}
    in_points = False
    text = read_bounded(report, str(report), MAX_REPORT_BYTES, "a calibrate.py --points report")
    for line in text.decode("utf-8", errors="replace").splitlines():
        if line.startswith("point ") and "LOSO err" in line:
            in_points = True
            continue
        m = POINT_ROW.match(line) if in_points else None
        if m:
            out[m[1]] = (m[2], abs(float(m[3])))
    return out


def p90(values: list[float]) -> float:
    """The same linear-interpolated percentile as calibrate.py's."""
    s = sorted(values)
    k = (len(s) - 1) * 0.9
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def compare(start: Path, now: Path) -> list[str]:
    a, b = loso_errors(start), loso_errors(now)
    common = sorted(set(a) & set(b))
    if not common:
        raise ValueError("the two reports share no point (are both `calibrate.py --points`?)")
    groups = [(c, lambda x, c=c: x == c) for c in sorted({a[i][0] for i in common})]
    groups.append(("ALL training throughput", lambda x: x.startswith("throughput")))
    lines = [f"{'category':26} {'n':>4}  start median / p90    now median / p90"]
    for name, member in groups:
        ids = [i for i in common if member(a[i][0])]
        if not ids:
            continue
        ea, eb = [a[i][1] for i in ids], [b[i][1] for i in ids]
        lines.append(
            f"{name:26} {len(ids):4}  {statistics.median(ea):6.1f} % / {p90(ea):5.1f} %"
            f"   {statistics.median(eb):6.1f} % / {p90(eb):5.1f} %"
        )
    lines.append(
        f"points in both: {len(common)}; only now: {len(set(b) - set(a))}; "
        f"only at the start: {len(set(a) - set(b))}"
    )
    return lines


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: same_points.py START_REPORT NOW_REPORT", file=sys.stderr)
        sys.exit(2)
    try:
        print("\n".join(compare(Path(sys.argv[1]), Path(sys.argv[2]))))
    except (DlrigError, ValueError) as exc:
        print(f"same_points.py: {exc}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:
        sys.stderr.close()  # output piped to `head`: quiet
