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
