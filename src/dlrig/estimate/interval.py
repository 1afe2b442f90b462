"""Every prediction's interval, looked up in ONE place.

The interval of a group is its leave-one-source-out p80 |error| (calibration.md). The fit script
(benchmarks/calibrate.py) writes it to `catalog/data/fitted_constants.csv` (key `memory`, groups
"*", "memory", "memory/<task>"), read through `estimate.calibration` walking up from the job's
task. Without such a row the memory group's fraction is computed here from the published memory
points: the memory model has no constant fitted on those points, so leaving a source out changes
no prediction, and the LOSO error of each point is its plain error.
"""

from __future__ import annotations

import statistics
from functools import cache
from typing import TYPE_CHECKING

from dlrig.catalog.load import read_rows
from dlrig.model.estimate import Interval

if TYPE_CHECKING:
    from dlrig.estimate.shape import Shape

FITTED_FILE = "fitted_constants.csv"
POINT_FILES = ("calibration_points.csv", "measurements.csv")
P80 = 0.8
GIB_PER_GB = 2**30 / 1e9
# Used only when no memory point can be evaluated at all (an empty table): the target
# p90 for training memory (issue 15, "Targets"), so the verdict stays conservative.
FALLBACK_MEMORY_FRAC = 0.20
MEMORY_GROUP = "memory"


def _rows(name: str) -> list[dict[str, str]]:
    try:
        return read_rows(name)
    except (FileNotFoundError, OSError):
        return []


@cache
def fitted_interval(group: tuple[str, ...]) -> tuple[float, str] | None:
    """(interval_frac, source) of the most specific fitted group that has one, walking up."""
    from dlrig.errors import CatalogDataError
    from dlrig.estimate import calibration

    try:
        table = calibration.constants()
    except (CatalogDataError, FileNotFoundError, OSError):
        return None
    for depth in range(len(group), -1, -1):
        name = calibration.group_name(group[:depth])
        row = table.rows.get((MEMORY_GROUP, name))
        if row is not None and row.interval_frac is not None:
            return row.interval_frac, (
                f"{FITTED_FILE}: memory[{name}], LOSO p80 |error| over {row.n_points} points "
                f"from {row.n_sources} sources"
            )
    return None


def p80(values: list[float]) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=10, method="inclusive")[int(P80 * 10) - 1]


@cache
def memory_errors() -> tuple[tuple[str, float], ...]:
    """(source, relative error) of every published memory point the estimator expresses."""
    from dlrig.estimate import points  # local: points imports the estimator composition

    out: list[tuple[str, float]] = []
    for name in POINT_FILES:
        rows = [r for r in _rows(name) if r.get("category") == "memory"]
        for row in rows:
            err = points.memory_error(row)
            if err is not None:
                out.append((row.get("source_id") or row.get("source") or row["id"], err))
        if out:
            break  # the newer table supersedes the older one
    return tuple(out)


@cache
def memory_frac(task: str = "") -> tuple[float, str]:
    fitted = fitted_interval((MEMORY_GROUP, task) if task else (MEMORY_GROUP,))
    if fitted:
        return fitted
    errors = memory_errors()
    if not errors:
        return FALLBACK_MEMORY_FRAC, "no memory points evaluable: the issue's p90 target"
    sources = len({s for s, _ in errors})
    frac = p80([abs(e) for _, e in errors])
    return frac, f"p80 |error| of {len(errors)} published memory points from {sources} sources"


def memory_interval(value_gb: float, shape: Shape | None = None) -> Interval:
    task = shape.job.task.value if shape is not None else ""
    frac, source = memory_frac(task)
    group = f"{MEMORY_GROUP}/{task}" if task else MEMORY_GROUP
    return Interval.band(value_gb, frac, group, source)
