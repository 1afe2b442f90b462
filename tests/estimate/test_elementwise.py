"""The element-wise traffic of a transformer training step, counted op by op (elementwise.py),
on cases small enough to check by hand."""

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate import elementwise as ew
from dlrig.model.workload import Loss


def test_loss_streams_36_bytes_per_16_bit_logit_and_none_when_fused():
    # forward: upcast (read 2, write 4), log-softmax (read 4, write 4) = 14; backward: NLL
    # gradient (write 4), log-softmax backward (read 4 + 4, write 4), cast back (read 4, write 2)
    # = 22
    assert ew.loss_bytes_per_logit(2, Loss.STANDARD) == 36
    assert ew.loss_bytes_per_logit(2, Loss.CHUNKED) == 36
    # fp32 logits: no casts, 8 + 16
    assert ew.loss_bytes_per_logit(4, Loss.STANDARD) == 24
    assert ew.loss_bytes_per_logit(2, Loss.FUSED) == 0


def test_gpt2_small_per_token_traffic_by_hand():
    """GPT-2 124M (h 768, plain GELU MLP 3072, 12 blocks, vocabulary 50257, dropout), bf16:
    block forward 2 norms x 2h + 2 residuals x 3h + GELU 2i = 13,824 elements = 27,648 B, plus
    2 dropouts x (2 x 2 B + 1 B mask) x 768 = 7,680 B: 35,328 B; backward 2 x 3h + 2 x 3h + 3i =
    18,432 elements = 36,864 B + 7,680 B = 44,544 B. 12 blocks: 958,464 B; final norm 5 x 768
    x 2 = 7,680 B; loss 50,257 x 36 = 1,809,252 B. Per token: 2,775,396 B."""
    m = find_model("gpt2")
    blk = ew.block_traffic(m, 2, dropout=True)
    assert (blk.forward, blk.backward) == (35_328, 44_544)
    assert ew.train_bytes(m, 1, 2, Loss.STANDARD, False, True) == 2_775_396
    # a fused linear + cross-entropy writes no logits; 4 tokens stream 4 x as much
    assert ew.train_bytes(m, 4, 2, Loss.FUSED, False, True) == 4 * (958_464 + 7_680)


def test_recomputation_reruns_the_blocks_forward_not_the_loss():
    """Llama-3.1-8B (h 4096, SwiGLU 14336, 32 blocks, no dropout), bf16: block forward
    2 x 2h + 2 x 3h + 3i = 83,968 elements = 167,936 B. Checkpointing adds 32 x 167,936 B per
    token and nothing for the loss or the final norm."""
    m = find_model("llama-3.1-8b")
    assert ew.block_traffic(m, 2, dropout=False).forward == 2 * (10 * 4096 + 3 * 14336)
    off = ew.train_bytes(m, 1, 2, Loss.CHUNKED, False, False)
    on = ew.train_bytes(m, 1, 2, Loss.CHUNKED, True, False)
    assert on - off == pytest.approx(32 * 167_936)


def test_moe_token_streams_its_experts_width_and_the_routing_copies():
    """Qwen3-30B-A3B: 8 of 128 experts of width 768 per token (no shared expert), h 2048.
    Forward: 10h + 3 x 8 x 768 + routing 2 x (8h + h) = 20,480 + 18,432 + 36,864 = 75,776
    elements."""
    m = find_model("qwen3-30b-a3b")
    assert (m.hidden_size, m.experts_per_token, m.expert_width) == (2048, 8, 768)
    assert ew.block_traffic(m, 1, dropout=False).forward == 75_776


def test_eager_scores_stream_22_bytes_without_dropout_and_twice_forward_with_recompute():
    # bf16, no dropout: forward scale, mask add, softmax 3 x 4 = 12 B; backward softmax 6 B and
    # scale 4 B: 22 B per score; recomputation runs the forward's 12 B again
    assert ew.eager_score_bytes(1, 2, dropout=False, recompute=False) == 22
    assert ew.eager_score_bytes(10, 2, dropout=False, recompute=True) == 340
    # fp32 with dropout: forward 24 + 9, backward 20 + 9
    assert ew.eager_score_bytes(1, 4, dropout=True, recompute=False) == 62


def test_eager_score_gemms_stream_six_score_accesses_eight_when_recomputed():
    """QK^T writes S, PV reads P (forward, 2); dV reads P, dP is written, dQ and dK each read
    dS (backward, 4); a recomputed forward adds 2. 1,000 scores in 16-bit: 1,000 x 2 B x 6."""
    assert ew.eager_score_gemm_bytes(1000, 2, recompute=False) == 12_000
    assert ew.eager_score_gemm_bytes(1000, 2, recompute=True) == 16_000
    assert ew.eager_score_gemm_bytes(1000, 4, recompute=False) == 24_000


def test_an_inference_forward_streams_the_blocks_forward_ops_and_the_final_norm_only():
    """ViT-B/16 (h 768, plain GELU MLP of 3072, 12 blocks, no dropout in eval): per token per
    block two norms (2h each), two residual adds (3h each), the GELU (2i) = 10h + 2i elements;
    the final norm 2h; 16-bit: 27,648 B per block, 331,776 + 3,072 B per token."""
    vit = find_model("vit-b16")
    per_block = (10 * 768 + 2 * 3072) * 2
    assert per_block == 27_648
    assert ew.forward_bytes(vit, 1, 2) == 12 * per_block + 2 * 768 * 2
    assert ew.forward_bytes(vit, 197 * 8, 2) == 197 * 8 * ew.forward_bytes(vit, 1, 2)
    # training with dropout streams more forward bytes than the eval pass
    bert = find_model("bert-base")
    assert ew.block_traffic(bert, 2, dropout=True).forward > ew.forward_bytes(bert, 1, 2) / 12
