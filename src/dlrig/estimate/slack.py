"""The caching allocator's slack: torch.cuda.max_memory_reserved over max_memory_allocated, fitted
from published runs that report both for the same run (catalog/data/allocator_pairs.csv).

Why a ratio, and why two groups. PyTorch's caching allocator keeps the blocks a freed tensor
leaves (https://docs.pytorch.org/docs/stable/notes/cuda.html#memory-management), so `reserved`
is the high-water mark of the tensors plus what the allocator could not reuse at that moment:
block rounding, fragmentation, and blocks freed on one stream while another still uses them.
Two regimes show in the pairs:

- unsharded (one GPU, DDP, inference): the same shapes recur every step and the allocator
  reuses its blocks; reserved is a few per cent above allocated.
- sharded (FSDP / ZeRO-3 training, weights gathered layer by layer): the all-gathered
  weights and the reduce-scattered gradients live on their own streams, and FSDP1's
  `record_stream` keeps their blocks from being reused until that stream is done, so the
  allocator holds several layers' transients more (torchtitan#165, llama-recipes#41:
  peak reserved 20-37 % above peak active).

The fit is one constant per group (the median of reserved / allocated - 1 over the group's
pairs) and the root "*" over all pairs. The allocator never reserves memory the GPU does not
have: when cudaMalloc fails it frees its cached blocks and retries (`num_alloc_retries`), so
memory.py caps the slack at the GPU's free memory.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass

from dlrig.catalog.load import read_rows
from dlrig.errors import CatalogDataError

FILE = "allocator_pairs.csv"
KEY = "allocator_slack"
SHARDED = "sharded"
UNSHARDED = "unsharded"
GROUPS = (SHARDED, UNSHARDED)
USES = ("fit", "holdout")
FIT_RULE = (
    "median of max_memory_reserved / max_memory_allocated - 1 over published pairs of the "
    "same run (catalog/data/allocator_pairs.csv; benchmarks/calibrate.py)"
)


@dataclass(frozen=True)
class Pair:
    source_id: str
    run: str
    group: str
    allocated: float  # in the row's unit; only the ratio is used
    reserved: float
    use: str

    @property
    def slack(self) -> float:
        return self.reserved / self.allocated - 1


@dataclass(frozen=True)
class GroupFit:
    group: str
    value: float
    n_points: int
    n_sources: int


def parse(rows: list[dict[str, str]]) -> list[Pair]:
    out = []
    for line, row in enumerate(rows, start=2):
        try:
            pair = Pair(
                source_id=row["source_id"],
                run=row["run"],
                group=row["group"],
                allocated=float(row["allocated"]),
                reserved=float(row["reserved"]),
                use=row["use"],
            )
        except (KeyError, ValueError) as exc:
            raise CatalogDataError(f"catalog {FILE}: line {line}: {exc}") from exc
        if pair.group not in GROUPS or pair.use not in USES:
            raise CatalogDataError(
                f"catalog {FILE}: line {line}: group must be one of {GROUPS}, use one of {USES}"
            )
        if not 0 < pair.allocated <= pair.reserved:
            raise CatalogDataError(
                f"catalog {FILE}: line {line}: need 0 < allocated <= reserved (reserved "
                "counts every allocated byte)"
            )
        if not row.get("url", "").startswith("https://"):
            raise CatalogDataError(f"catalog {FILE}: line {line}: url must be https://...")
        out.append(pair)
    return out


def load() -> list[Pair]:
    return parse(read_rows(FILE))


def fit(pairs: list[Pair]) -> dict[str, GroupFit]:
    """Per group and for the root "*": the median slack over the `use=fit` pairs."""
    members: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        if p.use == "fit":
            members[p.group].append(p)
            members["*"].append(p)
    return {
        g: GroupFit(
            group=g,
            value=statistics.median(p.slack for p in ps),
            n_points=len(ps),
            n_sources=len({p.source_id for p in ps}),
        )
        for g, ps in members.items()
    }


def predict_reserved(pair: Pair, fitted: dict[str, GroupFit]) -> float:
    g = fitted.get(pair.group) or fitted["*"]
    return pair.allocated * (1 + g.value)


def loso_errors(pairs: list[Pair]) -> dict[tuple[str, str], float]:
    """(source_id, run) -> (predicted - measured) / measured reserved, each `fit` pair predicted
    by the fit without its source; `holdout` pairs by the full fit (no fit ever sees them)."""
    full = fit(pairs)
    out = {}
    for src in sorted({p.source_id for p in pairs}):
        own = [p for p in pairs if p.source_id == src]
        fold = (
            full
            if all(p.use == "holdout" for p in own)
            else fit([p for p in pairs if p.source_id != src])
        )
        for p in own:
            if p.group not in fold and "*" not in fold:
                continue
            out[(p.source_id, p.run)] = predict_reserved(p, fold) / p.reserved - 1
    return out
