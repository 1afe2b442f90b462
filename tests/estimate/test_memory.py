"""Memory formulas against the numbers their sources print, and small hand-computed cases."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate import calibration as cal
from dlrig.estimate import memory as mem
from dlrig.estimate import params as p
from dlrig.estimate.job import memory
from dlrig.estimate.shape import derive, linear_params, lora_params
from dlrig.model.architecture import spec_from_params
from dlrig.model.workload import ModelKind, ModelSpec
from estimate_helpers import gpt_layer_spec, job

GB = 1e9


def sh(m, gpu="RTX 4090", **kw):
    return derive(m, job(gpu, **kw))


# The toy's gradients (every one of its 1352 parameters trained) outweigh its activations, so
# with on-demand gradients its peak is the backward's end (see test_on_demand_gradients_*);
# tests of the other parts keep the gradients alive all step, where the parts simply add up.
KEPT = dict(grad_buffers="persistent")


def toy(**kw) -> ModelSpec:
    """A 2-layer Llama-style decoder small enough to count by hand: h 8, 2 heads of 4, 1 KV
    head, gated MLP of 16, vocabulary 10, untied."""
    h, i, v, layers = 8, 16, 10, 2
    attention = h * 8 + 2 * h * 4 + 8 * h  # q, k, v (one KV head of 4), o
    mlp = 3 * h * i
    params = layers * (attention + mlp + 2 * h) + 2 * v * h + h
    fields = dict(
        name="toy",
        kind=ModelKind.DECODER,
        params_total=params,
        n_layers=layers,
        hidden_size=h,
        n_heads=2,
        n_kv_heads=1,
        head_dim=4,
        vocab_size=v,
        intermediate_size=i,
        gated_mlp=True,
    )
    return ModelSpec(**(fields | kw))


def test_vendor_gigabytes_are_gibibytes():
    # nvidia-smi shows 24564 MiB on an RTX 4090: "24 GB" is 24 GiB = 25.77e9 bytes.
    assert mem.capacity_gb(24) == pytest.approx(25.769803776)


def test_toy_transformer_training_memory_by_hand():
    m = toy()
    assert m.params_total == 2 * (64 + 64 + 64 + 384 + 16) + 160 + 8 == 1352
    s = sh(m, seq_len=4, batch_size=1, loss="standard", **KEPT)
    parts = mem.parts(s)
    # bf16 AMP AdamW: 2 B weights, 4 B (fp32) gradients, 4 + 4 + 4 B optimizer per parameter.
    assert parts.weights == 2 * 1352
    assert parts.gradients == 4 * 1352
    assert parts.optimizer == 12 * 1352
    # Per layer, s·b = 4, e = 2, no dropout (gated): norms 2·2·4·8 = 128; attention
    # 2·4·8 (QKV input) + 2·4·(8 + 8) (Q, K and V) + 2·4·8 (projection input) = 256;
    # MLP 2·4·8 (input) + 4·2·4·16 (gate, up, act, product) = 576  → 960 per layer.
    assert mem.layer_activation_bytes(m, 4, 1, 2) == 960
    assert parts.activations == 2 * 960
    # Logits, standard loss: 4 tokens x 10 x max(2 + 4 + 4, 3 x 4) bytes: the backward's first
    # step holds the saved log-softmax, NLL's gradient and log-softmax's gradient, all fp32.
    assert parts.logits == 4 * 10 * 12
    allocated = 2 * 1352 + 4 * 1352 + 12 * 1352 + 1920 + 480
    assert parts.allocated == allocated
    # One GPU: the unsharded group's fitted slack (estimate/slack.py).
    slack = cal.constants().value("allocator_slack", ("unsharded",))
    assert parts.reserved == pytest.approx(allocated * (1 + slack))
    outside = (p.value("cuda_context_gb") + p.value("cublas_workspace_gb")) * GB
    assert parts.nvidia_smi == pytest.approx(parts.reserved + outside)
    assert parts.nccl_buffers == 0  # one GPU


def test_lora_keeps_only_what_frozen_matrices_backward_needs():
    # LoRA on q and v: the MLP's input and down's input are not kept (frozen gate, up, down
    # need only their weights for the input gradient); gate, activation and up are (the
    # element-wise backward needs them). Toy, s·b = 4, e = 2: norms 128 + attention 256 +
    # MLP 3·2·4·16 = 384 → 768 per layer instead of full training's 960.
    m = toy()
    assert mem.layer_activation_bytes(m, 4, 1, 2, frozenset({"q", "v"})) == 768
    lora = mem.activation_bytes(sh(m, task="lora", lora_targets="qv", seq_len=4))
    assert lora == 2 * 768
    every = mem.activation_bytes(sh(m, task="lora", lora_targets="all", seq_len=4))
    assert every == 2 * 960  # adapters on every matrix keep every input, as full training


def test_nccl_buffers_only_with_several_gpus():
    m = toy()
    one = mem.parts(sh(m, "A100 80GB SXM"))
    two = mem.parts(sh(m, "A100 80GB SXM", n_gpus=2))
    assert one.nccl_buffers == 0
    assert two.nccl_buffers == p.value("nccl_buffers_gb") * GB


@pytest.mark.parametrize(
    ("zero", "expected_gb"),
    # ZeRO paper, Fig. 1 / Sec. 5: Ψ = 7.5B, N_d = 64, K = 12 (mixed-precision Adam):
    # baseline 120 GB, P_os 31.4 GB, P_os+g 16.6 GB, P_os+g+p 1.9 GB. The paper's baseline is
    # DeepSpeed's data parallelism with fp16 gradients (2+2+12 = 16Ψ); dlrig's zero 0 is PyTorch
    # AMP, whose gradients are fp32 (18Ψ = 135 GB; HF "Anatomy of Model's Memory").
    [(0, 135.0), (1, 31.4), (2, 16.6), (3, 1.9)],
)
def test_zero_paper_model_states(zero, expected_gb):
    s = sh(spec_from_params(7.5e9), "A100 80GB SXM", n_gpus=64, zero=zero)
    states = mem.weights_bytes(s) + mem.gradient_bytes(s) + mem.optimizer_bytes(s)
    assert states / GB == pytest.approx(expected_gb, abs=0.05)


def test_korthikanti_34_sbh_per_layer():
    # Korthikanti et al. 2022, Eq. 1 without the attention-score term (FlashAttention):
    # 34·s·b·h bytes per layer with 16-bit activations and one-byte dropout masks.
    m = gpt_layer_spec(h=64)
    s, b = 128, 3
    assert mem.layer_activation_bytes(m, s, b, e=2) == 34 * s * b * 64


def test_eager_attention_adds_korthikantis_5_a_s2_b():
    # The same paper's score term: 5·a·s²·b bytes per layer (softmax 2, dropout mask 1,
    # dropout output 2) when the scores are materialised (eager attention).
    m = gpt_layer_spec(h=64, heads=4)
    eager = mem.activation_bytes(sh(m, seq_len=128, batch_size=3, attention="eager"))
    sdpa = mem.activation_bytes(sh(m, seq_len=128, batch_size=3, attention="sdpa"))
    assert eager - sdpa == 5 * 4 * 128 * 128 * 3
    assert sdpa == 34 * 128 * 3 * 64


def test_sliding_window_bounds_eager_scores_and_kv_cache():
    m = toy(sliding_window=2)
    eager = mem.activation_bytes(sh(m, seq_len=8, attention="eager"))
    sdpa = mem.activation_bytes(sh(m, seq_len=8, attention="sdpa"))
    # 2 layers x 2 heads x 8 queries x 2 keys (the window) x 2 bytes (no dropout).
    assert eager - sdpa == 2 * 2 * 8 * 2 * 2
    # KV: each layer holds the window (2 of 8 tokens): a quarter of the full cache.
    windowed = mem.kv_cache_bytes(sh(m, task="infer", context=8))
    full = mem.kv_cache_bytes(sh(toy(), task="infer", context=8))
    assert windowed * 4 == full == 2 * 2 * 4 * 2 * 8  # layers, K+V, width 4, 2 bytes, 8


def test_transformers_tuple_cache_held_every_token_whatever_the_window():
    # Before 4.42 (KvCache.LEGACY) the cache was torch.cat'ed every step and never cut to the
    # window, except on the FlashAttention-2 path; the held-out attention_sinks benchmark
    # (Mistral-7B, transformers 4.34) grows by the full KV past the 4,096-token window.
    m = toy(sliding_window=2)
    kw = dict(task="infer", context=8, engine="transformers")
    full = mem.kv_cache_bytes(sh(toy(), **kw))
    assert mem.kv_cache_bytes(sh(m, kv_cache="legacy", attention="eager", **kw)) == full
    assert mem.kv_cache_bytes(sh(m, kv_cache="legacy", attention="sdpa", **kw)) == full
    assert mem.kv_cache_bytes(sh(m, kv_cache="legacy", attention="flash", **kw)) * 4 == full
    assert mem.kv_cache_bytes(sh(m, kv_cache="dynamic", attention="eager", **kw)) * 4 == full
    # another engine keeps the window whatever the (transformers-only) cache setting says
    other = dict(task="infer", context=8, engine="llama.cpp")
    assert mem.kv_cache_bytes(sh(m, **other)) * 4 == full


def test_checkpointing_keeps_each_layers_input_plus_one_layer():
    m = find_model("llama-2-7b")
    s, b = 2048, 1
    shape = sh(m, task="lora", seq_len=s, batch_size=b, checkpointing=True, loss="fused")
    layer = mem.layer_activation_bytes(m, s, b, 2)
    assert mem.activation_bytes(shape) == 32 * 2 * s * b * 4096 + layer


def test_selective_checkpointing_keeps_torchtitans_op_policy_by_hand():
    # Toy block (h 8, q 8, one KV head of 4, gated MLP 16): matmuls in forward order q 8, k 4,
    # v 4, o 8, gate 16, up 16, down 8; the policy keeps the 1st, 3rd, 5th, 7th (q, v, gate,
    # down = 8 + 4 + 16 + 8), the attention output (8) and the block input (8): 52 elements
    # per token, 2 bytes each.
    m = toy()
    assert mem.block_matmul_outputs(m) == [8, 4, 4, 8, 16, 16, 8]
    assert mem.selective_layer_bytes(m, 4, 1, 2) == 2 * 4 * 52
    shape = sh(m, seq_len=4, batch_size=1, checkpointing="selective")
    assert shape.job.checkpointing and shape.job.checkpointing_mode == "selective"
    # Both layers' kept tensors plus one layer recomputed in backward (960 bytes, see above).
    assert mem.activation_bytes(shape) == 2 * 416 + 960
    # Backward recomputes the 2nd, 4th and 6th matmul, k (8x4), o (8x8) and up (8x16), at
    # 2 FLOPs per weight, in both layers; full checkpointing recomputes the whole forward.
    assert shape.flops_recompute_per_token == 2 * 2 * (32 + 64 + 128)
    full = sh(m, seq_len=4, batch_size=1, checkpointing=True)
    # Full checkpointing recomputes each block's forward; the output head (vocabulary 10 x
    # h 8, 2 FLOPs per weight) is outside the checkpointed blocks and is not recomputed.
    assert full.flops_recompute_per_token == full.flops_fwd_per_token - 2 * 10 * 8


def test_checkpointed_loss_and_recomputed_block_are_never_allocated_together():
    # Autograd runs the loss's nodes (and frees what they saved) before the last block's
    # backward recomputes that block: where the loop drops its logits first (torchtitan's
    # `del pred`; the selective mode is its policy) the peak is kept + max(logits, block).
    # Toy, seq 4, batch 1, selective: kept 2 x 416 bytes, one recomputed block 960 bytes.
    small = mem.parts(sh(toy(), seq_len=4, batch_size=1, checkpointing="selective", **KEPT))
    # vocabulary 10, standard loss: 4 x 10 x 12 = 480 bytes of logits < the 960-byte block,
    # so the peak is a block's backward, where the logits are gone.
    assert (small.activations, small.logits) == (2 * 416 + 960, 0)
    # vocabulary 100: 4 x 100 x 12 = 4800 bytes > 960, the peak is the loss's backward.
    big = mem.parts(
        sh(toy(vocab_size=100), seq_len=4, batch_size=1, checkpointing="selective", **KEPT)
    )
    assert (big.activations, big.logits) == (2 * 416, 4 * 100 * 12)
    # A loop not known to drop its logits (`outputs = model(**batch)` keeps them through the
    # backward): full checkpointing's kept inputs (2 x 2·4·8) + one block + the logits.
    kept = mem.parts(sh(toy(vocab_size=100), seq_len=4, batch_size=1, checkpointing=True, **KEPT))
    assert (kept.activations, kept.logits) == (2 * 64 + 960, 4 * 100 * 12)
    # torchtune's LoRA recipe does `del logits` before the backward: LoRA on q and v keeps
    # 2 x 64 bytes of block inputs; its recomputed block (768 bytes) drops out under 4800.
    tune = sh(
        toy(vocab_size=100),
        seq_len=4,
        batch_size=1,
        checkpointing=True,
        task="lora",
        lora_targets="qv",
        framework="torchtune",
        **KEPT,
    )
    assert mem.recomputed_block_bytes(tune) == 768
    assert (mem.parts(tune).activations, mem.parts(tune).logits) == (2 * 64, 4 * 100 * 12)
    # Without checkpointing every block's activations are kept under the loss: a sum.
    plain = mem.parts(sh(toy(vocab_size=100), seq_len=4, batch_size=1, **KEPT))
    assert (plain.activations, plain.logits) == (2 * 960, 4 * 100 * 12)


def test_torchtitan_llama3_8b_peak_is_the_loss_backward_over_kept_tensors():
    # torchtitan 9dec370 (train.py: cross_entropy(pred.flatten(0, 1).float(), labels), then
    # `del pred` and loss.backward()), Llama 3.1 8B, local batch 2 x 8192, selective op AC:
    # 32 x 63,488 B x 16,384 tokens kept, plus 16,384 x 128,256 x 12 B of loss (saved fp32
    # log-softmax, NLL's fp32 gradient, log-softmax's fp32 gradient); the recomputed block
    # (2.7 GB) comes later, after the loss's tensors are freed.
    m = find_model("llama-3.1-8b")
    shape = sh(
        m,
        "H100 SXM",
        n_gpus=8,
        zero=3,
        seq_len=8192,
        batch_size=2,
        checkpointing_mode="selective",
        loss="standard",
    )
    parts = mem.parts(shape)
    assert parts.activations == 32 * 63_488 * 16_384
    assert parts.logits == 16_384 * 128_256 * 12
    assert mem.recomputed_block_bytes(shape) == mem.layer_activation_bytes(m, 8192, 2, 2)


def test_selective_checkpointing_sits_between_full_and_none_on_llama3_8b():
    m = find_model("llama-3.1-8b")
    kw = dict(seq_len=8192, batch_size=2, loss="fused")
    acts = {
        mode: mem.activation_bytes(sh(m, "H100 SXM", **kw, **extra))
        for mode, extra in (
            ("none", {}),
            ("full", {"checkpointing": True}),
            ("selective", {"checkpointing_mode": "selective"}),
        )
    }
    assert acts["full"] < acts["selective"] < acts["none"]
    # 2·(4096 input + 4096 q + 1024 v + 14336 gate + 4096 down + 4096 attention) bytes per
    # token and layer, 16,384 tokens, 32 layers, plus one layer recomputed.
    layer = mem.layer_activation_bytes(m, 8192, 2, 2)
    assert acts["selective"] == 32 * 63_488 * 16_384 + layer


def test_torchtitans_selective_oom_on_64_a100s_is_reproduced():
    # torchtitan docs/performance.md (May 2024, 64 A100 80GB, FSDP2, Llama 2 70B, seq 4096):
    # "the 70B training with local batch size 2 will cause an OOM error when selective
    # activation checkpointing is used" (so it reports batch 1 with selective op AC, 355 WPS),
    # while batch 2 with full AC runs (353 WPS).
    m = find_model("llama-2-70b")

    def estimate(**kw):
        return memory(m, job("A100 80GB SXM", n_gpus=64, zero=3, seq_len=4096, **kw))

    def verdict(**kw):
        return estimate(**kw).verdict

    # the OOM: the prediction is over the card; whether its interval's lower end is too (does
    # not fit) or reaches below the card (tight) is the fitted memory interval's to say
    oom = estimate(batch_size=2, checkpointing_mode="selective")
    assert oom.per_gpu_gb > 1.15 * oom.capacity_gb
    assert oom.verdict in ("does not fit", "tight")
    assert verdict(batch_size=1, checkpointing_mode="selective") != "does not fit"
    assert verdict(batch_size=2, checkpointing=True) == "fits"


def test_fsdp_inside_pipeline_stages_keeps_the_stage_gathered():
    # torchtitan's FSDP + PP: the stage's bf16 weights stay gathered and its gradients
    # accumulate unsharded in fp32 over the micro-batches; master weights and Adam sharded.
    m = find_model("llama-2-70b")
    s = derive(m, job("H100 SXM", n_gpus=64, tp=8, pp=2, zero=3, grad_accum=4, seq_len=4096))
    stage_params = s.params_stored_per_gpu
    assert mem.weights_bytes(s) == pytest.approx(2 * stage_params)
    assert mem.gather_bytes(s) == 0
    assert mem.gradient_bytes(s) == pytest.approx(4 * stage_params)
    assert mem.optimizer_bytes(s) == pytest.approx(12 * stage_params / 4)  # dp 4 shards
    no_pp = derive(m, job("H100 SXM", n_gpus=64, tp=8, zero=3, seq_len=4096))
    assert mem.weights_bytes(no_pp) == pytest.approx(2 * no_pp.params_stored_per_gpu / 8)


def test_pipeline_peak_is_the_larger_stage():
    # The first stage holds min(p, m) micro-batches and no logits; the last one micro-batch
    # and the logits. Few micro-batches and a large vocabulary: the last stage peaks.
    m = find_model("llama-3.1-8b")
    s = derive(m, job("H100 SXM", n_gpus=2, pp=2, grad_accum=2, seq_len=4096, batch_size=1))
    first, last = mem.activation_bytes(s), mem.activation_bytes(s, in_flight=1.0)
    logits = mem.logits_part(s)
    assert first == pytest.approx(2 * last)
    acts, held = mem.stage_peak(s)
    assert acts + held == max(first, last + logits)
    assert mem.parts(s).logits == held


def test_kv_cache_llama2_7b_half_a_megabyte_per_token():
    # 2 (K and V) x 32 layers x 4096 x 2 bytes = 512 KiB per token; 4096 tokens = 2.15 GB.
    m = find_model("llama-2-7b")
    assert mem.kv_cache_bytes(sh(m, task="infer", context=4096)) == 2 * 32 * 4096 * 2 * 4096


def test_kv_cache_is_gqa_aware_and_follows_the_kv_dtype():
    # Llama 3 8B keeps 8 of 32 heads for K and V: a quarter of Llama 2 7B's cache per token.
    llama3 = mem.kv_cache_bytes(sh(find_model("llama-3-8b"), task="infer", context=8192))
    llama2 = mem.kv_cache_bytes(sh(find_model("llama-2-7b"), task="infer", context=8192))
    assert llama3 * 4 == llama2
    fp8 = mem.kv_cache_bytes(
        sh(find_model("llama-3-8b"), task="infer", context=8192, kv_dtype="fp8")
    )
    q4 = mem.kv_cache_bytes(
        sh(find_model("llama-3-8b"), task="infer", context=8192, kv_dtype="q4_0")
    )
    assert fp8 * 2 == llama3
    assert q4 == pytest.approx(llama3 * 4.5 / 16)  # q4_0: 18 bytes per 32 values


def test_lora_rank8_qv_on_llama2_7b_matches_peft():
    # PEFT prints "trainable params: 4,194,304" for Llama-2-7b, r=8, q_proj and v_proj.
    assert lora_params(find_model("llama-2-7b"), 8, "qv") == 4_194_304


def test_qlora_base_weights_at_nf4_with_double_quant():
    m = find_model("llama-2-7b")
    s = sh(m, task="qlora", lora_rank=8, lora_targets="qv")
    linear = linear_params(m) * p.value("bits_nf4_double_quant") / 8
    expected = linear + m.embedding_params * 2 + 4_194_304 * 4
    assert mem.weights_bytes(s) == pytest.approx(expected)
    assert p.value("bits_nf4_double_quant") == pytest.approx(4 + 8 / 64 + 32 / (64 * 256), 1e-3)


def test_lora_over_an_int8_or_gptq_base():
    m = find_model("llama-2-7b")
    bf16 = mem.weights_bytes(sh(m, task="lora"))
    int8 = mem.weights_bytes(sh(m, task="lora", base_quant="int8"))
    gptq = mem.weights_bytes(sh(m, task="lora", base_quant="gptq"))
    assert bf16 > int8 > gptq
    assert bf16 - int8 == pytest.approx(linear_params(m) * (16 - 8) / 8)


@pytest.mark.parametrize(
    ("quant", "bits"),
    # llama.cpp tools/quantize README (Llama 2 7B): Q4_K_M 4.84, Q5_K_M 5.68, Q6_K 6.56 bpw;
    # Q8_0 and Q4_0 from their block layouts (34 and 18 bytes per 32 weights).
    [("q4_k_m", 4.84), ("q5_k_m", 5.68), ("q6_k", 6.56), ("q8_0", 8.5), ("q4_0", 4.5)],
)
def test_gguf_formats_apply_their_whole_file_bits_to_every_weight(quant, bits):
    m = find_model("llama-2-7b")
    assert mem.weights_bytes(sh(m, task="infer", quant=quant)) == pytest.approx(
        m.params_total * bits / 8
    )


def test_exl2_uses_the_given_bits_and_gptq_keeps_16bit_embeddings():
    m = find_model("llama-2-7b")
    exl2 = mem.weights_bytes(sh(m, task="infer", quant="exl2", weight_bits=3.5))
    assert exl2 == pytest.approx(linear_params(m) * 3.5 / 8 + m.embedding_params * 2)
    gptq = mem.weights_bytes(sh(m, task="infer", quant="gptq"))
    assert gptq == pytest.approx(linear_params(m) * 4.156 / 8 + m.embedding_params * 2)


def test_inference_weights_shrink_with_quantisation():
    m = find_model("llama-3-8b")
    fp16, int8, int4 = (
        mem.weights_bytes(sh(m, task="infer", quant=q)) for q in ("none", "int8", "int4")
    )
    assert fp16 > int8 > int4
    # Llama 3 8B in fp16 is the famous ~16 GB.
    assert fp16 / GB == pytest.approx(16.06, abs=0.01)


def test_adam_states_by_optimizer_and_dtype():
    m = spec_from_params(1e9)
    per = {
        o: mem.optimizer_bytes_per_param(sh(m, optimizer=o))
        for o in ("adamw", "sgd", "adam8bit", "adafactor")
    }
    assert per["adamw"] == 12  # fp32 master + momentum + variance
    assert per["sgd"] == 8  # fp32 master + momentum
    assert per["adam8bit"] == 4 + 2
    assert 4 < per["adafactor"] < 4.01  # master + factored second moment
    assert mem.optimizer_bytes_per_param(sh(m, optimizer_dtype="bf16")) == 4 + 2 + 2


def test_pure_16bit_drops_master_weights_and_fp32_states():
    # Bug: --pure-16bit still counted fp32 Adam states. Pure bf16 AdamW keeps its two states in
    # the parameters' dtype (2 + 2 bytes) and no master copy: 4 bytes, not 12.
    m = find_model("llama-3-8b")
    amp = memory(m, job())
    pure = memory(m, job(master_weights=False))
    assert mem.optimizer_bytes_per_param(sh(m, master_weights=False)) == 4
    assert amp.optimizer_gb - pure.optimizer_gb == pytest.approx(8 * m.params_total / GB)


def test_amp_keeps_fp32_gradients_zero_keeps_16bit_ones():
    # Bug: mixed precision with fp32 master weights counted 16-bit gradients (16 B per
    # parameter). PyTorch AMP's parameters are fp32, so their gradients are too: HF's "Anatomy
    # of Model's Memory" counts 6 + 4 + 8 = 18 B for mixed-precision AdamW. ZeRO/FSDP keep the
    # ZeRO paper's 16-bit gradients; pure 16-bit training keeps 16-bit ones.
    m = toy()  # 1352 parameters, all trained
    amp = mem.parts(sh(m, **KEPT))
    assert amp.weights + amp.gradients + amp.optimizer == 18 * 1352
    assert mem.gradient_bytes(sh(m, master_weights=False)) == 2 * 1352
    assert mem.gradient_bytes(sh(m, precision="fp32")) == 4 * 1352


def test_offload_removes_model_states():
    m = find_model("llama-3-8b")
    amp = memory(m, job())
    offloaded = memory(m, job(offload="optimizer"))
    assert offloaded.optimizer_gb == 0
    full = memory(m, job(offload="full", optimizer_in_backward=True))
    assert full.weights_gb > 0  # two gathered blocks, not the whole model
    assert full.weights_gb < amp.weights_gb / 10


def test_loss_variants_order():
    m = find_model("llama-3-8b")
    logits = {
        loss: memory(m, job(task="lora", loss=loss, batch_size=2)).logits_gb
        for loss in ("standard", "chunked", "fused")
    }
    assert logits["standard"] > logits["chunked"] > logits["fused"] == 0
    # Standard peaks at 3 x 4 bytes per logit (three fp32 tensors at the start of backward),
    # chunked keeps only the 2-byte bf16 logits.
    tokens = 2 * 2048 * 128256
    assert (logits["standard"] - logits["chunked"]) * GB == pytest.approx(tokens * 10)
    # What the loss streams is another matter: standard and chunked both write the bf16
    # logits, an fp32 copy and the fp32 log-softmax (chunked one chunk at a time); fused none.
    traffic = {loss: mem.logits_traffic_bytes(m, 100, 2, loss) for loss in logits}
    assert traffic == {
        "standard": 100 * m.vocab_size * 10,
        "chunked": 100 * m.vocab_size * 10,
        "fused": 0,
    }


def test_encoders_and_vision_models_have_no_vocabulary_logits():
    # Bug: an encoder got a vocabulary-sized logits tensor.
    for name in ("bert-base", "vit-b16"):
        est = memory(find_model(name), job(batch_size=8, seq_len=512))
        assert est.logits_gb == 0, name
    assert memory(find_model("gpt2"), job(batch_size=8, seq_len=512)).logits_gb > 0


def test_resnet50_activations_from_the_preset_scale_with_batch_and_precision():
    m = find_model("resnet50")
    fp32 = memory(m, job("A100 80GB SXM", batch_size=64, precision="fp32")).activations_gb
    bf16 = memory(m, job("A100 80GB SXM", batch_size=64)).activations_gb
    assert fp32 == pytest.approx(64 * m.activation_mb_per_sample / 1e3)
    assert bf16 == pytest.approx(fp32 / 2)


def test_parts_add_up_and_headroom_is_consistent():
    m = find_model("llama-3-8b")
    est = memory(m, job(task="infer"))
    assert est.verdict == "fits" and est.fits
    assert est.headroom_gb == pytest.approx(est.capacity_gb - est.per_gpu_gb)
    tensors = (
        est.weights_gb
        + est.gradients_gb
        + est.optimizer_gb
        + est.activations_gb
        + est.logits_gb
        + est.kv_cache_gb
    )
    assert est.allocated_gb == pytest.approx(tensors)
    assert est.per_gpu_gb == est.nvidia_smi_gb == pytest.approx(tensors + est.overhead_gb)
    assert est.allocated_gb < est.reserved_gb < est.nvidia_smi_gb
    assert memory(find_model("llama-3-70b"), job(task="infer")).verdict == "does not fit"


def test_tensor_and_pipeline_parallel_split_weights_and_activations():
    m = find_model("llama-2-70b")
    one = derive(m, job("H100 SXM", n_gpus=8, zero=0))
    tp8 = derive(m, job("H100 SXM", n_gpus=8, tp=8))
    tp4pp2 = derive(m, job("H100 SXM", n_gpus=8, tp=4, pp=2, grad_accum=8))
    assert mem.weights_bytes(tp8) == pytest.approx(mem.weights_bytes(one) / 8)
    assert mem.weights_bytes(tp4pp2) == pytest.approx(mem.weights_bytes(one) / 8)
    assert mem.activation_bytes(tp8) == pytest.approx(mem.activation_bytes(one) / 8)
    # 1F1B: the first stage holds min(p, m) = 2 micro-batches of its 40 layers: as many
    # activations as all 80 layers of one micro-batch, split 4 ways by TP.
    assert mem.activation_bytes(tp4pp2) == pytest.approx(mem.activation_bytes(one) / 4)


def test_moe_holds_every_expert():
    m = find_model("mixtral-8x7b")
    est = memory(m, job("H100 SXM", task="infer", n_gpus=2, tp=2))
    assert est.weights_gb == pytest.approx(m.params_total * 2 / 2 / GB, rel=0.001)


def test_inference_prefill_working_set_is_chunked_and_split():
    m = find_model("llama-2-70b")
    big = derive(m, job("H100 SXM", task="infer", n_gpus=8, tp=8, batch_size=64, context=4096))
    hf = derive(
        m, job("H100 SXM", task="infer", n_gpus=8, tp=8, batch_size=64, context=4096, engine="hf")
    )
    # An optimized engine prefills 2048 tokens per step; plain transformers the whole batch.
    per_token = 2 * 3 * 28672  # gate, up and product, 16-bit
    logits = 64 * 32000 * (2 + 4) / 8  # last position, 16-bit and its fp32 copy, vocab split
    assert mem.activation_bytes(big) == pytest.approx(2048 * per_token / 8)
    assert mem.logits_part(big) == pytest.approx(logits)
    assert mem.activation_bytes(hf) == pytest.approx(64 * 4096 * per_token / 8)


@pytest.mark.parametrize(
    ("kw", "bytes_per_param"),
    [
        # fp32 AdamW: read g (4), read + write weight (2 x 4), m and v (2 x 8)
        (dict(precision="fp32"), 4 + 2 * 4 + 2 * 8),
        # AMP: fp32 grads (4), master + m + v read and written (2 x 12), 16-bit copy written (2)
        (dict(precision="bf16"), 4 + 2 * 12 + 2),
        # pure bf16 with bf16 states: g 2, weight 2 x 2, m and v 2 x 4
        (dict(precision="bf16", master_weights=False), 2 + 2 * 2 + 2 * 4),
        # SGD with momentum on fp32: g 4, weight 2 x 4, momentum 2 x 4
        (dict(precision="fp32", optimizer="sgd"), 4 + 2 * 4 + 2 * 4),
    ],
)
def test_optimizer_step_streams_grads_states_and_weights_once(kw, bytes_per_param):
    m = toy()
    s = sh(m, **kw)
    assert mem.optimizer_step_bytes(s) == pytest.approx(bytes_per_param * m.params_total)


@pytest.mark.parametrize(
    ("kw", "grad_bytes", "passes"),
    [
        # AMP (bf16 or fp16): fp32 gradients under the fp32 master weights; fp16 also unscales
        # them (GradScaler: read and write each) before clipping
        (dict(precision="bf16"), 4, 3),
        (dict(precision="fp16"), 4, 3 + 2),
        (dict(precision="fp32"), 4, 3),
        # pure bf16 (no master weights): 16-bit gradients
        (dict(precision="bf16", master_weights=False), 2, 3),
    ],
)
def test_clipping_streams_every_gradient_three_times_and_fp16_unscales_it(kw, grad_bytes, passes):
    # the norm reads each gradient, the scale reads and writes it
    m = toy()
    s = sh(m, **kw)
    assert mem.gradient_pass_bytes(s) == pytest.approx(passes * grad_bytes * m.params_total)


def test_clipping_sharded_skipped_on_cpu_and_not_for_cnns():
    m = toy()
    # ZeRO-1 over 4 GPUs: each clips its quarter (16-bit gradients under ZeRO)
    zero1 = sh(m, "A100 80GB SXM", precision="bf16", zero=1, n_gpus=4)
    assert mem.gradient_pass_bytes(zero1) == pytest.approx(3 * 2 * m.params_total / 4)
    assert mem.gradient_pass_bytes(sh(m, precision="fp16", offload="optimizer")) == 0
    assert mem.gradient_pass_bytes(sh(m, task="infer")) == 0
    cnn = find_model("resnet50")
    assert mem.gradient_pass_bytes(sh(cnn, precision="bf16", optimizer="sgd")) == 0
    # fp16's loss scaling unscales a CNN's gradients too (fp32 under AMP): read and write
    fp16 = sh(cnn, precision="fp16", optimizer="sgd")
    assert mem.gradient_pass_bytes(fp16) == pytest.approx(2 * 4 * cnn.params_total)


def test_optimizer_step_is_sharded_and_skipped_when_the_cpu_steps():
    m = toy()
    one = mem.optimizer_step_bytes(sh(m, precision="fp32"))
    # ZeRO-1 over 4 GPUs: each updates a quarter of the states (its gradients are 16-bit).
    zero1 = sh(m, "A100 80GB SXM", precision="bf16", zero=1, n_gpus=4)
    assert mem.optimizer_step_bytes(zero1) == pytest.approx((2 + 2 * 12 + 2) * m.params_total / 4)
    assert one > 0 and mem.optimizer_step_bytes(sh(m, offload="optimizer")) == 0
    # bitsandbytes' paged 8-bit optimizer (read as offload=optimizer) still steps on the GPU
    assert mem.optimizer_step_bytes(sh(m, offload="optimizer", optimizer="adam8bit")) > 0


# LitGPT's LoRA/QLoRA step (litgpt/finetune/lora.py with Fabric and bitsandbytes 0.42), on the
# toy: h 8, q 8 (2 heads of 4), one KV head of 4 (K + V 8 wide), gated MLP 16, vocabulary 10,
# 2 layers; seq 4, batch 1, bf16 (e = 2).
LIT = dict(seq_len=4, batch_size=1, framework="litgpt")


def test_litgpt_logits_fp32_output_and_the_previous_steps_copy():
    # Fabric converts the 16-bit chunks to fp32 while the previous step's fp32 list is still
    # referenced: 4 + 2 + 4 bytes per logit, whatever --loss says (LitGPT always chunks the head).
    assert mem.litgpt_logit_bytes(2) == 10
    m = toy()
    for loss in ("standard", "chunked"):
        assert mem.logits_part(sh(m, task="lora", loss=loss, **LIT)) == 4 * 10 * 10
    # The same job under Hugging Face (chunked: the 16-bit logits only).
    hf = sh(m, task="lora", loss="chunked", seq_len=4, batch_size=1)
    assert mem.logits_part(hf) == 4 * 10 * 2


def test_litgpt_block_keeps_fp32_norm_inputs_and_expanded_kv():
    # Two RMSNorms keep their fp32 input (4 bytes where the count has 2): 2·(4 − 2)·8 = 32 per
    # token; K and V expanded to both query heads: 2·8 − 8 = 8 more elements, 16 bytes; → 48
    # bytes per token, 4 tokens → 192 per block.
    m = toy()
    assert mem.litgpt_block_extra_bytes(m, 4, 1, 2) == 192
    hf = mem.activation_bytes(sh(m, task="lora", lora_targets="qv", seq_len=4, batch_size=1))
    lit = mem.activation_bytes(sh(m, task="lora", lora_targets="qv", **LIT))
    assert hf == 2 * 768  # test_lora_keeps_only_what_frozen_matrices_backward_needs
    # (plus LoRA dropout's 32 per block: test_litgpt_lora_dropout_keeps_mask_and_dropped_copy)
    assert lit == hf + 2 * (192 + 32)
    # LayerNorm models (no gated MLP) with as many KV heads as query heads: nothing more.
    assert mem.litgpt_block_extra_bytes(gpt_layer_spec(h=64), 128, 3, 2) == 0


def test_litgpt_qlora_holds_the_previous_steps_quantised_inputs():
    # Each block's distinct linear inputs: attention input 8, o's input 8, MLP input 8, down's
    # input 16 → 2·4·40 = 320 bytes; two blocks plus the quantised head's input 2·4·8 = 64.
    m = toy()
    assert mem.quantised_input_bytes(m, 4, 1, 2) == 320
    held = mem.held_over_bytes(sh(m, task="qlora", **LIT))
    assert held == 2 * 320 + 64
    # Part of the step's peak: the activations grow by exactly that.
    lit = mem.parts(sh(m, task="qlora", **LIT, **KEPT))
    assert lit.activations == mem.activation_bytes(sh(m, task="qlora", **LIT)) + held
    # Hugging Face frees the graph after each step; torchtune's NF4 keeps no input; a 16-bit
    # LitGPT base has no bitsandbytes layer.
    qlora = dict(seq_len=4, batch_size=1)
    assert mem.held_over_bytes(sh(m, task="qlora", **qlora)) == 0
    assert mem.held_over_bytes(sh(m, task="qlora", framework="torchtune", **qlora)) == 0
    assert mem.held_over_bytes(sh(m, task="lora", **LIT)) == 0


def test_litgpt_lora_dropout_keeps_mask_and_dropped_copy():
    # Each adapted module keeps a 1-byte mask and its 2-byte dropped input. LoRA on q and v:
    # the fused qkv module, input 8 → 3·8 = 24 bytes per token; over a 16-bit base the count
    # already has one 2-byte qkv input (2·8 = 16): 8 more per token, 32 for 4 tokens.
    m = toy()
    qv = frozenset({"q", "v"})
    assert mem.litgpt_dropout_bytes(m, 4, 1, 2, qv, base_keeps_inputs=False) == 32
    # Over a bitsandbytes base the undropped input is kept as well: all 24 per token.
    assert mem.litgpt_dropout_bytes(m, 4, 1, 2, qv, base_keeps_inputs=True) == 96
    # Every matrix: qkv 8, o 8, fc_1 8, fc_2 8 (dropped separately), down 16 → 3·48 = 144 per
    # token, less the counted inputs 2·(8 + 8 + 16) = 64: 80 per token, 320 for 4 tokens.
    every = frozenset({"q", "k", "v", "o", "gate", "up", "down"})
    assert mem.litgpt_dropout_bytes(m, 4, 1, 2, every, base_keeps_inputs=False) == 320


def test_on_demand_gradients_peak_at_the_larger_phase_by_hand():
    # zero_grad(set_to_none=True) (PyTorch >= 2.0's default): no gradient exists during the
    # forward and the loss; the backward creates them while freeing the blocks' activations.
    # Toy, seq 4, batch 1 (numbers of test_toy_transformer_training_memory_by_hand): weights
    # 2704, fp32 gradients 5408, optimizer 16224; activations 2 x 960, logits 480.
    s = sh(toy(), seq_len=4, batch_size=1, loss="standard")
    assert mem.grads_absent_at_loss(s)
    parts = mem.parts(s)
    # loss phase: 1920 + 480 = 2400; backward's end: 5408 + one block 960 = 6368 (wins).
    assert (parts.gradients, parts.activations, parts.logits) == (5408, 960, 0)
    assert parts.allocated == 2704 + 16224 + 5408 + 960
    # seq 64: the loss phase (2 x 960 x 16 of activations + 64 x 10 x 12 of logits = 38400)
    # beats the backward's end (5408 + 960 x 16 = 20768): no gradient at the peak.
    long = mem.parts(sh(toy(), seq_len=64, batch_size=1, loss="standard"))
    assert (long.gradients, long.activations, long.logits) == (0, 2 * 960 * 16, 64 * 10 * 12)
    kept = mem.parts(sh(toy(), seq_len=64, batch_size=1, loss="standard", **KEPT))
    assert kept.allocated - long.allocated == 5408  # persistent buffers add every gradient


def test_gradients_of_earlier_micro_batches_are_alive_in_the_later_forwards():
    # With gradient accumulation the first micro-batch's backward creates the gradients and
    # the next forward runs with them: the sum, as with persistent buffers.
    s = sh(toy(), seq_len=64, batch_size=1, grad_accum=2)
    assert not mem.grads_absent_at_loss(s)
    assert mem.parts(s).gradients == 5408
    # A CNN preset has no per-layer activation profile to bound its backward's end: the sum.
    cnn = sh(find_model("resnet50"), batch_size=8)
    assert not mem.grads_absent_at_loss(cnn)
    assert mem.parts(cnn).gradients == mem.gradient_bytes(cnn) > 0


def test_large_vocabulary_step_drops_its_gradients_from_the_peak():
    # torchao's Llama2-1B benchmark (pretrain_llama2.py: `optim.step()` then
    # `optim.zero_grad()`): pure bf16, bf16 AdamW states, batch 4 x 2048, checkpointing.
    # Its peak is the loss (8192 x 32000 logits x 12 B = 3.1 GB against 2 GB of bf16
    # gradients plus one recomputed block): no gradient is alive there.
    m = find_model("torchao-llama2-1b")
    kw = dict(seq_len=2048, batch_size=4, checkpointing=True, master_weights=False)
    s = sh(m, "RTX 4090", optimizer_dtype="bf16", **kw)
    on_demand = mem.parts(s)
    assert on_demand.logits == 8192 * 32000 * 12
    assert on_demand.gradients == 0
    persistent = mem.parts(sh(m, "RTX 4090", optimizer_dtype="bf16", **kw, **KEPT))
    grads = mem.gradient_bytes(s)
    assert grads == 2 * m.params_total
    assert persistent.allocated - on_demand.allocated == grads


def test_ddp_buckets_are_a_second_copy_of_the_gradients_all_run():
    # PyTorch DDP (gradient_as_bucket_view=False, its default) copies each .grad into flat
    # buckets allocated once: with on-demand .grad, the toy at seq 64 (loss phase 38400 against
    # a backward's end of 20768, see above) holds the buckets' 5408 at the loss too.
    two = dict(seq_len=64, batch_size=1, loss="standard", n_gpus=2)
    ddp = sh(toy(), **two)
    assert mem.ddp_bucket_bytes(ddp) == 5408 == mem.gradient_bytes(ddp)
    alone = mem.parts(sh(toy(), seq_len=64, batch_size=1, loss="standard"))
    assert mem.parts(ddp).gradients == 5408
    assert mem.parts(ddp).allocated - alone.allocated == 5408
    # bucket-view: the buckets are the gradients, one copy alive all step (Megatron's
    # main_grad likewise): the same 5408, now without a second copy at the backward's end.
    view = mem.parts(sh(toy(), grad_buffers="bucket-view", **two))
    assert view.gradients == 5408 and view.allocated == mem.parts(ddp).allocated
    # persistent .grad under DDP: both copies at every moment.
    kept = mem.parts(sh(toy(), **two, **KEPT))
    assert kept.gradients == 2 * 5408
    # No buckets on one GPU, under ZeRO/FSDP or with a tensor-parallel split.
    for kw in (dict(n_gpus=1), dict(n_gpus=2, zero=2), dict(n_gpus=2, tp=2)):
        assert mem.ddp_bucket_bytes(sh(toy(), seq_len=64, batch_size=1, **kw)) == 0, kw
