"""The job's shape, derived once: sizes, plan, parameters, FLOPs and decode bytes by hand."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate.shape import PlanError, derive, linear_params, routed_expert_params
from estimate_helpers import job


def test_tokens_and_global_batch_with_accumulation_and_data_parallel():
    s = derive(
        find_model("llama-3-8b"),
        job("H100 SXM", n_gpus=8, tp=2, batch_size=4, grad_accum=8, seq_len=2048),
    )
    assert (s.plan.dp, s.plan.tp, s.plan.n_gpus) == (4, 2, 8)
    assert s.tokens_per_micro_step == 4 * 2048
    assert s.global_batch == 4 * 8 * 4  # micro-batch x accumulation x data-parallel replicas
    assert s.tokens_per_step_job == 128 * 2048


def test_inference_on_several_gpus_splits_layers_unless_tp_is_given():
    m = find_model("llama-3-8b")
    split = derive(m, job("RTX 3090", task="infer", n_gpus=2))
    assert (split.plan.pp, split.plan.tp, split.plan.implicit_layer_split) == (2, 1, True)
    tp = derive(m, job("RTX 3090", task="infer", n_gpus=2, tp=2))
    assert (tp.plan.pp, tp.plan.tp, tp.plan.implicit_layer_split) == (1, 2, False)
    # Either way each GPU holds half the weights.
    assert split.weight_bytes_per_gpu == pytest.approx(tp.weight_bytes_per_gpu)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"n_gpus": 6, "tp": 4}, "--tp 4 x --pp 1 x --cp 1 = 4 does not divide --gpus 6"),
        ({"n_gpus": 5, "tp": 5}, "--tp 5 does not divide llama-3-8b's 32 attention heads"),
        ({"n_gpus": 16, "nodes": 3}, "--gpus 16 is not a multiple of --nodes 3"),
        ({"n_gpus": 2, "cp": 2, "seq_len": 1001}, "--cp 2 does not divide the sequence"),
    ],
)
def test_impossible_plans_name_their_flags(kw, message):
    with pytest.raises(PlanError, match=message):
        derive(find_model("llama-3-8b"), job("H100 SXM", **kw))


def test_qwen3_moe_shape_holds_every_expert_and_decodes_the_active_ones():
    m = find_model("qwen3-30b-a3b")
    # 48 layers x 128 experts x 3 x 2048 x 768 routed weights.
    assert routed_expert_params(m) == 48 * 128 * 3 * 2048 * 768
    s = derive(m, job("H100 SXM", task="infer", context=1, batch_size=1))
    # One sequence routes to 8 of 128 experts per layer: the decode reads 1/16 of them.
    dense = linear_params(m) - routed_expert_params(m)
    head = m.vocab_size * m.hidden_size
    expected = (dense + head) * 2 + routed_expert_params(m) * 8 / 128 * 2
    assert s.decode_weight_bytes_per_gpu == pytest.approx(expected)
    assert s.weight_bytes_job == pytest.approx(m.params_total * 2)  # all experts held


def test_lora_flops_skip_weight_gradients_of_frozen_matrices():
    m = find_model("llama-2-7b")
    full = derive(m, job(seq_len=1024))
    lora = derive(m, job(task="lora", seq_len=1024))
    # Full: 3 x forward; LoRA: forward + input gradients (2N) + attention twice + adapters.
    assert full.flops_per_token == pytest.approx(3 * full.flops_fwd_per_token)
    assert lora.flops_per_token < full.flops_per_token * 0.75


def test_decode_reads_the_mean_context_of_the_generation_and_holds_the_whole():
    # Llama-2-7B: 32 layers x K and V x 4096 wide x 2 bytes = 524,288 bytes per token.
    m = find_model("llama-2-7b")
    per_token = 32 * 2 * 4096 * 2
    s = derive(m, job("RTX 4090", task="infer", prompt_tokens=100, gen_tokens=9, batch_size=2))
    # Steps 1..9 read 101..109 tokens: mean 105 = 100 + (9 + 1) / 2.
    assert s.decode_context == 105
    assert s.decode_kv_bytes_per_gpu == pytest.approx(per_token * 105 * 2)
    assert s.kv_bytes_per_token == pytest.approx(per_token)
    assert s.seq == 109  # the cache held (memory) is the whole prompt + generation
    # llama-bench tg128 (no prompt): 64.5 tokens on average.
    tg = derive(m, job("RTX 4090", task="infer", gen_tokens=128, batch_size=1))
    assert tg.decode_context == 64.5
    # Only --context: the step at the end of it.
    ctx = derive(m, job("RTX 4090", task="infer", context=4096, batch_size=1))
    assert ctx.decode_context == 4096
    assert ctx.decode_kv_bytes_per_gpu == pytest.approx(per_token * 4096)


def test_the_prompt_is_what_the_context_leaves_the_generation():
    # Found by a held-out source (attention_sinks' benchmark, one token per forward pass for
    # 12,000 tokens): the prefill was taken as the whole context while the decode read
    # (decode_context) took the prompt as empty, so the memory peak held a 12,000-token prompt
    # pass that never ran.
    m = find_model("llama-2-7b")
    gen_only = derive(m, job("RTX 4090", task="infer", context=12000, gen_tokens=12000))
    assert gen_only.prompt_tokens == 1  # the one token a generation starts from
    assert gen_only.decode_context == (12000 + 1) / 2
    both = derive(m, job("RTX 4090", task="infer", context=4096, gen_tokens=128))
    assert both.prompt_tokens == 4096 - 128  # context = prompt + generated
    assert both.decode_context == 3968 + (128 + 1) / 2
    assert both.seq == 4096
    # llama-bench tg128: no context given either
    assert derive(m, job("RTX 4090", task="infer", gen_tokens=128)).prompt_tokens == 1
    # only the context: it is the prompt, as before
    assert derive(m, job("RTX 4090", task="infer", context=4096)).prompt_tokens == 4096
    stated = derive(m, job("RTX 4090", task="infer", prompt_tokens=512, gen_tokens=128))
    assert (stated.prompt_tokens, stated.seq) == (512, 640)


def test_decode_kv_read_is_split_like_the_cache_over_tensor_parallel_ranks():
    m = find_model("llama-2-7b")  # 32 KV heads: 2 ranks each read half
    one = derive(m, job("A100 80GB SXM", task="infer", prompt_tokens=1, gen_tokens=127))
    two = derive(
        m, job("A100 80GB SXM", task="infer", n_gpus=2, tp=2, prompt_tokens=1, gen_tokens=127)
    )
    assert one.decode_context == 65
    assert two.decode_kv_bytes_per_gpu == pytest.approx(one.decode_kv_bytes_per_gpu / 2)


def test_an_encoder_forward_runs_the_whole_batch_at_once_a_generation_is_chunked():
    """A ViT's forward pass (timm, plain PyTorch) is not an engine's chunked prefill: all
    1024 x 197 tokens are in flight, so one layer's working set is that of 201,728 tokens
    (before: the unnamed engine's 2,048-token chunk, 0.03 GB of activations)."""
    vit = derive(find_model("vit-b16"), job("RTX 3090", task="infer", batch_size=1024))
    assert vit.prefill_tokens_in_flight == 1024 * 197
    llm = derive(find_model("llama-3-8b"), job("RTX 3090", task="infer", batch_size=8))
    assert llm.prefill_tokens_in_flight < 8 * llm.prompt_tokens


def test_a_model_that_generates_nothing_is_replicated_not_split_over_the_gpus():
    """Inference on several GPUs splits a generation's layers (the engines' default); a CNN,
    ViT or encoder runs a batch on every GPU, each holding the whole model."""
    for name in ("resnet50", "vit-b16", "bert-base"):
        plan = derive(find_model(name), job("RTX 4090", task="infer", n_gpus=4)).plan
        assert (plan.dp, plan.pp, plan.tp) == (4, 1, 1), name
    llm = derive(find_model("llama-3-8b"), job("RTX 4090", task="infer", n_gpus=4)).plan
    assert (llm.dp, llm.pp) == (1, 4)


def test_megatron_folds_the_experts_of_a_stage_with_expert_tensor_parallelism():
    # NeMo's DeepSeek-V3 pre-training on 512 H100s: TP 2, PP 8, EP 64, expert TP 1 (MoE
    # parallel folding). A stage's 64 GPUs (512 / 8) are 2 x 32 for attention and 1 x 64
    # for the experts; without --etp the experts' tensor parallelism is --tp (the older
    # layout, EP inside the 32 data-parallel ranks), which 64 does not divide.
    m = find_model("deepseek-v3")
    kw = dict(n_gpus=512, nodes=64, tp=2, pp=8, ep=64, seq_len=4096, batch_size=1)
    with pytest.raises(PlanError, match=r"--ep 64 does not divide the 32 GPUs .*--etp"):
        derive(m, job("H100 SXM", **kw))
    s = derive(m, job("H100 SXM", etp=1, **kw))
    assert (s.plan.dp, s.plan.etp, s.plan.ep, s.plan.expert_dp) == (32, 1, 64, 1)
    # each GPU holds 1/64 of a stage's experts, whole (not also split over tp)
    routed_here = routed_expert_params(m) / (8 * 1 * 64)
    assert s.routed_trainable_per_gpu == pytest.approx(routed_here)
    with pytest.raises(PlanError, match="--etp 2 x --ep 64 = 128 does not divide the 64 GPUs"):
        derive(m, job("H100 SXM", etp=2, **kw))
    with pytest.raises(PlanError, match="--etp 1: llama-3-8b has no experts"):
        derive(find_model("llama-3-8b"), job("H100 SXM", n_gpus=2, tp=2, etp=1))


def test_expert_states_shard_over_the_gpus_holding_the_same_expert():
    # Mixtral 8x7B, 8 GPUs, EP 8, ZeRO-1: every GPU holds one expert of each layer, and no
    # other GPU holds it, so its optimizer states cannot be sharded further; the dense
    # weights (attention, norms, embeddings) are on all 8 and shard 8 ways.
    from dlrig.estimate import memory

    m = find_model("mixtral-8x7b")
    s = derive(m, job("H100 SXM", n_gpus=8, ep=8, zero=1, seq_len=1024, batch_size=1))
    routed = routed_expert_params(m)
    assert s.plan.expert_dp == 1
    kept = (m.params_total - routed) / 8 + routed / 8
    per_param = memory.optimizer_bytes_per_param(s)
    assert memory.optimizer_bytes(s) == pytest.approx(per_param * kept)
    # on 16 GPUs two hold each expert, and the assumptions say where its states go
    from dlrig.estimate import explain

    sixteen = derive(m, job("H100 SXM", n_gpus=16, ep=8, zero=1, seq_len=1024, batch_size=1))
    said = " ".join(explain.assumptions(sixteen))
    assert sixteen.plan.expert_dp == 2
    assert "the routed experts' over the 2 GPUs holding the same experts" in said
    assert "etp 1 x ep 8 x expert-dp 2 per pipeline stage" in said
