"""A `ModelSpec` from a local Hugging Face config.json, or from a bare parameter count.

Parameter counts from a config are computed from the architecture (attention incl. multi-head
latent attention, dense / gated / mixture-of-experts MLPs with shared experts and leading dense
layers, embeddings, norms; biases left out), which lands within about 0.3 % of the published
counts. The reader is strict: a field of the wrong JSON type is an error naming the key (a string
"false" where a boolean belongs is not read as true).

Families and the keys they use (transformers' configuration_*.py):
- Llama, Mistral, Qwen2/3, Phi-3, Gemma 2/3: num_hidden_layers, hidden_size, num_attention_heads,
  num_key_value_heads, head_dim, intermediate_size; Gemma/Qwen sliding windows (sliding_window,
  use_sliding_window, sliding_window_pattern, layer_types). Keys a Gemma 3 config leaves out take
  transformers' Gemma3TextConfig defaults (CONFIG_DEFAULTS; only where absent, never overriding).
- Mixtral (num_local_experts), Qwen2/3-MoE (num_experts, moe_intermediate_size,
  shared_expert_intermediate_size, mlp_only_layers, decoder_sparse_step), DeepSeek-V2/V3
  (n_routed_experts, n_shared_experts, first_k_dense_replace, moe_layer_freq, and MLA:
  kv_lora_rank, q_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim).
- gpt-oss (model_type gpt_oss): num_local_experts, num_experts_per_tok (and its duplicate
  experts_per_token, which must agree), intermediate_size = one expert's width, sliding_window
  with layer_types (alternating sliding_attention / full_attention), quantization_config
  (quant_method "mxfp4": the experts in MXFP4, read with `--quant mxfp4`). Its attention sinks
  (one learned logit per head and layer, `self_attn.sinks`: 64 x 24 numbers in gpt-oss-20b) add
  no KV cache and no measurable weight; like the biases they are left out of the count.
- Falcon (multi_query, new_decoder_architecture, num_kv_heads / n_head_kv), GPT-BigCode
  (multi_query, n_embd, n_inner), GPT-2 (n_layer, n_embd, n_head).
- BERT / RoBERTa (encoders: a task head, no vocabulary logits), T5 (d_model, d_kv, d_ff,
  num_layers + num_decoder_layers, feed_forward_proj), ViT (image_size, patch_size).
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
# Model types whose MLP is gated (SwiGLU / GeGLU: gate, up and down matrices). Gemma's
# activation is gelu_pytorch_tanh, gated by its architecture, not by the activation's name:
# GPT-BigCode uses the same activation in a plain 2-matrix MLP.
GATED_TYPES = {
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "phi3",
    "olmo",
    "olmo2",
    "deepseek_v2",
    "deepseek_v3",
    "granite",
    "cohere",
}
# For a model type not listed above: these activations mean a gated MLP (Llama-style models).
GATED_ACTS = {"silu", "swish"}
ENCODER_TYPES = {"bert", "roberta", "xlm-roberta", "deberta", "deberta-v2", "distilbert", "electra"}
ENCODER_DECODER_TYPES = {"t5", "mt5", "umt5", "bart", "mbart"}
VISION_TYPES = {"vit", "deit"}
# transformers' config defaults for tie_word_embeddings where the file leaves it out
# (PretrainedConfig defaults to true; Llama-family configs override it to false).
UNTIED_BY_DEFAULT = {
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "phi3",
    "deepseek_v2",
    "deepseek_v3",
    "olmo",
    "olmo2",
}
# Learned absolute position embeddings (a parameter table of max_position_embeddings x h).
LEARNED_POSITIONS = ENCODER_TYPES | {"gpt2", "gpt_neo", "gpt_bigcode", "opt"}
# Layers with a sliding window when the config gives a window but no per-layer list: Gemma 2
# alternates local and global layers; Gemma 3 makes every sliding_window_pattern-th layer
# global (default 6 in transformers' Gemma3TextConfig).
ALTERNATING_WINDOW_TYPES = {"gemma2"}
GEMMA3_TYPES = {"gemma3", "gemma3_text"}
# transformers' defaults for the architecture keys a config.json may leave out, per model_type of
# the language model (text_config's model_type, else the file's). Applied only where the key is
# ABSENT from that dict (a key set to null stays null: a required one is then reported missing);
# a stated value is never overridden. Gemma 3's 4B/12B/27B hub files are sparse (hf_configs/
# SOURCES.md): their text_config, which Gemma3Config builds as Gemma3TextConfig(**text_config),
# leaves out keys such as the heads, KV heads and head_dim.
# Source: huggingface/transformers @ 008f5c8c29be84d4721dc6d1e0fcd72300580be4,
# src/transformers/models/gemma3/configuration_gemma3.py, Gemma3TextConfig.__init__ (vocab_size
# 262_208, hidden_size 2304, intermediate_size 9216, num_hidden_layers 26, num_attention_heads 8,
# num_key_value_heads 4, head_dim 256, max_position_embeddings 131_072, tie_word_embeddings True,
# sliding_window 4096, sliding_window_pattern 6 "for configuring HybridCache to work with 5:1
# attention pattern"; hidden_activation "gelu_pytorch_tanh" and query_pre_attn_scalar 256 change
# no count: the MLP is gated by GATED_TYPES, the scalar only scales attention scores).
_GEMMA3_TEXT_DEFAULTS: dict[str, Any] = {
    "vocab_size": 262_208,
    "hidden_size": 2304,
    "intermediate_size": 9216,
    "num_hidden_layers": 26,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "max_position_embeddings": 131_072,
    "tie_word_embeddings": True,
    "sliding_window": 4096,
    "sliding_window_pattern": 6,
}
CONFIG_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma3": _GEMMA3_TEXT_DEFAULTS,  # Gemma3Config: text_config is a Gemma3TextConfig
    "gemma3_text": _GEMMA3_TEXT_DEFAULTS,
}
GEMMA3_DEFAULT_PATTERN = _GEMMA3_TEXT_DEFAULTS["sliding_window_pattern"]
# Model types whose config carries use_sliding_window (the window applies only when true).
OPT_IN_WINDOW_TYPES = {"qwen2", "qwen2_moe", "qwen3", "qwen3_moe"}
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
MAX_LIST = 10_000  # layer_types / mlp_only_layers: one entry per layer at most
IMAGE_CHANNELS = 3
# quantization_config quant_method values that name a --quant format (model/choices.Quant)
CHECKPOINT_QUANTS = frozenset({"mxfp4", "fp8"})


def _shown(value: Any) -> str:
    # JSON form: strings quoted, control characters escaped (never printed raw).
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _first(cfg: dict[str, Any], *keys: str) -> tuple[str, Any]:
    """(the first of `keys` the config sets to something other than null, its value)."""
    for k in keys:
        if cfg.get(k) is not None:
            return k, cfg[k]
    return keys[0], None


def _int(cfg: dict[str, Any], path: str, *keys: str, required: bool = True) -> int | None:
    key, value = _first(cfg, *keys)
    if value is None:
        if required:
            raise BuildFileError(
                path, key, "missing: not a Hugging Face model config (need an architecture)"
            )
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_CONFIG_INT:
        raise BuildFileError(
            path,
            key,
            f"expected a positive integer up to {MAX_CONFIG_INT:.0e}, got {_shown(value)}",
        )
    return value


def _count(cfg: dict[str, Any], path: str, key: str) -> int | None:
    """A non-negative integer (0 allowed: no shared experts, no leading dense layers)."""
    value = cfg.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CONFIG_INT:
        raise BuildFileError(
            path, key, f"expected an integer from 0 to {MAX_CONFIG_INT:.0e}, got {_shown(value)}"
        )
    return value


def _bool(cfg: dict[str, Any], path: str, key: str, default: bool) -> bool:
    value = cfg.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BuildFileError(
            path, key, f"expected true or false (a JSON boolean), got {_shown(value)}"
        )
    return value


def _str(cfg: dict[str, Any], path: str, *keys: str) -> str:
    key, value = _first(cfg, *keys)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BuildFileError(path, key, f"expected a string, got {_shown(value)}")
    return value.lower()


def _list(cfg: dict[str, Any], path: str, key: str, item: type) -> list[Any] | None:
    value = cfg.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise BuildFileError(path, key, f"expected a list of up to {MAX_LIST} entries")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, item):
            what = "strings" if item is str else "integers"
            raise BuildFileError(path, key, f"expected a list of {what}, got {_shown(v)} in it")
    return value


# --------------------------------------------------------------------------- counting


def attention_params(m: ModelSpec) -> int:
    """One attention block's matrices: q, k, v, o; with multi-head latent attention (DeepSeek-V2
    paper, Sec. 2.1) the down- and up-projections of the query and KV latents and their norms."""
    h = m.hidden_size or 0
    heads = m.n_heads or 0
    if m.kv_lora_rank is not None:
        nope, rope = m.qk_nope_head_dim or 0, m.qk_rope_head_dim or 0
        v = m.v_head_dim or 0
        if m.q_lora_rank:
            q = h * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * heads * (nope + rope)
        else:
            q = h * heads * (nope + rope)
        kv = h * (m.kv_lora_rank + rope) + m.kv_lora_rank + m.kv_lora_rank * heads * (nope + v)
        return q + kv + heads * v * h
    q = heads * (m.head_dim or 0)
    return h * q + 2 * h * m.kv_dim + q * h


def mlp_params(h: int, width: int, gated: bool) -> int:
    return (3 if gated else 2) * h * width


def moe_layer_params(m: ModelSpec) -> tuple[int, int]:
    """(all parameters of one MoE MLP, those one token uses): routed experts, router, shared."""
    h = m.hidden_size or 0
    one = mlp_params(h, m.expert_width, m.gated_mlp)
    shared = (m.n_shared_experts or 0) * mlp_params(
        h, m.shared_expert_intermediate_size or m.expert_width, m.gated_mlp
    )
    router = h * (m.n_experts or 0)
    total = (m.n_experts or 0) * one + router + shared
    active = (m.experts_per_token or 0) * one + router + shared
    return total, active


def count_params(m: ModelSpec, positions: int = 0, head_outputs: int = 0) -> tuple[int, int]:
    """(total, active per token) weights of a transformer spec: embeddings, every layer's
    attention, MLP (dense, or MoE after the leading dense layers) and norms."""
    h = m.hidden_size or 0
    layers = m.n_layers or 0
    attention = attention_params(m)
    dense_mlp = mlp_params(h, m.intermediate_size or 0, m.gated_mlp)
    norms = 2 * h
    if m.kind == ModelKind.MOE:
        moe_total, moe_active = moe_layer_params(m)
        dense_layers = min(m.first_dense_layers, layers)
        moe_layers = layers - dense_layers
        body = dense_layers * (attention + dense_mlp + norms)
        total = body + moe_layers * (attention + moe_total + norms)
        active = body + moe_layers * (attention + moe_active + norms)
    else:
        total = active = layers * (attention + dense_mlp + norms)
    if m.n_decoder_layers:
        # Encoder-decoder: decoder blocks add cross-attention and a third norm.
        dec = m.n_decoder_layers * (2 * attention + dense_mlp + 3 * h)
        total, active = total + dec + h, active + dec + h
    vocab = m.vocab_size or 0
    embeddings = vocab * h * (1 if m.tied_embeddings else 2) + positions * h + head_outputs * h
    if m.kind == ModelKind.VIT and m.patch_size:
        # Patch embedding (a p x p x 3 convolution to h), class token, position table.
        embeddings += IMAGE_CHANNELS * m.patch_size**2 * h + h + m.patches * h
    return total + embeddings + h, active + embeddings + h


# --------------------------------------------------------------------------- reading


def _kv_heads(cfg: dict[str, Any], path: str, model_type: str, heads: int) -> int:
    """KV heads: GQA's num_key_value_heads; Falcon's multi_query (one KV head) unless its
    new_decoder_architecture gives num_kv_heads; GPT-BigCode's multi_query (default true)."""
    if model_type == "falcon":
        new = _bool(cfg, path, "new_decoder_architecture", False)
        multi = _bool(cfg, path, "multi_query", True)
        if new:
            return _int(cfg, path, "num_kv_heads", "n_head_kv", required=False) or heads
        # transformers' FalconAttention: num_kv_heads only with the new architecture.
        return 1 if multi else heads
    if model_type == "gpt_bigcode":
        return 1 if _bool(cfg, path, "multi_query", True) else heads
    if _bool(cfg, path, "multi_query", False):
        return 1
    return _int(cfg, path, "num_key_value_heads", "num_kv_heads", required=False) or heads


