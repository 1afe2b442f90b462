"""gpt-oss's real config.json files (openai/gpt-oss-20b and -120b) and hostile variants."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrig.errors import BuildFileError
from dlrig.model.architecture import read_hf_config

HF = Path(__file__).resolve().parent.parent / "data" / "hf"
CONFIGS = Path(__file__).resolve().parents[2] / "src" / "dlrig" / "catalog" / "data" / "hf_configs"


@pytest.mark.parametrize(
    ("name", "layers", "experts", "total_b", "active_b"),
    [("gpt-oss-20b", 24, 32, 20.91, 3.61), ("gpt-oss-120b", 36, 128, 116.83, 5.13)],
)
def test_gpt_oss_configs(name, layers, experts, total_b, active_b):
    m = read_hf_config(CONFIGS / f"{name}.json")
    assert m.kind == "moe" and m.n_layers == layers
    assert (m.n_experts, m.experts_per_token, m.expert_width) == (experts, 4, 2880)
    assert (m.hidden_size, m.n_heads, m.n_kv_heads, m.head_dim) == (2880, 64, 8, 64)
    assert (m.vocab_size, m.tied_embeddings, m.gated_mlp) == (201088, False, True)
    # layer_types alternate sliding_attention / full_attention: half the layers, window 128
    assert (m.sliding_window, m.sliding_window_layers) == (128, layers // 2)
    # model card Table 1 (biases, sinks and norms left out of the count: within 0.1 %)
    assert m.params_total == pytest.approx(total_b * 1e9, rel=0.001)
    # the card's active count leaves out the input embedding (a lookup)
    assert m.params_active - m.vocab_size * m.hidden_size == pytest.approx(
        active_b * 1e9, rel=0.002
    )


@pytest.mark.parametrize(
    ("file", "key"),
    [
        ("gpt-oss-layer-types-short.config.json", "layer_types: 23 entries for 24"),
        ("gpt-oss-experts-disagree.config.json", "experts_per_token: 2 disagrees"),
        ("gpt-oss-quant-config-string.config.json", "quantization_config: expected a JSON object"),
        ("gpt-oss-quant-method-number.config.json", "quant_method: expected a string, got 4"),
    ],
)
def test_hostile_gpt_oss_configs_name_the_key(file, key):
    with pytest.raises(BuildFileError, match=key):
        read_hf_config(HF / file)
