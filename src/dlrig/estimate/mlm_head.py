"""An encoder trained with its masked-LM head (BERT pretraining, `run_mlm.py`-style
fine-tuning), which a task head (classification, question answering) does not have.

The head (BERT's BertLMPredictionHead; Devlin et al. 2019, and both implementations below):
a dense h x h transform, GELU and LayerNorm, then the decoder h x V whose weight is the word
embedding (tied: no parameters of its own) and a V-wide bias; the loss is cross-entropy over V.
Per position it runs on, forward 2·h² + 2·h·V FLOPs; training 3x that (input and weight
gradients), and the head sits outside the encoder layers that activation checkpointing wraps
(transformers' BertForMaskedLM: `self.bert` then `self.cls`), so it is not recomputed.

Where it runs is the implementation's choice, and it is what `Job.mlm_positions` says:
- every position: transformers' BertForMaskedLM / BertForPreTraining compute
  `prediction_scores = self.predictions(sequence_output)` over the whole sequence and mask
  the loss with labels -100 (mlm_positions = the sequence length);
- the masked positions only: NVIDIA DeepLearningExamples' BERT (PyTorch/LanguageModeling/
  BERT/modeling.py, BertPreTrainingHeads with `sequence_output_is_dense`: `torch.index_select(
  sequence_output, 0, torch.nonzero(masked_lm_labels.view(-1) != -1))` before the head;
  run_pretraining.py enables it unless --no_dense_sequence_output), at most
  max_predictions_per_seq per sequence (20 at seq 128, 80 at seq 512 in its
  scripts/run_pretraining.sh). dlrig counts that maximum (the head's padded width).

BERT-large at seq 128 with 20 masked positions: the head adds 20 x 3 x 2 x (1024² + 1024 x
30522) = 3.88 GFLOP per sequence to the body's ~237 GFLOP (1.6 %); on every position it adds
6.4x that (10.5 %) and holds a 128 x 30522 logits tensor per sequence.
"""

from __future__ import annotations

from dlrig.model.workload import Job, ModelKind, ModelSpec


def applies(m: ModelSpec, job: Job) -> bool:
    return m.kind == ModelKind.ENCODER and bool(job.mlm_positions)


def positions(m: ModelSpec, job: Job, seq: int) -> int:
    """Positions per sequence the head runs on (at most the sequence); 0 without the head."""
    if not applies(m, job):
        return 0
    return min(int(job.mlm_positions or 0), seq)


def flops_fwd_per_position(m: ModelSpec) -> float:
    """The transform (h x h) and the tied decoder (h x V): 2 FLOPs per weight."""
    h, v = m.hidden_size or 0, m.vocab_size or 0
    return 2.0 * (h * h + h * v)


def flops_fwd_per_token(m: ModelSpec, job: Job, seq: int) -> float:
    """The head's forward FLOPs spread over the sequence's tokens (the estimator counts FLOPs
    per token): positions / seq of one position's."""
    if seq <= 0:
        return 0.0
    return positions(m, job, seq) * flops_fwd_per_position(m) / seq


def logits(m: ModelSpec, job: Job, seq: int, micro_batch: int) -> int:
    """Logits one micro-batch's head writes: positions x V per sequence."""
    return positions(m, job, seq) * micro_batch * (m.vocab_size or 0)