def _sliding(
    cfg: dict[str, Any], path: str, model_type: str, layers: int
) -> tuple[int | None, int | None]:
    """(window, layers that use it) or (None, None)."""
    window = _int(cfg, path, "sliding_window", required=False)
    enabled = _bool(cfg, path, "use_sliding_window", model_type not in OPT_IN_WINDOW_TYPES)
    if window is None or not enabled:
        return None, None
    types = _list(cfg, path, "layer_types", str)
    if types is not None:
        if len(types) != layers:
            # one entry per layer (transformers validates the same: layer_type_validation)
            raise BuildFileError(
                path, "layer_types", f"{len(types)} entries for {layers} num_hidden_layers"
            )
        return window, sum(1 for t in types if t == "sliding_attention")
    if model_type in ALTERNATING_WINDOW_TYPES:
        return window, layers // 2
    if model_type in GEMMA3_TYPES:
        pattern = _int(cfg, path, "sliding_window_pattern", required=False)
        pattern = pattern or GEMMA3_DEFAULT_PATTERN
        return window, layers - layers // pattern
    return window, None  # every layer (Mistral 7B v0.1, Phi-3)


def _moe(cfg: dict[str, Any], path: str, model_type: str, layers: int) -> dict[str, Any]:
    experts = _int(
        cfg, path, "num_local_experts", "num_experts", "n_routed_experts", required=False
    )
    if not experts or experts == 1:
        return {}
    top_k = _int(cfg, path, "num_experts_per_tok", "num_experts_per_token", required=False)
    if top_k is None:
        raise BuildFileError(path, "num_experts_per_tok", "missing: an MoE config names it")
    # gpt-oss's config repeats the count as experts_per_token: two values must not disagree
    again = _int(cfg, path, "experts_per_token", required=False)
    if again is not None and again != top_k:
        raise BuildFileError(
            path, "experts_per_token", f"{again} disagrees with num_experts_per_tok {top_k}"
        )
    if top_k > experts:
        raise BuildFileError(
            path, "num_experts_per_tok", f"{top_k} is more than the {experts} experts"
        )
    moe_width = _int(cfg, path, "moe_intermediate_size", required=False)
    shared = _count(cfg, path, "n_shared_experts")
    # 0 means no shared expert (Qwen3-Coder-30B-A3B-Instruct's config writes it so)
    shared_width = _count(cfg, path, "shared_expert_intermediate_size") or None
    if shared_width and not shared:
        shared = 1  # Qwen2-MoE: one shared expert of that width
    dense = _count(cfg, path, "first_k_dense_replace") or 0
    only_dense = _list(cfg, path, "mlp_only_layers", int)
    if only_dense:
        dense += len(only_dense)
    step = _int(cfg, path, "decoder_sparse_step", required=False)
    if step and step > 1:
        dense += layers - layers // step
    if dense > layers:
        raise BuildFileError(path, "first_k_dense_replace", f"{dense} dense layers of {layers}")
    return {
        "n_experts": experts,
        "experts_per_token": top_k,
        "moe_intermediate_size": moe_width,
        "n_shared_experts": shared,
        "shared_expert_intermediate_size": shared_width,
        "first_dense_layers": dense,
    }


