"""MXFP4 (`--quant mxfp4`): gpt-oss's experts at 4.25 bits, everything else as the checkpoint
or GGUF stores it; decode reads only the routed experts the batch uses."""

from __future__ import annotations

import json

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.cli import run
from dlrig.estimate.applicable import inapplicable
from dlrig.estimate.shape import derive, linear_params, routed_expert_params
from dlrig.model.architecture import count_params
from dlrig.model.workload import ModelKind, ModelSpec
from estimate_helpers import job

GIB = 2**30


def tiny_moe() -> ModelSpec:
    """One layer, hidden 64, 2 heads of 32 (no GQA), 2 gated experts of width 32, 1 per token,
    vocabulary 100, untied: every tensor countable by hand."""
    draft = ModelSpec(
        name="tiny-moe",
        kind=ModelKind.MOE,
        params_total=1,
        n_layers=1,
        hidden_size=64,
        n_heads=2,
        n_kv_heads=2,
        head_dim=32,
        vocab_size=100,
        intermediate_size=32,
        gated_mlp=True,
        tied_embeddings=False,
        n_experts=2,
        experts_per_token=1,
    )
    total, active = count_params(draft)
    return draft.model_copy(update={"params_total": total, "params_active": active})


def test_mxfp4_bytes_of_a_hand_computable_moe():
    m = tiny_moe()
    # experts: 2 x 3 x 64 x 32 = 12,288 weights at (32 x 4 + 8) / 32 = 4.25 bits = 6,528 bytes
    routed = routed_expert_params(m)
    assert routed == 12_288
    # attention 4 x 64 x 64 = 16,384 and router 64 x 2 = 128 stay bf16 (2 bytes);
    # embedding + untied head 2 x 100 x 64 = 12,800 bf16; the norms (2 x 64 + the final 64) count
    # with the linear layers and stay 16-bit too
    embedding = 2 * 100 * 64
    rest = linear_params(m) - routed
    assert rest == 16_384 + 128 + 2 * 64 + 64
    s = derive(m, job(task="infer", quant="mxfp4", engine="vllm"))
    assert s.routed_weight_bits == 4.25 and s.weight_bits == 16
    assert s.weight_bytes_job == pytest.approx(6_528 + 2 * rest + 2 * embedding)
    # llama.cpp's GGUF keeps the experts in MXFP4 and everything else at Q8_0 (8.5 bits)
    g = derive(m, job(task="infer", quant="mxfp4", engine="llama.cpp"))
    assert g.weight_bytes_job == pytest.approx(6_528 + (rest + embedding) * 8.5 / 8)


def test_decode_reads_only_the_routed_experts():
    m = tiny_moe()
    s = derive(m, job(task="infer", quant="mxfp4", engine="vllm", batch_size=1))
    dense = linear_params(m) - routed_expert_params(m)
    head = 100 * 64
    one_expert = 3 * 64 * 32
    assert s.decode_weight_bytes_per_gpu == pytest.approx(
        2 * dense + 2 * head + one_expert * 4.25 / 8
    )


@pytest.mark.parametrize(
    ("name", "experts", "total_b", "active_b"),
    [("gpt-oss-20b", 32, 20.91, 3.61), ("gpt-oss-120b", 128, 116.83, 5.13)],
)
def test_gpt_oss_presets_against_the_model_card(name, experts, total_b, active_b):
    # gpt-oss model card (arXiv 2508.10925), Table 1: 20.91B total / 3.61B active and
    # 116.83B / 5.13B; its active count leaves out the input embedding (a lookup).
    m = find_model(name)
    assert (m.n_experts, m.experts_per_token, m.expert_width) == (experts, 4, 2880)
    assert m.params_total == pytest.approx(total_b * 1e9, rel=0.001)
    assert m.active_params - m.vocab_size * m.hidden_size == pytest.approx(
        active_b * 1e9, rel=0.002
    )


