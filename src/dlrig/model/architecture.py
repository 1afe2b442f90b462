"""A `ModelSpec` from a local Hugging Face config.json, or from a bare parameter count.

Parameter counts from a config are computed from the architecture (attention, MLP, embeddings,
norms; biases left out), which lands within about 0.1 % of the published counts of the presets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dlrig.errors import BuildFileError
from dlrig.model.files import read_bounded
from dlrig.model.text import safe_line
from dlrig.model.workload import ModelKind, ModelSpec

MAX_CONFIG_BYTES = 5_000_000
# Activations that mark a gated MLP (SwiGLU/GeGLU: gate, up and down matrices).
GATED_ACTS = {"silu", "swish", "gelu_pytorch_tanh"}
GATED_TYPES = {
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "gemma",
    "gemma2",
    "gemma3_text",
    "phi3",
    "olmo",
    "olmo2",
    "deepseek_v2",
    "granite",
    "cohere",
}
ENCODER_TYPES = {"bert", "roberta", "deberta", "deberta-v2", "distilbert", "electra"}
# Bare `--params N`: a Llama-style decoder with hidden = 128 x layers (Llama 2 7B: 4096 / 32;
# 13B: 5120 / 40), head dim 128, SwiGLU at 8/3 h, a 32k vocabulary and no GQA, so N ≈ 12·L·h².
BARE_WIDTH_PER_LAYER = 128
BARE_HEAD_DIM = 128
BARE_VOCAB = 32_000
BARE_SEQ_LEN = 4096
BARE_MLP_RATIO = 8 / 3
WIDTH_MULTIPLE = 128
# Sanity limits for a config's numbers: far above any real model (the largest published
# vocabularies are ~256k, widths ~50k, contexts ~10M tokens, expert counts ~256).
MAX_CONFIG_INT = 100_000_000
MAX_PARAMS = 1e13  # also the limit of --params (estimate/request.py)


def _first(cfg: dict[str, Any], *keys: str) -> Any:
    return next((cfg[k] for k in keys if cfg.get(k) is not None), None)


def _int(cfg: dict[str, Any], path: str, *keys: str, required: bool = True) -> int | None:
    value = _first(cfg, *keys)
    if value is None:
        if required:
            raise BuildFileError(
                path, keys[0], "missing: not a Hugging Face model config (need an architecture)"
            )
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_CONFIG_INT:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "…"
        raise BuildFileError(
            path, keys[0], f"expected a positive integer up to {MAX_CONFIG_INT:.0e}, got {shown}"
        )
    return value


def count_params(
    layers: int,
    h: int,
    heads: int,
    kv: int,
    head_dim: int,
    vocab: int,
    inter: int,
    gated: bool,
    tied: bool,
    experts: int = 1,
    positions: int = 0,
) -> int:
    """Weights of a transformer: embeddings, per-layer attention and MLP, norms."""
    q = heads * head_dim
    attention = h * q + 2 * h * kv * head_dim + q * h
    mlp = (3 if gated else 2) * h * inter * experts + (h * experts if experts > 1 else 0)
    per_layer = attention + mlp + 2 * h
    embeddings = vocab * h * (1 if tied else 2) + positions * h
    return layers * per_layer + embeddings + h


def spec_from_config(cfg: dict[str, Any], name: str, path: str) -> ModelSpec:
    """Read the architecture fields every Hugging Face causal-LM / encoder config carries."""
    if not isinstance(cfg, dict):
        raise BuildFileError(path, "", "not a Hugging Face model config: expected a JSON object")
    text_config = cfg.get("text_config") or {}
    if not isinstance(text_config, dict):
        raise BuildFileError(path, "text_config", "expected a JSON object (the language model)")
    cfg = {**cfg, **text_config}  # multimodal configs nest the language model
    layers = _int(cfg, path, "num_hidden_layers", "n_layer", "num_layers")
    h = _int(cfg, path, "hidden_size", "n_embd", "d_model")
    heads = _int(cfg, path, "num_attention_heads", "n_head", "num_heads")
    assert layers and h and heads
    kv = _int(cfg, path, "num_key_value_heads", required=False) or heads
    if kv > heads:
        raise BuildFileError(
            path, "num_key_value_heads", f"{kv} is more than num_attention_heads ({heads})"
        )
    head_dim = _int(cfg, path, "head_dim", required=False) or h // heads
    if head_dim == 0:
        raise BuildFileError(
            path, "num_attention_heads", f"{heads} heads do not fit in hidden_size {h}"
        )
    vocab = _int(cfg, path, "vocab_size", required=False) or 0
    inter = _int(cfg, path, "intermediate_size", "n_inner", "ffn_dim", required=False) or 4 * h
    experts = _int(cfg, path, "num_local_experts", "num_experts", required=False)
    top_k = _int(cfg, path, "num_experts_per_tok", required=False)
    if experts and top_k and top_k > experts:
        raise BuildFileError(
            path, "num_experts_per_tok", f"{top_k} is more than the {experts} experts"
        )
    model_type = str(cfg.get("model_type", "")).lower()
    act = str(_first(cfg, "hidden_act", "activation_function") or "").lower()
    gated = model_type in GATED_TYPES or (act in GATED_ACTS and model_type not in ENCODER_TYPES)
    tied = bool(cfg.get("tie_word_embeddings", model_type in ENCODER_TYPES | {"gpt2"}))
    positions = _int(cfg, path, "max_position_embeddings", "n_positions", required=False)
    learned_pos = model_type in ENCODER_TYPES | {"gpt2", "gpt_neo", "opt"}
    kind = (
        ModelKind.ENCODER
        if model_type in ENCODER_TYPES
        else ModelKind.MOE
        if experts and experts > 1
        else ModelKind.DECODER
    )
    total = count_params(
        layers,
        h,
        heads,
        kv,
        head_dim,
        vocab,
        inter,
        gated,
        tied,
        experts or 1,
        (positions or 0) if learned_pos else 0,
    )
    if total > MAX_PARAMS:
        raise BuildFileError(
            path, "", f"{total:.3g} parameters; expected at most {MAX_PARAMS:.0e} (as --params)"
        )
    active = total
    if kind == ModelKind.MOE and experts and top_k:
        per_expert = (3 if gated else 2) * h * inter
        active = total - layers * per_expert * (experts - top_k)
    return ModelSpec(
        name=name,
        kind=kind,
        params_total=total,
        params_active=active,
        n_layers=layers,
        hidden_size=h,
        n_heads=heads,
        n_kv_heads=kv,
        head_dim=head_dim,
        vocab_size=vocab or None,
        intermediate_size=inter,
        gated_mlp=gated,
        tied_embeddings=tied,
        max_seq_len=positions,
        n_experts=experts if kind == ModelKind.MOE else None,
        experts_per_token=top_k if kind == ModelKind.MOE else None,
        source=f"{path} (parameters counted from the architecture)",
    )


MAX_NAME_CHARS = 200  # a Hub id is at most 96 characters; a local path can be longer


def read_hf_config(path: str | Path) -> ModelSpec:
    shown = str(path)
    p = Path(path)
    raw = read_bounded(p, shown, MAX_CONFIG_BYTES, "a config.json file")
    try:
        cfg = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BuildFileError(shown, "", f"not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise BuildFileError(shown, "", f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise BuildFileError(shown, "", "not valid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise BuildFileError(shown, "", f"not valid JSON: {exc}") from None
    # A config's own name when it has one, else its folder for `config.json` (a model
    # snapshot), else the file name: "llama-3-8b.config.json" → "llama-3-8b".
    fallback = p.parent.name if p.stem == "config" else p.name.split(".")[0]
    name = str(cfg.get("_name_or_path") or "") if isinstance(cfg, dict) else ""
    name = safe_line(name[:MAX_NAME_CHARS])  # shown in every report: no terminal escapes
    return spec_from_config(cfg, name or fallback or p.stem, shown)


def spec_from_params(n: float) -> ModelSpec:
    """A Llama-style decoder of about n parameters (the stated standard assumptions)."""
    # N ≈ 12·L·h² with L = h / 128  →  h = (128·N / 12)^(1/3), rounded to a multiple of 128.
    h = max(
        WIDTH_MULTIPLE,
        round((BARE_WIDTH_PER_LAYER * n / 12) ** (1 / 3) / WIDTH_MULTIPLE) * WIDTH_MULTIPLE,
    )
    layers = max(1, round(h / BARE_WIDTH_PER_LAYER))
    heads = max(1, h // BARE_HEAD_DIM)
    inter = int(BARE_MLP_RATIO * h)
    return ModelSpec(
        name=f"{n:.3g} parameters",
        kind=ModelKind.DECODER,
        params_total=int(n),
        n_layers=layers,
        hidden_size=h,
        n_heads=heads,
        n_kv_heads=heads,
        head_dim=BARE_HEAD_DIM,
        vocab_size=BARE_VOCAB,
        intermediate_size=inter,
        gated_mlp=True,
        tied_embeddings=False,
        max_seq_len=BARE_SEQ_LEN,
        source=(
            f"--params: Llama-style decoder assumed (hidden {h} = 128 x {layers} layers, head dim "
            f"128, SwiGLU 8/3·h, vocabulary {BARE_VOCAB}, no GQA)"
        ),
    )
