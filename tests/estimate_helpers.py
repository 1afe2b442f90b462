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


def toy_decoder(
    *,
    params_total: int,
    hidden: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    vocab: int,
    ffn: int,
    layers: int = 2,
    **extra: Any,
) -> ModelSpec:
    """A tiny Llama-shaped decoder (gated MLP) whose bytes a test works out by hand."""
    return ModelSpec(
        name="toy",
        kind=ModelKind.DECODER,
        params_total=params_total,
        n_layers=layers,
        hidden_size=hidden,
        n_heads=heads,
        n_kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=vocab,
        intermediate_size=ffn,
        gated_mlp=True,
        **extra,
    )


def toy_gqa_decoder(max_seq_len: int) -> ModelSpec:
    """2 layers, hidden 64, 4 heads of 16 (2 KV heads), FFN 128, vocabulary 1000: 2 layers x K
    and V x (2 KV heads x 16) x 2 bytes = 256 bytes of f16 KV per token."""
    return toy_decoder(
        params_total=200_000,
        hidden=64,
        heads=4,
        kv_heads=2,
        head_dim=16,
        vocab=1000,
        ffn=128,
        max_seq_len=max_seq_len,
    )
