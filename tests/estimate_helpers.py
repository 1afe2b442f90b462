"""Shared builders for estimator tests: a Job on a catalog GPU, tiny hand-computable models."""

from __future__ import annotations

from typing import Any

from dlrig.catalog.lookup import find_gpu
from dlrig.model.workload import Job, ModelKind, ModelSpec


def job(gpu: str = "RTX 4090", **kw: Any) -> Job:
    kw.setdefault("task", "train")
    return Job(gpu=find_gpu(gpu), **kw)


def gpt_layer_spec(h: int = 64, heads: int = 4) -> ModelSpec:
    """A GPT-3-style block as Korthikanti et al. assume it: q = kv = h, i = 4h, GELU, dropout."""
    return ModelSpec(
        name="korthikanti-gpt",
        kind=ModelKind.ENCODER,  # encoders train with dropout, as the paper's GPT does
        params_total=12 * h * h,
        n_layers=1,
        hidden_size=h,
        n_heads=heads,
        n_kv_heads=heads,
        head_dim=h // heads,
        vocab_size=None,
        intermediate_size=4 * h,
        gated_mlp=False,
    )
