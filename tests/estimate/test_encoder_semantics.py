"""What encoder and ViT training runs actually compute, on cases small enough to check by hand
(issue 15, encoder helper): ViTs train without dropout and attend without a mask; a BERT
phase-2 pretraining run with sequence binning states no sequence length."""

import csv
from importlib import resources

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate import elementwise as ew
from dlrig.estimate import memory as mem
from dlrig.estimate import points
from dlrig.model.workload import Attention


def test_vit_trains_without_dropout_and_bert_with_it():
    # timm / HF / torchvision ViTs default to dropout 0, which PyTorch returns as the input
    assert not mem.has_dropout(find_model("vit-b16"))
    assert not mem.has_dropout(find_model("vit-l16"))
    assert mem.has_dropout(find_model("bert-large"))


def test_vit_scores_have_no_mask_add_and_bert_scores_do():
    assert not mem.has_attention_mask(find_model("vit-b16"))
    assert mem.has_attention_mask(find_model("bert-base"))


def test_unmasked_eager_scores_stream_18_bytes_in_16_bit():
    # fp16, no dropout, no mask: forward scale and softmax 2 x (2 + 2) = 8 B; backward softmax
    # (read 2 + 2, write 2) and scale (read 2, write 2) = 10 B
    assert ew.eager_score_bytes(1, 2, dropout=False, recompute=False, masked=False) == 18
    # the masked count is 4 B more (the mask add reads and writes each score once more)
    assert ew.eager_score_bytes(1, 2, dropout=False, recompute=False) == 22
    # recomputation streams the unmasked forward's 8 B again: 10 scores x (16 + 10)
    assert ew.eager_score_bytes(10, 2, dropout=False, recompute=True, masked=False) == 260


def test_vit_keeps_only_the_softmax_output_per_score():
    # ViT-B/16: 12 heads x 197 x 197 scores per image; fp16 softmax output 2 B, no dropout
    # mask or dropout output
    m = find_model("vit-b16")
    got = mem.score_bytes(m, 197, 197, 1, 2, Attention.EAGER)
    assert got == 12 * 197 * 197 * 2
    # BERT keeps softmax output, dropout mask and dropout output: 2 + 1 + 2 B
    b = find_model("bert-base")
    assert mem.score_bytes(b, 128, 128, 1, 2, Attention.EAGER) == 12 * 128 * 128 * 5


def test_vit_block_keeps_no_dropout_masks():
    # Korthikanti's 34 sbh with e = 2 includes two 1-byte dropout masks (sbh each): a ViT block
    # keeps 32 sbh. ViT-B/16: h 768, i 3072 = 4h, q = kv = h.
    m = find_model("vit-b16")
    s, b, h = 197, 1, 768
    assert mem.layer_activation_bytes(m, s, b, 2) == 32 * s * b * h
    bert = find_model("bert-base")
    assert mem.layer_activation_bytes(bert, s, b, 2) == 34 * s * b * h


def _rows(prefix: str) -> list[dict[str, str]]:
    path = resources.files("dlrig.catalog").joinpath("data", "calibration_points.csv")
    with path.open(newline="") as f:
        return [r for r in csv.DictReader(f) if r["id"].startswith(prefix)]


@pytest.mark.parametrize("size", ["seq512", "seq128"])
def test_binned_phase_2_states_no_length_and_phase_1_does(size):
    """DeepLearningExamples' BERT phase 2 pads each batch to its own longest sequence (LDDL
    binning), so its rows state no length and are not expressible; phase 1 pads to 128."""
    rows = [r for r in _rows("dle-bertl-pretrain") if size in r["id"]]
    # A100: 1 and 8 GPUs, 2, 8 and 32 nodes; V100: 1 and 8 GPUs; each in two precisions
    assert len(rows) == 14
    for r in rows:
        # benchmarks/calibrate.py times LAMB as AdamW (the step model does not depend on the
        # update rule); the Job knows no "lamb"
        reason = points.why_not({**r, "optimizer": "adamw"})
        if size == "seq512":
            assert reason == "training sequence length not stated (seq_len blank)"
        else:
            assert reason is None and r["seq_len"] == "128"


def test_hf_doc_memory_rows_are_the_allocators_share_of_their_own_readings():
    """The HF doc measured its stack's CUDA context and kernels alone (1343 MB after
    torch.ones((1, 1)).to("cuda")): each memory row is its 'GPU memory occupied' reading less
    that, in GiB, compared with the allocator's reserved peak."""
    import re

    rows = [r for r in _rows("hfperf-bertl-v100") if r["category"] == "memory"]
    assert len(rows) == 9
    for r in rows:
        used = int(re.search(r"GPU memory occupied (\d+) MB", r["notes"]).group(1))
        assert r["semantics"] == "allocator_reserved"
        assert float(r["value"]) == pytest.approx((used - 1343) / 1024, abs=5e-4)
