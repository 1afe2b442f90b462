"""Memory formulas against the numbers their sources print."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate import memory as mem
from dlrig.estimate import params as p
from dlrig.estimate.job import memory
from dlrig.model.architecture import spec_from_params
from estimate_helpers import gpt_layer_spec, job

GB = 1e9


def test_vendor_gigabytes_are_gibibytes():
    # nvidia-smi shows 24564 MiB on an RTX 4090: "24 GB" is 24 GiB = 25.77e9 bytes.
    assert mem.capacity_gb(24) == pytest.approx(25.769803776)


@pytest.mark.parametrize(
    ("zero", "expected_gb"),
    # ZeRO paper, Fig. 1 / Sec. 5: Ψ = 7.5B, N_d = 64, K = 12 (mixed-precision Adam):
    # baseline 120 GB, P_os 31.4 GB, P_os+g 16.6 GB, P_os+g+p 1.9 GB.
    [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)],
)
def test_zero_paper_model_states(zero, expected_gb):
    m = spec_from_params(7.5e9)
    j = job("A100 80GB SXM", n_gpus=64, zero=zero)
    states = mem.weights_bytes(m, j) + mem.gradient_bytes(m, j) + mem.optimizer_bytes(m, j)
    assert states / GB == pytest.approx(expected_gb, abs=0.05)


def test_korthikanti_34_sbh_per_layer():
    # Korthikanti et al. 2022, Eq. 1 without the attention-score term (FlashAttention):
    # 34·s·b·h bytes per layer with 16-bit activations and one-byte dropout masks.
    m = gpt_layer_spec(h=64)
    s, b = 128, 3
    assert mem.layer_activation_bytes(m, s, b, e=2) == 34 * s * b * 64


def test_checkpointing_keeps_each_layers_input_plus_one_layer():
    m = find_model("llama-2-7b")
    s, b = 2048, 1
    j = job(task="lora", seq_len=s, batch_size=b, checkpointing=True, loss="fused")
    layer = mem.layer_activation_bytes(m, s, b, 2)
    assert mem.activation_bytes(m, j, b) == 32 * 2 * s * b * 4096 + layer


def test_kv_cache_llama2_7b_half_a_megabyte_per_token():
    # 2 (K and V) x 32 layers x 4096 x 2 bytes = 512 KiB per token; 4096 tokens = 2.15 GB.
    m = find_model("llama-2-7b")
    j = job(task="infer", context=4096)
    assert mem.kv_cache_bytes(m, j, b=1) == 2 * 32 * 4096 * 2 * 4096


def test_kv_cache_is_gqa_aware():
    # Llama 3 8B keeps 8 of 32 heads for K and V: a quarter of Llama 2 7B's cache per token.
    j = job(task="infer", context=8192)
    llama3 = mem.kv_cache_bytes(find_model("llama-3-8b"), j, b=1)
    llama2 = mem.kv_cache_bytes(find_model("llama-2-7b"), j, b=1)
    assert llama3 * 4 == llama2


def test_lora_rank8_qv_on_llama2_7b_matches_peft():
    # PEFT prints "trainable params: 4,194,304" for Llama-2-7b, r=8, q_proj and v_proj.
    assert mem.lora_params(find_model("llama-2-7b"), 8, "qv") == 4_194_304


def test_qlora_base_weights_at_nf4_with_double_quant():
    m = find_model("llama-2-7b")
    j = job(task="qlora", lora_rank=8, lora_targets="qv")
    linear = mem.linear_params(m) * p.value("bits_nf4_double_quant") / 8
    expected = linear + m.embedding_params * 2 + 4_194_304 * 4
    assert mem.weights_bytes(m, j) == pytest.approx(expected)
    assert p.value("bits_nf4_double_quant") == pytest.approx(4 + 8 / 64 + 32 / (64 * 256), 1e-3)


def test_inference_weights_shrink_with_quantisation():
    m = find_model("llama-3-8b")
    fp16, int8, int4 = (
        mem.weights_bytes(m, job(task="infer", quant=q)) for q in ("none", "int8", "int4")
    )
    assert fp16 > int8 > int4
    # Llama 3 8B in fp16 is the famous ~16 GB.
    assert fp16 / GB == pytest.approx(16.06, abs=0.01)


def test_adam_states_by_optimizer():
    m = spec_from_params(1e9)
    per = {
        o: mem.optimizer_bytes_per_param(m, job(optimizer=o))
        for o in ("adamw", "sgd", "adam8bit", "adafactor")
    }
    assert per["adamw"] == 12  # fp32 master + momentum + variance
    assert per["sgd"] == 8  # fp32 master + momentum
    assert per["adam8bit"] == 4 + 2
    assert 4 < per["adafactor"] < 4.01  # master + factored second moment


def test_pure_16bit_and_offload_remove_model_states():
    m = find_model("llama-3-8b")
    amp = memory(m, job())
    pure = memory(m, job(master_weights=False))
    offloaded = memory(m, job(offload="optimizer"))
    assert amp.optimizer_gb - pure.optimizer_gb == pytest.approx(4 * m.params_total / GB)
    assert offloaded.optimizer_gb == 0
    full = memory(m, job(offload="full", optimizer_in_backward=True))
    assert full.weights_gb > 0  # two gathered blocks, not the whole model
    assert full.weights_gb < amp.weights_gb / 10


def test_loss_variants_order():
    m = find_model("llama-3-8b")
    acts = {
        loss: memory(m, job(task="lora", loss=loss, batch_size=2)).activations_gb
        for loss in ("standard", "chunked", "fused")
    }
    assert acts["standard"] > acts["chunked"] > acts["fused"]
    # Standard keeps 2 + 4 + 4 bytes per logit, chunked only the 2-byte bf16 logits.
    tokens = 2 * 2048 * 128256
    assert (acts["standard"] - acts["chunked"]) * GB == pytest.approx(tokens * 8)


def test_resnet50_activations_from_the_preset_scale_with_batch_and_precision():
    m = find_model("resnet50")
    fp32 = memory(m, job("A100 80GB SXM", batch_size=64, precision="fp32")).activations_gb
    bf16 = memory(m, job("A100 80GB SXM", batch_size=64)).activations_gb
    assert fp32 == pytest.approx(64 * m.activation_mb_per_sample / 1e3)
    assert bf16 == pytest.approx(fp32 / 2)


def test_fits_and_headroom_are_consistent():
    m = find_model("llama-3-8b")
    est = memory(m, job(task="infer"))
    assert est.fits and est.headroom_gb == pytest.approx(est.capacity_gb - est.per_gpu_gb)
    parts = (
        est.weights_gb
        + est.gradients_gb
        + est.optimizer_gb
        + est.activations_gb
        + est.kv_cache_gb
        + est.overhead_gb
    )
    assert est.per_gpu_gb == pytest.approx(parts)
    assert not memory(find_model("llama-3-70b"), job(task="infer")).fits


def test_inference_prefill_working_set_is_chunked_and_split():
    m = find_model("llama-2-70b")
    big = job("H100 SXM", task="infer", n_gpus=8, batch_size=64, context=4096)
    hf = big.model_copy(update={"engine": "hf"})
    # An optimized engine prefills 2048 tokens per step; plain transformers the whole batch.
    per_token = 2 * 3 * 28672  # gate, up and product, 16-bit
    logits = 64 * 32000 * (2 + 4)  # last position, 16-bit and its fp32 copy
    assert mem.activation_bytes(m, big, 64) == pytest.approx(2048 * per_token / 8 + logits)
    assert mem.activation_bytes(m, hf, 64) == pytest.approx(64 * 4096 * per_token / 8 + logits)
