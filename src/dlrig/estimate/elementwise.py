"""Bytes the element-wise work of a transformer training step streams through DRAM.

A GEMM reads its inputs and writes its output inside its own time (compute-bound: compute.py
costs it as FLOPs over the sustained rate), and so do fused attention kernels (FlashAttention,
SDPA's flash and memory-efficient kernels). What a GEMM rate does not speed up is the work
between them, where every kernel reads its inputs from DRAM and writes its outputs back. This
module counts that traffic op by op, for one kernel per op (the fused kernels of Megatron /
Transformer Engine, apex, Liger, torch.compile and Unsloth: one RMSNorm/LayerNorm kernel, one
SwiGLU/GELU kernel, one residual add), forward and backward (dlrig derivation from the ops'
definitions; the op list is Korthikanti et al. 2022, "Reducing Activation Recomputation in
Large Transformer Models", Sec. 4.1, Fig. 2, and the fused forward/backward kernels of
linkedin/Liger-Kernel's rms_norm.py, swiglu.py and cross_entropy.py, which read and write
exactly these tensors). Per token per layer, in elements of the activation dtype:

- norm (2 per block): forward reads x and writes y (2h); backward reads dy and x, writes dx
  (3h; the weight gradient is reduced in the same kernel);
- residual add (2 per block): forward reads two and writes one (3h); backward adds the branch's
  input gradient into the stream's gradient, read two write one (3h);
- MLP activation of width i (per token; an MoE token's k routed experts and the shared ones):
  gated (SwiGLU/GeGLU) forward reads gate and up, writes the product (3i), backward reads dy,
  gate and up, writes d_gate and d_up (5i); plain GELU forward 2i, backward reads dy and x,
  writes dx (3i);
- MoE dispatch and combine: the router's permutation copies each token to its k experts and
  the combine gathers them back, k·h + h each way, forward and backward;
- dropout (models that train with it, memory.has_dropout; 2 per block, after the attention
  projection and after the MLP): forward reads x, writes y and a 1-byte mask; backward reads
  dy and the mask, writes dx.
One final norm follows the last block. A recomputed forward (activation checkpointing) runs
every block's forward ops again; the output layer and the loss sit outside the checkpointed
blocks (HF gradient_checkpointing, torchtune and torchtitan wrap decoder layers) and are not
rerun.

The loss, per logit (memory.logits_traffic_bytes counts what its forward writes; this counts
both directions): the standard and chunked losses upcast 16-bit logits to fp32 (read e, write
4), log-softmax them (read 4, write 4); backward the NLL gradient is written (4), log-softmax's
backward reads that and the saved output and writes its gradient (4 + 4 + 4), and the cast's
backward reads it and writes e: 36 bytes for e = 2 (24 for fp32 logits: no casts). A fused
linear + cross-entropy (Liger) never writes logits: 0.

Eager attention (no fused kernel: the score matrix of every head goes through DRAM), per
score element, as BERT's and Hugging Face's eager attention run it (QK^T, scale, add the mask,
softmax, dropout, times V; NVIDIA DeepLearningExamples BERT modeling.py BertSelfAttention and
transformers' eager_attention_forward): forward the scale, the mask add and the softmax each
read and write it (3 x 2e; a ViT adds no mask: 2 x 2e), dropout reads it and writes it and a
1-byte mask; backward dropout reads the gradient and the mask and writes (2e + 1), softmax's
backward reads the gradient and its output and writes (3e), the scale's backward reads and
writes (2e); the mask add passes its gradient through. The two GEMMs' own reads and writes
are in their time.

Not counted (each under ~10 % of the block's count): rotary embeddings (the model presets do
not say which models use them), the embedding lookup, biases.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlrig.model.workload import Loss, ModelKind, ModelSpec

NORMS_PER_BLOCK = 2
RESIDUALS_PER_BLOCK = 2
DROPOUTS_PER_BLOCK = 2
NORM_FWD, NORM_BWD = 2, 3
RESIDUAL_FWD, RESIDUAL_BWD = 3, 3
GATED_FWD, GATED_BWD = 3, 5
PLAIN_FWD, PLAIN_BWD = 2, 3
DROPOUT_PASSES = 2  # read x, write y (forward); read dy, write dx (backward)
DROPOUT_MASK_BYTES = 1
FP32 = 4


@dataclass(frozen=True)
class BlockTraffic:
    """Bytes one token's element-wise ops stream in one transformer block."""

    forward: float
    backward: float


def block_traffic(m: ModelSpec, e: int, dropout: bool) -> BlockTraffic:
    """Element-wise bytes per token of one block (see the module docstring for the counts)."""
    h = m.hidden_size or 0
    i = m.token_mlp_width  # the MLP activation's width (an MoE token's experts)
    act_fwd, act_bwd = (GATED_FWD, GATED_BWD) if m.gated_mlp else (PLAIN_FWD, PLAIN_BWD)
    fwd = NORMS_PER_BLOCK * NORM_FWD * h + RESIDUALS_PER_BLOCK * RESIDUAL_FWD * h + act_fwd * i
    bwd = NORMS_PER_BLOCK * NORM_BWD * h + RESIDUALS_PER_BLOCK * RESIDUAL_BWD * h + act_bwd * i
    if m.kind == ModelKind.MOE and m.n_experts:
        k = m.experts_per_token or 1
        route = 2 * (k * h + h)  # permute to the k experts and combine back
        fwd += route
        bwd += route
    fwd_b, bwd_b = fwd * e, bwd * e
    if dropout:
        per = DROPOUTS_PER_BLOCK * (DROPOUT_PASSES * e + DROPOUT_MASK_BYTES) * h
        fwd_b += per
        bwd_b += per
    return BlockTraffic(fwd_b, bwd_b)


