"""Hugging Face config.json → ModelSpec, and the bare `--params N` architecture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.errors import BuildFileError
from dlrig.model.architecture import read_hf_config, spec_from_config, spec_from_params

HF = Path(__file__).resolve().parent.parent / "data" / "hf"
CONFIGS = Path(__file__).resolve().parents[2] / "src" / "dlrig" / "catalog" / "data" / "hf_configs"


def real(name: str):
    path = CONFIGS / name if (CONFIGS / name).exists() else HF / name
    return read_hf_config(path)


def test_qwen3_moe_counts_routed_experts_at_moe_intermediate_size():
    # Bug: moe_intermediate_size was ignored (experts at intermediate_size 6144): 233B.
    # Qwen: Qwen3-30B-A3B has 30.5B parameters, 3.3B activated.
    m = real("qwen3-30b-a3b.json")
    assert m.kind == "moe" and m.expert_width == 768 and m.n_experts == 128
    assert m.params_total == pytest.approx(30.5e9, rel=0.005)
    assert m.params_active == pytest.approx(3.3e9, rel=0.02)


def test_deepseek_v3_mla_shared_experts_and_first_dense_layers():
    # DeepSeek-V3 technical report: 671B total, 37B activated per token.
    m = real("deepseek-v3.json")
    assert (m.kv_lora_rank, m.qk_rope_head_dim, m.first_dense_layers) == (512, 64, 3)
    assert (m.n_experts, m.n_shared_experts, m.experts_per_token) == (256, 1, 8)
    assert m.params_total == pytest.approx(671e9, rel=0.005)
    assert m.params_active == pytest.approx(37e9, rel=0.02)
    # MLA caches the 512-wide latent and the 64-wide RoPE key, not 2 x 128 heads x 128.
    assert m.kv_cache_width == 512 + 64


def test_a_shared_expert_width_of_zero_means_no_shared_expert():
    # Bug: shared_expert_intermediate_size 0 (Qwen3-Coder-30B-A3B-Instruct's config.json) was
    # refused as not a positive integer. It is Qwen3-30B-A3B's MoE without a shared expert.
    m = real("qwen3-coder-30b-a3b-instruct.json")
    base = real("qwen3-30b-a3b.json")
    assert not m.n_shared_experts and not m.shared_expert_intermediate_size
    assert (m.params_total, m.params_active) == (base.params_total, base.params_active)
    assert m.max_seq_len == 262144


def test_falcon_multi_query_means_one_kv_head():
    # Bug: multi_query was ignored. Falcon-7B: 6.92B parameters, one KV head of 64.
    m = real("falcon-7b-instruct.config.json")
    assert m.n_kv_heads == 1 and m.head_dim == 64
    assert not m.gated_mlp and m.tied_embeddings
    assert m.params_total == pytest.approx(6.92e9, rel=0.002)


def test_gpt_bigcode_multi_query_and_gelu_tanh_is_not_gated():
    # Bugs: multi_query ignored; gelu_pytorch_tanh taken for a gated MLP. SantaCoder: 1.1B.
    m = real("santacoder.config.json")
    assert m.n_kv_heads == 1 and not m.gated_mlp
    assert m.params_total == pytest.approx(1.12e9, rel=0.01)


def test_gemma_is_gated_by_its_architecture_and_windows_alternate():
    g2 = real("gemma-2-9b-it.json")
    assert g2.gated_mlp and g2.params_total == pytest.approx(9.24e9, rel=0.003)
    assert (g2.sliding_window, g2.sliding_window_layers) == (4096, 21)  # every other layer
    g3 = real("gemma-3-1b.config.json")
    assert g3.gated_mlp and g3.params_total == pytest.approx(1.0e9, rel=0.003)
    assert (g3.sliding_window, g3.sliding_window_layers) == (1024, 22)  # 5 of every 6


def _gemma3_1b_without(*keys: str) -> dict:
    cfg = json.loads((HF / "gemma-3-1b.config.json").read_text())
    for k in keys:
        del cfg[k]
    return cfg


def test_gemma3_keys_left_out_take_transformers_defaults():
    # Gemma3TextConfig.__init__ (transformers @ 008f5c8c, configuration_gemma3.py): head_dim 256,
    # sliding_window_pattern 6, query_pre_attn_scalar 256, hidden_activation gelu_pytorch_tanh,
    # the values Gemma 3 1B's config states. Left out, they still count its published 1.0B
    # (text-only model: no vision tower on either side), the same count as when stated.
    stated = real("gemma-3-1b.config.json")
    cfg = _gemma3_1b_without(
        "head_dim", "sliding_window_pattern", "query_pre_attn_scalar", "hidden_activation"
    )
    m = spec_from_config(cfg, "gemma-3-1b", "gemma-3-1b.config.json")
    assert m.params_total == stated.params_total == find_model("gemma-3-1b").params_total
    assert m.params_total == pytest.approx(1.0e9, rel=0.003)
    assert (m.head_dim, m.sliding_window, m.sliding_window_layers) == (256, 1024, 22)
    assert "transformers' defaults for head_dim, tie_word_embeddings, sliding_window_pattern" in (
        m.source
    )


def test_gemma3_defaults_fill_text_config_and_never_override_a_stated_key():
    # Nested as the 4B/12B/27B hub files nest it (Gemma3Config builds Gemma3TextConfig from
    # text_config alone): heads, KV heads, head_dim and vocab left out take 8, 4, 256, 262208;
    # the stated layers, width and window stay.
    text = _gemma3_1b_without("num_attention_heads", "num_key_value_heads", "head_dim")
    del text["vocab_size"]
    text["model_type"] = "gemma3_text"
    m = spec_from_config({"model_type": "gemma3", "text_config": text}, "g3", "config.json")
    assert (m.n_heads, m.n_kv_heads, m.head_dim, m.vocab_size) == (8, 4, 256, 262_208)
    assert (m.n_layers, m.hidden_size, m.sliding_window) == (26, 1152, 1024)
    # A stated key is kept: the 1B's 4 query heads and 1 KV head, with only head_dim left out.
    m = spec_from_config(_gemma3_1b_without("head_dim"), "g3", "config.json")
    assert (m.n_heads, m.n_kv_heads, m.head_dim) == (4, 1, 256)
    # No defaults for other model types: a Llama config without heads is still refused.
    llama = json.loads((HF / "llama-3-8b.config.json").read_text())
    del llama["num_attention_heads"]
    with pytest.raises(BuildFileError, match="num_attention_heads: missing"):
        spec_from_config(llama, "llama", "config.json")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("8", r'num_attention_heads: expected a positive integer .*got "8"'),
        (None, r"num_attention_heads: missing"),  # present as null: not defaulted
    ],
)
def test_gemma3_defaults_keep_the_reader_strict(value, message):
    text = _gemma3_1b_without("num_attention_heads")
    text["num_attention_heads"] = value
    with pytest.raises(BuildFileError, match=message):
        spec_from_config({"model_type": "gemma3", "text_config": text}, "g3", "config.json")


def test_phi3_window_on_every_layer_and_qwen_window_only_when_enabled():
    phi3 = real("phi-3-mini-4k-instruct.config.json")
    assert phi3.params_total == pytest.approx(3.82e9, rel=0.003)
    assert (phi3.sliding_window, phi3.sliding_window_layers) == (2047, None)
    assert real("qwen3-8b.json").sliding_window is None  # use_sliding_window false


def test_encoder_decoder_and_vision_configs():
    t5 = real("t5-base-resaved.json")
    assert t5.kind == "encoder-decoder" and t5.total_layers == 24 and t5.has_vocab_head
    assert t5.params_total == pytest.approx(222.9e6, rel=0.005)
    vit = real("vit-base-patch16-224-resaved.json")
    assert vit.kind == "vit" and vit.vocab_size is None and vit.patches == 197
    assert vit.params_total == pytest.approx(86.57e6, rel=0.005)
    bert = real("bert-base-uncased.json")
    assert bert.kind == "encoder" and not bert.has_vocab_head
    assert bert.params_total == pytest.approx(109.48e6, rel=0.01)  # biases and pooler left out


@pytest.mark.parametrize(
    ("name", "message"),
    [
        # Bug: the string "false" was read as true (a non-empty string).
        ("tie-string.config.json", r'tie_word_embeddings: expected true or false .*got "false"'),
        ("multi-query-string.config.json", r'multi_query: expected true or false .*got "true"'),
        ("moe-size-string.config.json", r"moe_intermediate_size: expected a positive integer"),
        ("layer-types-bad.config.json", r"layer_types: expected a list of strings, got 7"),
    ],
)
def test_wrong_json_types_are_errors_naming_the_key(name, message):
    with pytest.raises(BuildFileError, match=message):
        read_hf_config(HF / name)


def test_a_string_bool_is_exit_2_from_the_cli(capsys):
    from dlrig.cli import run

    argv = ["estimate", "--config", str(HF / "tie-string.config.json"), "--task", "infer"]
    assert run([*argv, "--gpu", "RTX 4090"]) == 2
    err = capsys.readouterr().err
    assert "tie_word_embeddings" in err and len(err.strip().splitlines()) == 1


def test_llama3_config_counts_exactly_the_published_parameters():
    m = read_hf_config(HF / "llama-3-8b.config.json")
    preset = find_model("llama-3-8b")
    assert m.params_total == preset.params_total == 8_030_261_248
    assert (m.n_kv_heads, m.head_dim, m.gated_mlp, m.tied_embeddings) == (8, 128, True, False)


def test_mixtral_total_and_active_parameters():
    m = read_hf_config(HF / "mixtral.config.json")
    assert m.kind == "moe"
    assert m.params_total == 46_702_792_704  # Mistral AI: 46.7B total
    assert m.params_active == pytest.approx(12.88e9, rel=0.01)  # 12.9B active per token


def test_gpt2_old_style_keys_within_a_tenth_of_a_percent():
    m = read_hf_config(HF / "gpt2.config.json")
    assert (m.n_layers, m.hidden_size, m.intermediate_size) == (12, 768, 3072)
    assert m.tied_embeddings and not m.gated_mlp
    assert m.params_total == pytest.approx(124_439_808, rel=1e-3)  # biases left out


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("tokenizer_config.json", r"num_hidden_layers: missing: not a Hugging Face model config"),
        ("truncated.config.json", r"not valid JSON"),
        (
            "string-size.config.json",
            r'hidden_size: expected a positive integer up to 1e\+08, got "4096"',
        ),
        ("array.config.json", r"not a Hugging Face model config: expected a JSON object"),
        ("missing.json", r"file not found"),
    ],
)
def test_bad_configs_are_one_line_errors(name, message):
    with pytest.raises(BuildFileError, match=message) as err:
        read_hf_config(HF / name)
    assert name in err.value.one_line()


def test_text_config_of_a_multimodal_model_is_used(tmp_path):
    cfg = json.loads((HF / "llama-3-8b.config.json").read_text())
    wrapped = {"model_type": "llava", "text_config": cfg}
    assert spec_from_config(wrapped, "llava", "x").params_total == 8_030_261_248


@pytest.mark.parametrize("n", [1.3e8, 7e9, 13e9, 70e9])
def test_bare_params_give_a_llama_shaped_model_of_about_that_size(n):
    m = spec_from_params(n)
    h, layers = m.hidden_size, m.n_layers
    assert h % 128 == 0 and h == pytest.approx(128 * layers, rel=0.1)
    # The synthesised architecture's 12·L·h² lands within 25 % of n (rounding to 128).
    assert 12 * layers * h * h == pytest.approx(n, rel=0.25)
    assert m.params_total == int(n)


def test_bare_13b_is_llama2_13b_shaped():
    m = spec_from_params(13e9)
    assert (m.hidden_size, m.n_layers) == (5120, 40)


def test_config_name_comes_from_the_file_or_its_folder(tmp_path):
    assert read_hf_config(HF / "llama-3-8b.config.json").name == "llama-3-8b"
    snapshot = tmp_path / "Meta-Llama-3-8B"
    snapshot.mkdir()
    (snapshot / "config.json").write_text((HF / "llama-3-8b.config.json").read_text())
    assert read_hf_config(snapshot / "config.json").name == "Meta-Llama-3-8B"


LLAMA = json.loads((HF / "llama-3-8b.config.json").read_text())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"text_config": "abc"}, r"text_config: expected a JSON object"),
        (
            {"num_attention_heads": 8192},
            r"num_attention_heads: 8192 heads do not fit in hidden_size 4096",
        ),
        (
            {"num_key_value_heads": 64},
            r"num_key_value_heads: 64 is more than num_attention_heads \(32\)",
        ),
        (
            {"num_local_experts": 4, "num_experts_per_tok": 8},
            r"num_experts_per_tok: 8 is more than the 4 experts",
        ),
        (
            {"hidden_size": 10**30},
            r"hidden_size: expected a positive integer up to 1e\+08, got 1000000000000000000000000000000",
        ),
        ({"num_hidden_layers": 10**7}, r"parameters; expected at most 1e\+13"),
    ],
)
def test_impossible_configs_are_refused(tmp_path, change, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**LLAMA, **change}))
    with pytest.raises(BuildFileError, match=message):
        read_hf_config(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 5000 + "]" * 5000, r"not valid JSON: nested too deeply"),
        ('{"hidden_size": 1' + "0" * 5000 + "}", r"not valid JSON: .*digits"),
    ],
)
def test_hostile_json_is_refused(tmp_path, text, message):
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(BuildFileError, match=message):
        read_hf_config(path)


def test_endless_file_is_not_read_to_the_end():
    with pytest.raises(
        BuildFileError, match=r"/dev/zero: is a character device, not a regular file"
    ):
        read_hf_config("/dev/zero")


@pytest.mark.parametrize(
    ("name", "total", "active", "rel"),
    [
        # Published counts (model cards / papers; see hf_configs/SOURCES.md for the files).
        ("llama-3.1-8b.json", 8.03e9, 8.03e9, 0.01),
        ("llama-3.1-70b.json", 70.6e9, 70.6e9, 0.01),
        ("qwen2.5-7b.json", 7.61e9, 7.61e9, 0.01),
        ("qwen3-8b.json", 8.2e9, 8.2e9, 0.01),
        ("mixtral-8x7b.json", 46.7e9, 12.9e9, 0.01),
        ("qwen3-235b-a22b.json", 235e9, 22e9, 0.01),
        # meta-llama/Llama-3.2-1B model card: 1.23B.
        ("llama-3.2-1b.json", 1.23e9, 1.23e9, 0.01),
        # Llama 3.3 70B model card: 70B; the same shapes as Llama 3.1 70B (70.6B).
        ("llama-3.3-70b-instruct.json", 70.6e9, 70.6e9, 0.01),
        # Qwen2.5 model cards: 1.5B -> 1.54B; 32B -> 32.5B (DeepSeek-R1-Distill-Qwen-32B is
        # Qwen2.5-32B's architecture; DeepSeek's card: 32B).
        ("qwen2.5-1.5b.json", 1.54e9, 1.54e9, 0.01),
        ("qwen2.5-32b.json", 32.5e9, 32.5e9, 0.01),
        ("deepseek-r1-distill-qwen-32b.json", 32.5e9, 32.5e9, 0.01),
        # Qwen3 model cards: 0.6B, 1.7B, 4.0B, 14.8B, 32.8B (given to one decimal: the 0.6B and
        # 1.7B figures are within half their last digit, 0.05B, not within 1 %).
        ("qwen3-0.6b.json", 0.6e9, 0.6e9, 0.05 / 0.6),
        ("qwen3-1.7b.json", 1.7e9, 1.7e9, 0.05 / 1.7),
        ("qwen3-4b.json", 4.0e9, 4.0e9, 0.01),
        ("qwen3-14b.json", 14.8e9, 14.8e9, 0.01),
        ("qwen3-32b.json", 32.8e9, 32.8e9, 0.01),
        # Mistral AI, "Cheaper, Better, Faster, Stronger" (Mixtral 8x22B): 141B total, 39B active.
        ("mixtral-8x22b.json", 141e9, 39e9, 0.01),
        # Phi-4 technical report (arXiv 2412.08905): "14-billion parameter"; the count, 14.66B,
        # is further from 14B than a rounding to the unit, so only within 5 %.
        ("phi-4.json", 14e9, 14e9, 0.05),
        # Code Llama paper (arXiv 2308.12950): 34B.
        ("codellama-34b-instruct-hf.json", 34e9, 34e9, 0.01),
        # Qwen3-Coder-30B-A3B-Instruct model card: 30.5B total, 3.3B activated.
        ("qwen3-coder-30b-a3b-instruct.json", 30.5e9, 3.3e9, 0.01),
    ],
)
def test_every_shipped_config_counts_its_published_size(name, total, active, rel):
    m = real(name)
    assert m.params_total == pytest.approx(total, rel=rel)
    assert m.active_params == pytest.approx(active, rel=max(rel, 0.02))