def test_gpt_oss_20b_checkpoint_sizes():
    m = find_model("gpt-oss-20b")
    # the HF checkpoint: model.safetensors.index.json total_size 13,761,264,768 bytes (card:
    # 12.8 GiB); biases and norms aside, experts at 4.25 bits and the rest bf16
    hf = derive(m, job("H100 SXM", task="infer", quant="mxfp4", engine="vllm"))
    assert hf.weight_bytes_job == pytest.approx(13_761_264_768, rel=0.005)
    # ggml-org's GGUF: llama-bench prints 11.27 GiB for 20.91 B parameters
    gguf = derive(m, job("H100 SXM", task="infer", quant="mxfp4", engine="llama.cpp"))
    assert gguf.weight_bytes_job / GIB == pytest.approx(11.27, rel=0.01)
    # decode: 4 of the 32 experts, about 3.6B weights read per token
    per_token = gguf.decode_weight_bytes_per_gpu
    assert per_token < gguf.weight_bytes_job / 4


def test_mxfp4_is_refused_for_a_dense_model_and_for_training():
    dense = find_model("llama-2-7b")
    found = inapplicable(dense, job(task="infer", quant="mxfp4"), given={"quant"})
    assert found and "experts" in found[0].text()
    moe = find_model("gpt-oss-20b")
    assert not inapplicable(moe, job(task="infer", quant="mxfp4"), given={"quant"})
    assert inapplicable(moe, job(task="train", quant="mxfp4"), given={"quant"})


def test_cli_refuses_mxfp4_on_a_dense_model(capsys):
    line = ["estimate", "--model", "llama-2-7b", "--task", "infer", "--gpu", "RTX 4090"]
    assert run([*line, "--quant", "mxfp4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--quant mxfp4" in err[0] and "llama-2-7b" in err[0]


def test_gpt_oss_20b_preset_estimate_runs_and_fits_a_24gb_card(capsys):
    line = "estimate --model gpt-oss-20b --task infer --quant mxfp4 --engine llama.cpp"
    assert run([*line.split(), "--gpu", "RTX 4090", "--context", "8192", "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["memory"]["fits"]
    assert data["throughput"]["tokens_per_s"] > 0


def test_checkpoint_format_is_read_named_and_offered_first(capsys):
    from dlrig.model.architecture import read_hf_config

    cfg = "src/dlrig/catalog/data/hf_configs/gpt-oss-20b.json"
    assert read_hf_config(cfg).checkpoint_quant == "mxfp4"  # quantization_config.quant_method
    assert find_model("gpt-oss-20b").checkpoint_quant == "mxfp4"
    assert find_model("llama-2-7b").checkpoint_quant is None
    # left at --quant none, a 24 GB card cannot hold the 16-bit copy (about 42 GB); the
    # estimate says the checkpoint is MXFP4 and offers it as the first fix
    line = ["estimate", "--model", "gpt-oss-20b", "--task", "infer", "--no-color"]
    assert run([*line, "--gpu", "RTX 4090"]) == 0  # an estimate, not a build check: exit 0
    out = capsys.readouterr()
    text = " ".join((out.out + out.err).split())
    assert "published checkpoint stores mxfp4" in text
    assert "to fit: --quant mxfp4 " in text


def test_build_file_takes_mxfp4_and_check_refuses_it_on_a_dense_model():
    from helpers import one, run_check

    def check(model):
        workload = {"model": model, "task": "infer", "quant": "mxfp4", "context": 8192}
        return one(run_check({"gpus": [{"model": "RTX 4090"}], "workload": workload}), "gpu-memory")

    assert check("gpt-oss-20b").severity in ("ok", "warning")
    refused = check("llama-3-8b")
    assert refused.severity == "error" and 'quant = "mxfp4"' in refused.message


def test_the_web_page_offers_mxfp4():
    from dlrig.serve.api import choices

    assert "mxfp4" in choices()["workload.quant"]