def loss_bytes_per_logit(e: int, loss: Loss) -> float:
    """Bytes the loss streams per logit, forward and backward (module docstring)."""
    if loss == Loss.FUSED:
        return 0.0
    cast = (e + FP32) if e < FP32 else 0  # forward upcast; its backward moves the same bytes
    log_softmax = 2 * FP32
    nll_grad = FP32
    log_softmax_bwd = 3 * FP32
    return 2 * cast + log_softmax + nll_grad + log_softmax_bwd


def train_bytes(
    m: ModelSpec, tokens: float, e: int, loss: Loss, recompute: bool, dropout: bool
) -> float:
    """Element-wise bytes of one micro-batch of `tokens` tokens through the whole model:
    every block forward (twice with recomputation) and backward, the final norm, the loss."""
    blk = block_traffic(m, e, dropout)
    per_token = m.total_layers * (blk.forward * (2 if recompute else 1) + blk.backward)
    per_token += (NORM_FWD + NORM_BWD) * (m.hidden_size or 0) * e
    if m.has_vocab_head:
        per_token += (m.vocab_size or 0) * loss_bytes_per_logit(e, loss)
    return tokens * per_token


def forward_bytes(m: ModelSpec, tokens: float, e: int) -> float:
    """Element-wise bytes of one inference forward pass (eval: dropout is the identity) of
    `tokens` tokens through an encoder: every block's forward ops and the final norm."""
    blk = block_traffic(m, e, dropout=False)
    return tokens * (m.total_layers * blk.forward + NORM_FWD * (m.hidden_size or 0) * e)


# Eager attention, per score element (module docstring): forward scale, mask add, softmax
# (each reads and writes: 2 passes); backward softmax (reads gradient and output, writes: 3),
# scale (2); dropout both ways when trained with it. A model without a mask (ViT) has no mask
# add (memory.has_attention_mask).
SCORE_OP_PASSES = 2
SCORE_FWD_OPS = 3  # scale, mask add, softmax
SCORE_BWD_PASSES = 3 + 2


def eager_score_bytes(
    scores: float, e: int, dropout: bool, recompute: bool, masked: bool = True
) -> float:
    """Element-wise bytes `scores` materialised score elements (heads x queries x keys, every
    layer) stream in a training step with eager attention."""
    fwd = (SCORE_FWD_OPS - (0 if masked else 1)) * SCORE_OP_PASSES * e
    bwd = SCORE_BWD_PASSES * e
    if dropout:
        fwd += DROPOUT_PASSES * e + DROPOUT_MASK_BYTES
        bwd += DROPOUT_PASSES * e + DROPOUT_MASK_BYTES
    return scores * (fwd * (2 if recompute else 1) + bwd)


# The two GEMMs of eager attention (S = QK^T, O = PV) contract over the head width d (64 in
# BERT, RoBERTa, ELECTRA, ViT): per head QK^T does 2·s²·d FLOPs while writing s² scores, so its
# intensity is about 2·d / e FLOPs per byte of score (64 for d = 64 in 16-bit) -- under every
# tensor-core card's FLOP:byte ratio (V100 125 TFLOPS / 900 GB/s = 139, A100 153, H100 SXM 295,
# RTX 4090 164 at FP32 accumulate): these GEMMs stream the score matrix at the memory bandwidth,
# not at the GEMM rate (roofline: Williams, Waterman, Patterson 2009, CACM 52(4)). dlrig
# derivation from the products autograd runs, per score element: forward QK^T writes S and PV
# reads P (2 accesses); backward dV = Pᵀ·dO reads P, dP = dO·Vᵀ writes dP, dQ = dS·K and
# dK = dSᵀ·Q each read dS (4); a recomputed forward writes S and reads P again (2). Q, K, V and
# O (s·d per head) are d/s of that and left out. The element-wise count above is the traffic
# BETWEEN these GEMMs; this is the GEMMs' own.
SCORE_GEMM_FWD = 2
SCORE_GEMM_BWD = 4


def eager_score_gemm_bytes(scores: float, e: int, recompute: bool) -> float:
    """Bytes eager attention's two score GEMMs stream over `scores` materialised score elements
    (heads x queries x keys, every layer) in a training step: forward, backward and, with
    recomputation, the forward again."""
    return scores * e * (SCORE_GEMM_FWD * (2 if recompute else 1) + SCORE_GEMM_BWD)


def eager_score_prefill_bytes(scores: float, e: int, masked: bool = True) -> float:
    """Bytes `scores` materialised score elements stream in an inference forward pass (a
    prefill) with eager attention: the forward half of a training step's count, no dropout
    (eval): the element-wise passes between the two GEMMs (scale, mask add, softmax: each
    reads and writes the scores) and the GEMMs' own write of S and read of P."""
    ops = SCORE_FWD_OPS - (0 if masked else 1)
    return scores * e * (ops * SCORE_OP_PASSES + SCORE_GEMM_FWD)
