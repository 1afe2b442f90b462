"""Hugging Face config.json → ModelSpec, and the bare `--params N` architecture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.errors import BuildFileError
from dlrig.model.architecture import read_hf_config, spec_from_config, spec_from_params

HF = Path(__file__).resolve().parent.parent / "data" / "hf"


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
            r"hidden_size: expected a positive integer up to 1e\+08, got '4096'",
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