def _quantization(cfg: dict[str, Any], path: str) -> str:
    """The checkpoint's quant_method ("" without a quantization_config), type-checked: the
    stored format is chosen with --quant, so only a malformed entry is an error here."""
    qc = cfg.get("quantization_config")
    if qc is None:
        return ""
    if not isinstance(qc, dict):
        raise BuildFileError(path, "quantization_config", "expected a JSON object")
    method = qc.get("quant_method")
    if method is not None and not isinstance(method, str):
        raise BuildFileError(
            path, "quantization_config.quant_method", f"expected a string, got {_shown(method)}"
        )
    _list(qc, path, "modules_to_not_convert", str)
    return (method or "").lower()


def _mla(cfg: dict[str, Any], path: str) -> dict[str, Any]:
    rank = _int(cfg, path, "kv_lora_rank", required=False)
    if rank is None:
        return {}
    return {
        "kv_lora_rank": rank,
        "q_lora_rank": _int(cfg, path, "q_lora_rank", required=False),
        "qk_rope_head_dim": _int(cfg, path, "qk_rope_head_dim"),
        "qk_nope_head_dim": _int(cfg, path, "qk_nope_head_dim"),
        "v_head_dim": _int(cfg, path, "v_head_dim"),
    }


def _kind(cfg: dict[str, Any], path: str, model_type: str, moe: bool) -> ModelKind:
    if model_type in VISION_TYPES:
        return ModelKind.VIT
    if model_type in ENCODER_DECODER_TYPES or _bool(cfg, path, "is_encoder_decoder", False):
        return ModelKind.ENCODER_DECODER
    if model_type in ENCODER_TYPES:
        return ModelKind.ENCODER
    return ModelKind.MOE if moe else ModelKind.DECODER


