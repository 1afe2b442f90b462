"""Encoder and ViT inference: forward passes of the batch, GEMMs plus element-wise work."""

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate import elementwise as ew
from dlrig.estimate import perf
from dlrig.estimate.job import shape
from estimate_helpers import job


def test_a_vit_forward_pass_is_its_gemms_plus_its_element_wise_bytes():
    m = find_model("vit-b16")
    j = job("RTX 3090", task="infer", precision="fp16", batch_size=256)
    s = shape(m, j)
    t = perf.throughput_of(s)
    memory_s = t.step_parts_s[perf.ENCODER_MEMORY_PART]
    assert sum(t.step_parts_s.values()) == pytest.approx(t.step_time_s)
    # 256 images x 197 tokens through 12 blocks (SDPA: no score matrices in DRAM)
    assert perf.encoder_forward_bytes(s) == ew.forward_bytes(m, 256 * 197, 2)
    assert memory_s == pytest.approx(perf.streaming_s(j, ew.forward_bytes(m, 256 * 197, 2)))
    assert t.bound == "compute"
    assert t.samples_per_s == pytest.approx(256 / t.step_time_s)


def test_eager_attention_streams_the_score_matrices():
    m = find_model("bert-base")
    kw = dict(task="infer", precision="fp16", batch_size=32, seq_len=384)
    eager = shape(m, job("RTX 3090", attention="eager", **kw))
    sdpa = shape(m, job("RTX 3090", attention="sdpa", **kw))
    scores = 12 * 12 * 384 * 384 * 32  # layers x heads x queries x keys x sequences
    extra = ew.eager_score_prefill_bytes(scores, 2, masked=True)
    assert perf.encoder_forward_bytes(eager) == pytest.approx(
        perf.encoder_forward_bytes(sdpa) + extra
    )
    assert perf.throughput_of(eager).samples_per_s < perf.throughput_of(sdpa).samples_per_s


def test_every_gpu_runs_the_batch():
    m = find_model("vit-b16")
    one = perf.throughput_of(shape(m, job("RTX 4090", task="infer", batch_size=64)))
    two = perf.throughput_of(shape(m, job("RTX 4090", task="infer", batch_size=64, n_gpus=2)))
    assert two.samples_per_s == pytest.approx(2 * one.samples_per_s)
    assert two.samples_per_s_per_gpu == pytest.approx(one.samples_per_s)


def test_encoder_inference_says_how_it_was_priced_and_reads_its_length_from_seq_len():
    from dlrig.estimate import explain

    m = find_model("bert-base")
    s = shape(m, job("RTX 3090", task="infer", batch_size=8, seq_len=128, attention="eager"))
    assert s.seq == 128
    said = " ".join(explain.assumptions(s))
    assert "every GPU running the batch" in said and "eager attention's score matrices" in said
    assert any(c.startswith("streaming bandwidth") for c in explain.sources(s))


def test_a_small_batch_waits_on_the_host_issuing_each_layer():
    """Eager PyTorch issues every op from Python: one BERT-base sequence of 128 tokens is
    under a millisecond of GPU work, so the forward pass lasts the 12 layers' host time, the
    time per encoder layer fitted on the published encoder and ViT forward passes
    (encoder_layer_s, benchmarks/calibrate.py fit_forward_host)."""
    from dlrig.estimate import calibration as cal

    m = find_model("bert-base")
    j = job("A100 40GB SXM", task="infer", precision="fp16", batch_size=1, seq_len=128)
    t = perf.throughput_of(shape(m, j))
    per_layer = cal.constants().get(perf.ENCODER_LAYER_KEY).value
    assert 1e-4 < per_layer < 3e-3  # a fraction of a millisecond to a few
    assert t.bound == "per-layer overhead"
    assert t.step_time_s == pytest.approx(12 * per_layer)
    assert sum(t.step_parts_s.values()) == pytest.approx(t.step_time_s)
    # a large batch is the GPU's work again, and no host time shows
    big = perf.throughput_of(shape(m, job("A100 40GB SXM", task="infer", batch_size=256)))
    assert big.bound != "per-layer overhead" and perf.ENCODER_HOST_PART not in big.step_parts_s
