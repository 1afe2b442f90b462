"""An encoder trained with its masked-LM head (mlm_head.py): FLOPs on the positions the head
runs on only, its logits, and the option refused where it does not apply. BERT-large: h 1024,
vocabulary 30522; one head position forward = 2 x (1024^2 + 1024 x 30522) = 64,606,208 FLOPs."""

import pytest

from dlrig.catalog.lookup import find_gpu, find_model
from dlrig.estimate import memory as mem
from dlrig.estimate import shape as shapes
from dlrig.estimate.applicable import InapplicableError
from dlrig.estimate.request import job_from_options
from dlrig.model.workload import Job

HEAD_FWD = 2 * (1024 * 1024 + 1024 * 30522)
A100 = "A100 80GB SXM"


def _shape(**kw):
    m = find_model("bert-large")
    job = Job(task="train", gpu=find_gpu(A100), precision="fp16", **kw)
    return shapes.derive(m, job)


def test_head_position_forward_flops_by_hand():
    assert HEAD_FWD == 64_606_208


def test_masked_positions_only_add_their_share_of_the_head():
    # DeepLearningExamples phase 1: 20 masked positions of 128 (dense_seq_output):
    # 3 x 20 x 64,606,208 / 128 = 30,284,160 FLOPs per token more
    base = _shape(seq_len=128, batch_size=8)
    dense = _shape(seq_len=128, batch_size=8, mlm_positions=20)
    assert dense.flops_per_token - base.flops_per_token == pytest.approx(30_284_160)
    # every position (transformers' BertForMaskedLM): 3 x 64,606,208 = 193,818,624 per token
    full = _shape(seq_len=128, batch_size=8, mlm_positions=128)
    assert full.flops_per_token - base.flops_per_token == pytest.approx(193_818_624)


def test_head_is_not_recomputed_by_checkpointing():
    base = _shape(seq_len=128, batch_size=8, checkpointing=True)
    dense = _shape(seq_len=128, batch_size=8, checkpointing=True, mlm_positions=20)
    assert dense.flops_recompute_per_token == base.flops_recompute_per_token


def test_head_logits_are_held_on_its_positions_only():
    # fp16, standard loss: max(2 + 8, 12) = 12 bytes per logit
    s = _shape(seq_len=128, batch_size=32, mlm_positions=20)
    assert mem.logits_part(s) == 32 * 20 * 30522 * 12
    # a task head (classification, QA) has no vocabulary logits
    assert mem.logits_part(_shape(seq_len=128, batch_size=32)) == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "llama-3.1-8b", "task": "train"}, "llama-3.1-8b is a decoder"),
        ({"model": "bert-large", "task": "infer"}, "--mlm-positions 20 with --task infer"),
        ({"model": "bert-large", "task": "train", "seq_len": 16}, "at most --seq-len"),
    ],
)
def test_refused_where_it_does_not_apply(options, message):
    with pytest.raises(InapplicableError, match=message):
        job_from_options({"gpu": "RTX 4090", "mlm_positions": 20, **options})


def test_accepted_by_the_api_and_the_build_file():
    _, job = job_from_options(
        {"gpu": "RTX 4090", "model": "bert-large", "task": "train", "mlm_positions": 80}
    )
    assert job.mlm_positions == 80


def test_build_file_workload_counts_the_head_logits():
    from helpers import one, run_check

    def peak(**extra):
        workload = {"model": "bert-large", "task": "train", "seq_len": 128, "batch_size": 32}
        build = {"gpus": [{"model": A100}], "workload": {**workload, **extra}}
        return one(run_check(build), "gpu-memory").numbers["per_gpu_gb"].value

    # every position's logits: 32 x 128 x 30522 x 12 bytes (12 per logit in fp32 and in 16-bit:
    # max(e + 8, 12)), plus the allocator's slack on them
    assert peak(mlm_positions=128) - peak() == pytest.approx(32 * 128 * 30522 * 12 / 1e9, rel=0.05)
