"""What `profile()` returns: measured times, the verdict and the what-if predictions.

`report.to_dict()` is plain JSON data; `print(report)` and rich's `console.print(report)` show
it as plain text (`pipeline/summary.py`); `dlrig.report.pipeline.render_profile(report)` draws
the tables `dlrig pipeline` prints. The pipeline layer never imports the report layer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dlrig.pipeline.whatif import (
    DS_ANALYZER,
    VERDICT_SOURCE,
    Prediction,
    Stages,
    Verdict,
    as_dict,
    top,
)

SCHEMA = "dlrig.pipeline.profile/1"


@dataclass
class PipelineReport:
    device: str
    loop: str  # serial | async-load | prefetched
    steps: int
    step_s: float  # wall time per step, measured over the whole run
    wait_s: float  # mean time blocked in next(loader)
    wait_p95_s: float
    h2d_s: float  # mean host-to-device copy time inside the loop (0 on CPU)
    compute_s: float  # mean step_fn time (CUDA events on GPU, wall clock on CPU)
    input_fraction: float  # (wait + h2d) / step
    verdict: Verdict
    gpu_util_pct: float | None = None
    gpu_util_unavailable: str | None = None
    stages: Stages | None = None
    model_step_s: float | None = None  # the what-if model's step time for the loop as it is
    bottleneck: str | None = None
    predictions: list[Prediction] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def batches_per_s(self) -> float:
        return 1.0 / self.step_s if self.step_s > 0 else 0.0

    @property
    def top(self) -> Prediction | None:
        """The applicable fix with the largest predicted gain."""
        return top(self.predictions)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["schema"] = SCHEMA
        out["verdict"] = str(self.verdict)
        out["batches_per_s"] = self.batches_per_s
        out["predictions"] = [as_dict(p) for p in self.predictions]
        out["top"] = self.top.fix if self.top else None
        out["sources"] = {"verdict": VERDICT_SOURCE, "what_if": DS_ANALYZER}
        if self.stages is not None:
            out["stages"]["loop"] = str(self.stages.loop)
            out["stages"]["read_s"] = self.stages.read_s
        return out

    def __rich__(self) -> str:
        return str(self)  # plain text without square brackets: no rich markup in it

    def __str__(self) -> str:
        from dlrig.pipeline.summary import summary_text

        return summary_text(self)
