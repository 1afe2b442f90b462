"""The fitted constants and their intervals: the one place that reads
`catalog/data/fitted_constants.csv` (written by benchmarks/calibrate.py, never by hand).

Each row is one constant (`key`: mfu, prefill_mfu, decode_bw, decode_layer_s (seconds per
layer per decode step, decode.py), bnb_linear_s (seconds per bitsandbytes linear per
decode step, perf.bnb_host_s), alloc_s_per_gb (seconds per GB the caching allocator maps
afresh in a churning transformers decode step, hf_cache.py), cnn_conv_s (host seconds per
convolution of an eager CNN forward pass, perf.cnn_host_s), encoder_layer_s (the same per
layer of an encoder or ViT, perf.encoder_host_s), allocator_slack (reserved /
allocated - 1, slack.py),
...) for one group, a path from general to specific ("lora/Ada/bf16/3-20b"; "*" is the
root). A job's group is looked up most specific first; a group the fit could not support
(fewer than three sources) is absent or recorded as a fallback, and the lookup walks up to
its parent. `interval_frac` is the group's
leave-one-source-out p80 |error|: what "± x %" on a prediction means.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from dlrig.catalog.load import read_rows
from dlrig.errors import CatalogDataError

ROOT = "*"
# Constants that are times rather than efficiencies: an engine may have none (0 s per layer).
MAY_BE_ZERO = frozenset(
    {
        "decode_layer_s",
        "train_layer_s",
        "allocator_slack",
        "bnb_linear_s",
        "alloc_s_per_gb",
        "cnn_conv_s",
        "encoder_layer_s",
        "tp_sync_s",
    }
)
FILE = "fitted_constants.csv"
COLUMNS = (
    "key",
    "value",
    "group",
    "n_points",
    "n_sources",
    "loso_median_err",
    "loso_p90_err",
    "interval_frac",
    "fit_rule",
    "fitted_on",
)


@dataclass(frozen=True)
class Fitted:
    key: str
    value: float
    group: str
    n_points: int
    n_sources: int
    loso_median_err: float | None
    loso_p90_err: float | None
    interval_frac: float | None
    fit_rule: str
    fitted_on: str

    def cite(self) -> str:
        where = f"{self.key}[{self.group}]"
        spread = f", ± {self.interval_frac:.0%}" if self.interval_frac is not None else ""
        return (
            f"{where} = {self.value:.3g} ({self.fit_rule}; {self.n_points} points from "
            f"{self.n_sources} sources{spread}; benchmarks/calibrate.py {self.fitted_on})"
        )


def _opt(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


def parse(rows: list[dict[str, str]]) -> dict[tuple[str, str], Fitted]:
    out: dict[tuple[str, str], Fitted] = {}
    for line, row in enumerate(rows, start=2):
        try:
            f = Fitted(
                key=row["key"],
                value=float(row["value"]),
                group=row["group"] or ROOT,
                n_points=int(row["n_points"]),
                n_sources=int(row["n_sources"]),
                loso_median_err=_opt(row["loso_median_err"]),
                loso_p90_err=_opt(row["loso_p90_err"]),
                interval_frac=_opt(row["interval_frac"]),
                fit_rule=row["fit_rule"],
                fitted_on=row["fitted_on"],
            )
        except (KeyError, ValueError) as exc:
            raise CatalogDataError(f"catalog {FILE}: line {line}: {exc}") from exc
        if not (f.value >= 0 if f.key in MAY_BE_ZERO else f.value > 0):
            least = ">= 0" if f.key in MAY_BE_ZERO else "> 0"
            raise CatalogDataError(f"catalog {FILE}: line {line}: value must be {least}")
        out[(f.key, f.group)] = f
    return out


class Constants:
    """A table of fitted constants with the walk-up lookup. The estimator uses `constants()`;
    the calibration script builds its own tables (one per left-out source)."""

    def __init__(self, rows: dict[tuple[str, str], Fitted]):
        self.rows = rows

    def get(self, key: str, group: tuple[str, ...] = ()) -> Fitted:
        for depth in range(len(group), -1, -1):
            name = "/".join(group[:depth]) if depth else ROOT
            row = self.rows.get((key, name))
            if row is not None:
                return row
        raise CatalogDataError(f"catalog {FILE}: no '{key}' constant (not even the root group)")

    def value(self, key: str, group: tuple[str, ...] = ()) -> float:
        return self.get(key, group).value

    def interval(self, key: str, group: tuple[str, ...] = ()) -> float | None:
        """The group's LOSO p80 |error|; a group without one takes its parent's."""
        for depth in range(len(group), -1, -1):
            name = "/".join(group[:depth]) if depth else ROOT
            row = self.rows.get((key, name))
            if row is not None and row.interval_frac is not None:
                return row.interval_frac
        return None


@cache
def constants() -> Constants:
    return Constants(parse(read_rows(FILE)))


def group_name(group: tuple[str, ...]) -> str:
    return "/".join(group) if group else ROOT
