"""The async input pipeline: `Prefetcher` (overlap loading and copying with compute) and
`profile` (how much of each step waits on input, and what would fix it).

Imports without PyTorch; `device="cuda"` imports it when a `Prefetcher` is created.
"""

from dlrig.pipeline.prefetch import Prefetcher
from dlrig.pipeline.profile import profile
from dlrig.pipeline.result import PipelineReport
from dlrig.pipeline.whatif import Loop, Prediction, Stages, Verdict

__all__ = ["Loop", "PipelineReport", "Prediction", "Prefetcher", "Stages", "Verdict", "profile"]
