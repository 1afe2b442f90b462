"""`--measured cluster.json`: the bus bandwidth a cluster probe measured, for `check` (and the
estimator) to use instead of the fabric table's figure."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from dlrig.errors import BuildFileError
from dlrig.model.cluster import CLUSTER_PROBE_SCHEMA, ClusterProbeResult
from dlrig.model.files import read_bounded

MAX_REPORT_BYTES = 50_000_000  # a 4,096-node report with every node's probe is ~40 MB


def read_measured(path: Path) -> tuple[float, str]:
    """(peak all-reduce bus bandwidth over all ranks of several nodes in GB/s, a description);
    a `BuildFileError` for anything that is not a complete multi-node cluster report."""
    shown = str(path)
    raw = read_bounded(path, shown, MAX_REPORT_BYTES, "a dlrig.cluster/1 JSON report")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BuildFileError(shown, "", f"not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(data, dict) or data.get("schema") != CLUSTER_PROBE_SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise BuildFileError(shown, "schema", f"expected {CLUSTER_PROBE_SCHEMA!r}, got {got!r}")
    body = {k: v for k, v in data.items() if k != "schema"}
    try:
        result = ClusterProbeResult.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise BuildFileError(shown, key, str(err["msg"]).lower()) from None
    if not result.complete:
        raise BuildFileError(
            shown, "complete", f"a partial report ({result.status}); rerun the probe"
        )
    if len(result.nodes) < 2:
        raise BuildFileError(shown, "nodes", "one node: no network between nodes was measured")
    series = result.series("all_reduce", "all")
    peak = series.peak_busbw_gbs if series is not None else None
    if series is None or not peak:
        raise BuildFileError(shown, "collectives", "no all_reduce over all ranks")
    largest = max(p.size_bytes for p in series.points)
    text = (
        f"{shown}: all_reduce over {series.ranks} ranks on {len(result.nodes)} nodes "
        f"({series.backend}), up to {largest} bytes"
    )
    return peak, text


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not strict JSON")