def _gated(cfg: dict[str, Any], path: str, model_type: str, kind: ModelKind) -> bool:
    if kind == ModelKind.ENCODER_DECODER:
        # T5: feed_forward_proj "relu" (t5-base) or "gated-gelu" (T5 v1.1, Flan-T5).
        return _str(cfg, path, "feed_forward_proj").startswith("gated")
    if model_type in GATED_TYPES:
        return True
    if kind in (ModelKind.ENCODER, ModelKind.VIT):
        return False
    act = _str(cfg, path, "hidden_act", "activation_function", "hidden_activation")
    return act in GATED_ACTS and model_type not in LEARNED_POSITIONS | {"falcon"}


def spec_from_config(cfg: dict[str, Any], name: str, path: str) -> ModelSpec:
    """Read the architecture fields of a Hugging Face config (see the module docstring)."""
    if not isinstance(cfg, dict):
        raise BuildFileError(path, "", "not a Hugging Face model config: expected a JSON object")
    text_config = cfg.get("text_config")
    if text_config is not None and not isinstance(text_config, dict):
        raise BuildFileError(path, "text_config", "expected a JSON object (the language model)")
    # transformers builds the language model's config from text_config alone (Gemma3Config:
    # Gemma3TextConfig(**text_config)), so its defaults fill that dict, not the outer one.
    language, defaulted = _with_defaults(
        text_config if text_config is not None else cfg,
        _str(text_config or {}, path, "model_type") or _str(cfg, path, "model_type"),
    )
    # multimodal configs nest the language model
    cfg = language if text_config is None else {**cfg, **language}
    model_type = _str(cfg, path, "model_type")
    stored = _quantization(cfg, path)
    layers = _int(cfg, path, "num_hidden_layers", "n_layer", "num_layers")
    h = _int(cfg, path, "hidden_size", "n_embd", "d_model")
    heads = _int(cfg, path, "num_attention_heads", "n_head", "num_heads")
    assert layers and h and heads
    kv = _kv_heads(cfg, path, model_type, heads)
    if kv > heads:
        raise BuildFileError(
            path, "num_key_value_heads", f"{kv} is more than num_attention_heads ({heads})"
        )
    head_dim = _int(cfg, path, "head_dim", "d_kv", required=False) or h // heads
    if head_dim == 0:
        raise BuildFileError(
            path, "num_attention_heads", f"{heads} heads do not fit in hidden_size {h}"
        )
    vocab = _int(cfg, path, "vocab_size", required=False) or 0
    inter = (
        _int(
            cfg,
            path,
            "intermediate_size",
            "n_inner",
            "ffn_dim",
            "d_ff",
            "ffn_hidden_size",
            required=False,
        )
        or 4 * h
    )
    moe = _moe(cfg, path, model_type, layers)
    kind = _kind(cfg, path, model_type, bool(moe))
    gated = _gated(cfg, path, model_type, kind)
    tied = _bool(cfg, path, "tie_word_embeddings", model_type not in UNTIED_BY_DEFAULT)
    positions = _int(cfg, path, "max_position_embeddings", "n_positions", required=False)
    window, window_layers = _sliding(cfg, path, model_type, layers)
    fields: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "n_layers": layers,
        "hidden_size": h,
        "n_heads": heads,
        "n_kv_heads": kv,
        "head_dim": head_dim,
        "vocab_size": vocab or None,
        "intermediate_size": inter,
        "gated_mlp": gated,
        "tied_embeddings": tied,
        "max_seq_len": positions,
        "sliding_window": window,
        "sliding_window_layers": window_layers,
        # a format --quant can size (gpt-oss: mxfp4; DeepSeek-V3's block-wise fp8); others unnamed
        "checkpoint_quant": stored if stored in CHECKPOINT_QUANTS else None,
        **moe,
        **_mla(cfg, path),
    }
    head_outputs = 0
    if kind == ModelKind.ENCODER_DECODER:
        fields["n_decoder_layers"] = _int(cfg, path, "num_decoder_layers", required=False) or layers
        fields["max_seq_len"] = positions  # T5's relative positions: no table, no hard limit
    if kind == ModelKind.VIT:
        fields["image_size"] = _int(cfg, path, "image_size")
        fields["patch_size"] = _int(cfg, path, "patch_size")
        fields["vocab_size"] = None
        labels = cfg.get("id2label")
        head_outputs = len(labels) if isinstance(labels, dict) else 0
    learned = positions if model_type in LEARNED_POSITIONS and positions else 0
    if kind == ModelKind.ENCODER and learned:
        learned += _count(cfg, path, "type_vocab_size") or 0  # BERT's segment embeddings
    draft = ModelSpec(params_total=1, **fields)
    if kind == ModelKind.VIT:
        fields["max_seq_len"] = draft.patches
    total, active = count_params(draft, learned, head_outputs)
    if total > MAX_PARAMS:
        raise BuildFileError(
            path, "", f"{total:.3g} parameters; expected at most {MAX_PARAMS:.0e} (as --params)"
        )
    return ModelSpec(
        **fields,
        params_total=total,
        params_active=active,
        source=f"{path} (parameters counted from the architecture{_defaults_note(defaulted)})",
    )


def _with_defaults(cfg: dict[str, Any], model_type: str) -> tuple[dict[str, Any], list[str]]:
    """(cfg with transformers' defaults for model_type where a key is absent, the keys filled)."""
    defaults = CONFIG_DEFAULTS.get(model_type, {})
    filled = [k for k in defaults if k not in cfg]
    return {**{k: defaults[k] for k in filled}, **cfg}, filled


def _defaults_note(filled: list[str]) -> str:
    if not filled:
        return ""
    return f"; transformers' defaults for {', '.join(filled)}"


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
    name = cfg.get("_name_or_path") if isinstance(cfg, dict) else None
    name = name if isinstance(name, str) else ""
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
