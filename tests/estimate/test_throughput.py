"""The time side on tiny hand-computable inputs: compute, collectives, decode, step composition,
and the fitted constants' lookup."""

from __future__ import annotations

import pytest

from dlrig.catalog import load
from dlrig.catalog.lookup import find_gpu, find_model
from dlrig.errors import CatalogDataError, DlrigError
from dlrig.estimate import calibration as cal
from dlrig.estimate import comm, perf, stream
from dlrig.estimate import compute as cp
from dlrig.estimate import decode as dec
from dlrig.estimate import params as p
from dlrig.estimate import step as st
from dlrig.estimate.job import shape, throughput
from dlrig.model.workload import ModelKind, ModelSpec
from estimate_helpers import job

LINK = comm.Link("test link", busbw_gbs=10.0, latency_s=0.0)


# --- compute ------------------------------------------------------------------------------


def test_peaks_by_precision():
    g = find_gpu("RTX 4090")
    assert cp.peak(g, "bf16").tflops == 165.2  # dense, FP32 accumulate (GeForce halved)
    assert cp.peak(g, "tf32").tflops == pytest.approx(82.6)  # half the FP16 rate on Ada
    assert cp.peak(g, "fp32").tflops == g.fp32_tflops
    v100 = find_gpu(
        "Tesla V100 SXM2 16GB"
    )  # "V100" (SXM2) alone also fits the PCIe and 32 GB cards
    assert cp.peak(v100, "tf32").warning  # Volta has no TF32: falls back to FP32 with a note
    assert cp.peak(v100, "fp8").warning
    # FP16 accumulation (llama.cpp's cuBLAS path): twice the rate on GeForce, equal elsewhere
    assert cp.peak(g, "fp16-acc").tflops == 330.3
    assert cp.peak(find_gpu("A100 80GB SXM"), "fp16-acc").tflops == 312


def test_fp8_runs_at_the_fp32_accumulate_rate():
    """cuBLASLt's FP8 GEMMs accumulate in FP32, which GeForce cards run at half rate: the
    headline FP8 figure (FP16 accumulate) halves there, and stays on full-rate cards."""
    assert cp.peak(find_gpu("RTX 4090"), "fp8").tflops == pytest.approx(
        330.3, rel=1e-3
    )  # 660.6 / 2
    assert cp.peak(find_gpu("RTX 5090"), "fp8").tflops == pytest.approx(419.0, rel=1e-3)  # 838 / 2
    assert cp.peak(find_gpu("RTX 5080"), "fp8").tflops == pytest.approx(
        225.1, rel=1e-3
    )  # 450.2 / 2
    assert cp.peak(find_gpu("RTX 6000 Ada"), "fp8").tflops == 728.5  # full rate: unchanged
    assert cp.peak(find_gpu("RTX PRO 6000 Blackwell Workstation Edition"), "fp8").tflops == 1007.6
    assert cp.peak(find_gpu("B200"), "fp8").tflops == 4500


def test_training_flops_full_and_frozen_base():
    n, attn = 1000.0, 64.0 * 100  # 2 layers, q = 8: 4 · L · Q · T = 64 · T at T = 100
    assert cp.attention_flops_fwd(2, 8, 100) == attn
    full = cp.train_flops(n, attn, frozen_base=False)
    assert full.model == 6 * n + 3 * attn and full.recompute == 2 * n + attn
    lora = cp.train_flops(n, attn, frozen_base=True)
    assert lora.model == 4 * n + 3 * attn  # no weight-gradient GEMMs for frozen matrices
    assert full.executed(True) == full.model + 2 * n + attn


def test_nf4_dequantisation_is_a_memory_pass_per_use():
    # 1e9 weights at 4 bits: read 0.5 GB + write 2 GB per pass; 3 passes at 1000 GB/s.
    assert cp.dequant_time_s(1e9, 4.0, cp.dequant_passes(True), 1000) == pytest.approx(0.0075)
    assert cp.dequant_passes(False) == 2


def test_lora_adapters_stream_their_activations_by_hand():
    # One adapted 4 -> 8 matrix, once per token. Forward: lora_A reads x (4); lora_B writes its
    # output, * scaling reads and writes it, + result reads two and writes one (6 x 8).
    # Backward: 3 x 8 for the output gradient, 5 x 4 for x's (read, write, accumulate).
    assert cp.lora_adapter_elements([(4, 8, 1.0)], checkpointing=False) == 52 + 44
    assert cp.lora_adapter_elements([(4, 8, 1.0)], checkpointing=True) == 2 * 52 + 44
    assert cp.lora_adapter_elements([(4, 8, 3.0)], checkpointing=False) == 3 * 96


def test_a_lora_step_pays_its_adapters_traffic_at_the_bandwidth():
    m = find_model("llama-2-7b")
    kw = dict(task="lora", seq_len=512, batch_size=1, mfu=0.5)
    qv, every = (shape(m, job("A100 80GB SXM", lora_targets=t, **kw)) for t in ("qv", "all"))
    h, i, kv = 4096, 11008, 4096  # Llama-2-7B: no grouped KV heads
    assert perf.lora_adapted(qv) == [(h, h, 32.0), (h, kv, 32.0)]
    assert [d for d in perf.lora_adapted(every)][-3:] == [(h, i, 32.0), (h, i, 32.0), (i, h, 32.0)]
    t_qv, t_all = (throughput(m, j.job) for j in (qv, every))
    adapters = [cp.lora_adapter_elements(perf.lora_adapted(s), False) for s in (qv, every)]
    # The difference in time is the extra adapters' bytes (2 per bf16 element, 512 tokens) at
    # the element-wise bandwidth, plus their own FLOPs (6 per adapter parameter).
    extra_bytes = (adapters[1] - adapters[0]) * 2 * 512
    extra_flops = 6 * (every.params_trainable - qv.params_trainable) * 512
    bw = 2039e9 * stream.fraction(find_gpu("A100 80GB SXM"))  # estimate/stream.py
    assert t_all.compute_time_s - t_qv.compute_time_s == pytest.approx(
        extra_bytes / bw + extra_flops / (312e12 * 0.5)
    )


def test_a_given_mfu_is_against_the_datasheet_and_is_reported_as_given():
    m = find_model("gpt2")
    for gpu in ("RTX 4090", "A100 80GB SXM"):
        t = throughput(m, job(gpu, seq_len=1024, batch_size=8, mfu=0.4))
        assert t.utilization == pytest.approx(0.4)


def test_efficiency_group_is_by_architecture_not_form_factor():
    a = cp.efficiency_group("llm", "train", find_gpu("A100 80GB SXM"), "bf16", 8.0)
    b = cp.efficiency_group("llm", "train", find_gpu("A100 80GB PCIe"), "bf16", 8.0)
    assert a == b == ("llm", "train", "Ampere", "bf16", "3-20b")
    ada = cp.efficiency_group("llm", "lora", find_gpu("RTX 4090"), "bf16", 70)
    assert ada[2:] == ("Ada", "bf16", "20-100b")


def test_a_qlora_style_job_over_a_gptq_base_is_not_pooled_with_nf4_qlora():
    m = find_model("llama-2-7b")
    nf4 = perf.train_group(m, job("A100 80GB SXM", task="qlora"))
    gptq = perf.train_group(m, job("A100 80GB SXM", task="qlora", base_quant="gptq"))
    assert nf4[:2] == ("llm", "qlora")
    assert gptq[:2] == ("llm", "qlora-gptq")
    assert perf.train_group(m, job("A100 80GB SXM", task="lora"))[:2] == ("llm", "lora")


def test_fp32_convolutions_run_on_tf32_where_pytorch_allows_it():
    assert cp.conv_precision("fp32", find_gpu("A100 80GB SXM")) == "tf32"
    assert cp.conv_precision("fp32", find_gpu("Tesla V100 SXM2 16GB")) == "fp32"
    assert cp.conv_precision("fp16", find_gpu("A100 80GB SXM")) == "fp16"


def test_nchw_adds_the_forward_transposes_of_each_convolution():
    # 1 GB of activations at 100 GB/s: 4 element-wise passes = 40 ms; NCHW adds a transpose of
    # the input and of the output (read + write each): 4 more passes = 80 ms.
    assert cp.elementwise_time_s(1e9, False, 100.0) == pytest.approx(0.04)
    assert cp.elementwise_time_s(1e9, False, 100.0, nchw=True) == pytest.approx(0.08)
    m = find_model("resnet50")
    g = "RTX 4090"
    last = throughput(m, job(g, precision="fp16", batch_size=64)).samples_per_s
    nchw = throughput(m, job(g, precision="fp16", batch_size=64, memory_format="nchw"))
    assert nchw.samples_per_s < last
    # fp32 on Volta has no tensor cores: nothing is transposed
    v100 = [
        throughput(
            m, job("Tesla V100 SXM2 16GB", precision="fp32", batch_size=64, memory_format=f)
        ).samples_per_s
        for f in ("channels_last", "nchw")
    ]
    assert v100[0] == v100[1]


def tiny(vocab: int = 10, tied: bool = False) -> ModelSpec:
    # 2 layers, h = 8, 2 heads of 4: attention_flops_fwd = 4 · L · (H·Q) · T = 64 · T.
    return ModelSpec(
        name="tiny",
        kind=ModelKind.DECODER,
        params_total=1000,
        n_layers=2,
        hidden_size=8,
        n_heads=2,
        n_kv_heads=2,
        head_dim=4,
        vocab_size=vocab,
        intermediate_size=16,
        gated_mlp=True,
        tied_embeddings=tied,
    )


def test_the_shape_counts_palm_flops_and_lora_skips_weight_gradients():
    m = tiny()
    n = 1000 - 10 * 8  # the untied input embedding is a lookup, not a matmul
    s = shape(m, job(seq_len=100))
    # 6N + 12·L·H·Q·T (PaLM App. B): 3 x the forward's 4 · L · Q · T = 64 · 100
    assert s.flops_per_token == 6 * n + 3 * 64 * 100
    lora = shape(m, job(task="lora", seq_len=100, lora_targets="qv", lora_rank=1))
    assert lora.flops_per_token == 4 * n + 3 * 64 * 100 + 6 * lora.params_trainable


# --- collectives --------------------------------------------------------------------------


def test_two_gpu_ring_allreduce_of_one_gigabyte():
    # 2·(n-1)/n · 1 GB / 10 GB/s = 0.1 s (nccl-tests busbw definition)
    assert comm.allreduce_s(1e9, 2, LINK) == pytest.approx(0.1)
    assert comm.allreduce_s(1e9, 4, LINK) == pytest.approx(0.15)
    assert comm.allreduce_s(1e9, 1, LINK) == 0.0


def test_latency_counts_once_per_ring_step():
    slow = comm.Link("x", 10.0, 5e-6)
    assert comm.allreduce_s(8, 4, slow) == pytest.approx(2 * 3 * 5e-6, rel=1e-3)
    assert comm.allgather_s(8, 4, slow) == pytest.approx(3 * 5e-6, rel=1e-3)
    assert comm.p2p_s(1e9, slow) == pytest.approx(5e-6 + 0.1)


def test_hierarchical_allreduce_across_nodes():
    intra = comm.Link("nvlink", 100.0, 0.0)
    inter = comm.Link("ib", 10.0, 0.0)
    g = comm.place(16, 1, 8, intra, inter)
    assert (g.per_node, g.nodes) == (8, 2)
    # reduce-scatter and all-gather of 8 GB inside the node (7/8 · 8 GB / 100 GB/s each),
    # all-reduce of the 1 GB shard between the two nodes (1 · 1 GB / 10 GB/s).
    assert comm.group_allreduce_s(8e9, g) == pytest.approx(2 * 0.07 + 0.1)
    # all-gather of 8 GB: 1 GB slices between the nodes on 8 rails (1/2 · 1 GB / 10 GB/s),
    # then 7/8 · 8 GB / 100 GB/s inside the node
    assert comm.group_allgather_s(8e9, g) == pytest.approx(0.05 + 0.07)


def test_intra_node_links_with_and_without_p2p():
    a6000 = comm.intra_node_link(find_gpu("RTX A6000"), "pcie")
    rtx3090 = comm.intra_node_link(find_gpu("RTX 3090"), "pcie")
    pcie4_x16 = load.pcie_gens()[4].per_lane_gbs * 16
    assert a6000.busbw_gbs == pytest.approx(pcie4_x16 * p.value("allreduce_busbw_fraction_pcie"))
    assert rtx3090.busbw_gbs == pytest.approx(a6000.busbw_gbs * p.value("pcie_no_p2p_fraction"))
    assert "no P2P" in rtx3090.what
    assert comm.intra_node_link(find_gpu("H100 SXM")).what.startswith("NVLink 450")


def test_network_rates_come_from_the_networks_table():
    ndr = comm.network_link("ib-ndr")
    assert ndr.busbw_gbs == 48  # networks.csv effective_gbs
    with pytest.raises(DlrigError, match="did you mean ib-ndr"):
        comm.network_link("ib-ndrr")


# --- decode -------------------------------------------------------------------------------


def toy_decode(batch: int = 1, gpus: int = 1) -> dec.DecodeInputs:
    # A 2-layer toy: 1 GB of weights and 0.1 GB of KV cache split over `gpus`, hidden 8.
    return dec.DecodeInputs(
        1e9 / gpus, 1e8 / gpus, flops=2e9 * batch, n_layers=2, hidden=8, batch=batch
    )


def test_one_decode_step_reads_every_byte_once():
    d = dec.decode_step(
        toy_decode(), mem_bw_gbs=100, bw_efficiency=0.5, peak_tflops=100, compute_efficiency=0.5
    )
    assert d.memory_s == pytest.approx(1.1e9 / 50e9)
    assert d.step_s == d.memory_s and d.bound == "memory-bandwidth"
    assert d.tokens_per_s(1) == pytest.approx(50 / 1.1)


def test_tensor_parallel_decode_pays_two_allreduces_per_layer():
    link = comm.Link("pcie", 10.0, 1e-5)
    d = dec.decode_step(
        toy_decode(gpus=2),
        mem_bw_gbs=100,
        bw_efficiency=0.5,
        peak_tflops=100,
        compute_efficiency=0.5,
        tp=2,
        link=link,
    )
    per_allreduce = 2 * 1e-5 + 1 * (8 * 2) / 10e9  # 2(n-1) steps of latency + 16 bytes
    assert d.comm_s == pytest.approx(2 * 2 * per_allreduce)
    assert d.memory_s == pytest.approx(1.1e9 / 2 / 50e9)
    assert d.split == "tensor"


def test_layer_split_decode_is_no_faster_than_one_gpu():
    link = comm.Link("pcie", 10.0, 1e-5)
    kw = dict(mem_bw_gbs=100, bw_efficiency=0.5, peak_tflops=100, compute_efficiency=0.5)
    one = dec.decode_step(toy_decode(), **kw)
    two = dec.decode_step(toy_decode(gpus=2), pp=2, link=link, **kw)
    assert two.split == "layer" and two.memory_s == pytest.approx(one.memory_s)
    assert two.step_s == pytest.approx(one.step_s + 1e-5 + 16 / 10e9)  # one activation hop


def test_batched_decode_moves_to_the_compute_bound():
    kw = dict(mem_bw_gbs=100, bw_efficiency=0.5, peak_tflops=1, compute_efficiency=0.5)
    small = dec.decode_step(toy_decode(1), **kw)
    big = dec.decode_step(toy_decode(4096), **kw)
    assert small.bound == "memory-bandwidth" and big.bound == "compute"
    assert big.tokens_per_s(4096) > small.tokens_per_s(1)


def test_every_decode_step_pays_the_per_layer_time_whatever_the_split():
    # 2 layers at 1 ms each: 2 ms on top of the 22 ms read, on one GPU or two (tp or pp).
    link = comm.Link("pcie", 10.0, 0.0)
    kw = dict(
        mem_bw_gbs=100,
        bw_efficiency=0.5,
        peak_tflops=100,
        compute_efficiency=0.5,
        layer_overhead_s=1e-3,
    )
    one = dec.decode_step(toy_decode(), **kw)
    assert one.overhead_s == pytest.approx(2e-3)
    assert one.step_s == pytest.approx(1.1e9 / 50e9 + 2e-3)
    tp = dec.decode_step(toy_decode(gpus=2), tp=2, link=link, **kw)
    pp = dec.decode_step(toy_decode(gpus=2), pp=2, link=link, **kw)
    assert tp.overhead_s == pp.overhead_s == pytest.approx(2e-3)
    # Halving the bytes halves the read, not the per-layer time: less than 2x faster.
    assert one.step_s / tp.step_s < 2


def test_an_eager_engines_host_time_overlaps_the_read():
    kw = dict(mem_bw_gbs=100, bw_efficiency=0.5, peak_tflops=100, compute_efficiency=0.5)
    # 22 ms of reads; 2 layers of 5 ms of host time hide behind it, 2 layers of 20 ms do not.
    hidden = dec.decode_step(toy_decode(), layer_overhead_s=5e-3, overhead_overlaps=True, **kw)
    assert hidden.step_s == pytest.approx(1.1e9 / 50e9) and hidden.overhead_s == 0
    waits = dec.decode_step(toy_decode(), layer_overhead_s=20e-3, overhead_overlaps=True, **kw)
    assert waits.step_s == pytest.approx(40e-3)
    assert waits.bound == "per-layer overhead"
    assert waits.overhead_s == pytest.approx(40e-3 - 1.1e9 / 50e9)  # the wait on the host


def test_a_tiny_model_is_bound_by_the_per_layer_time():
    kw = dict(mem_bw_gbs=100, bw_efficiency=0.5, peak_tflops=100, compute_efficiency=0.5)
    tiny = dec.DecodeInputs(1e6, 0.0, flops=2e6, n_layers=2, hidden=8, batch=1)
    d = dec.decode_step(tiny, layer_overhead_s=1e-3, **kw)  # 20 us read, 2 ms of layers
    assert d.bound == "per-layer overhead"
    assert d.step_s == pytest.approx(1e6 / 50e9 + 2e-3)


def test_a_prompt_token_attends_to_the_keys_the_causal_mask_leaves():
    # P = 3: tokens see 1, 2, 3 keys, mean 2. A window of 4 over P = 10: 1, 2, 3, 4, 4, ... -> 3.4.
    assert perf.causal_attended(tiny(), 3) == pytest.approx(2.0)
    windowed = tiny().model_copy(update={"sliding_window": 4})
    assert perf.causal_attended(windowed, 10) == pytest.approx(3.4)
    # The prefill counts attention at that mean, the decode step at the whole context.
    m = tiny()
    s = shape(m, job(task="infer", prompt_tokens=3, gen_tokens=1, batch_size=1))
    attention_at_context = 64 * s.attended  # tiny(): 4 · L · (H·Q) = 64 per key
    # and the output head on the last of the 3 positions only: 2/3 of its 2·V·h skipped
    head = 2 * m.vocab_size * m.hidden_size * 2 / 3
    assert perf.prefill_flops_per_token(s) == pytest.approx(
        s.flops_fwd_per_token - attention_at_context + 64 * 2.0 - head
    )


def test_fp8_inference_runs_at_the_fp8_peak_where_the_card_has_one():
    m = find_model("llama-2-7b")
    kw = dict(task="infer", precision="fp8", quant="fp8", context=512, engine="tensorrt-llm")
    h100 = throughput(m, job("H100 SXM", **kw))
    a100 = throughput(m, job("A100 80GB SXM", **kw))
    assert h100.peak_tflops == find_gpu("H100 SXM").fp8_tensor_tflops
    assert a100.peak_tflops == find_gpu("A100 80GB SXM").fp16_tensor_tflops  # no FP8 cores


def test_prefill_and_time_to_first_token():
    pre = dec.prefill(1000, 2e9, peak_tflops=100, efficiency=0.5, n_layers=2, hidden=8)
    assert pre.time_s == pytest.approx(1000 * 2e9 / 50e12)
    assert pre.tokens_per_s == pytest.approx(1000 / pre.time_s)
    assert dec.request_tokens_per_s(10, 1.0, 0.1) == pytest.approx(10 / 2.0)


def test_short_prefill_is_bound_by_reading_the_weights_once_per_chunk():
    # 10 tokens x 2 GFLOP at 50 TFLOPS = 0.4 ms; 4 GB at 1000 GB/s x 0.8 = 5 ms: the read wins
    kw = dict(peak_tflops=100, efficiency=0.5, n_layers=2, hidden=8, mem_bw_gbs=1000)
    short = dec.prefill(10, 2e9, weight_bytes=4e9, bw_efficiency=0.8, **kw)
    assert short.time_s == pytest.approx(4e9 / 800e9)
    assert short.bound == "memory-bandwidth"
    # 4096 tokens in chunks of 1024: the compute (163.8 ms) beats four reads (20 ms)
    long = dec.prefill(4096, 2e9, weight_bytes=4e9, bw_efficiency=0.8, chunk_tokens=1024, **kw)
    assert long.time_s == pytest.approx(4096 * 2e9 / 50e12)
    assert long.read_s == pytest.approx(4 * 4e9 / 800e9)
    assert long.bound == "compute"


def test_prefill_and_decode_name_their_bound_by_one_rule():
    # the longest of link, per-layer time and the roofline's larger side
    assert dec.bound_of(read_s=1, compute_s=2, comm_s=3, per_layer_s=0) == "communication"
    assert dec.bound_of(read_s=1, compute_s=2, comm_s=0, per_layer_s=3) == "per-layer overhead"
    assert dec.bound_of(read_s=2, compute_s=1, comm_s=1, per_layer_s=1) == "memory-bandwidth"
    assert dec.bound_of(read_s=1, compute_s=2, comm_s=1, per_layer_s=1) == "compute"
    # a tensor-parallel prefill over a slow link waits on its all-reduces: 1000 tokens x 8
    # hidden x 2 bytes = 16 kB per all-reduce, 2 per layer, 2 layers, each at 1 ms latency
    slow = comm.Link("slow", busbw_gbs=1e-3, latency_s=1e-3)
    kw = dict(peak_tflops=100, efficiency=0.5, n_layers=2, hidden=8)
    pre = dec.prefill(1000, 2e9, tp=2, link=slow, **kw)
    assert pre.comm_s > pre.compute_s and pre.bound == "communication"


def test_prefill_pays_the_per_layer_time_once_per_chunk():
    kw = dict(peak_tflops=100, efficiency=0.5, n_layers=4, hidden=8)
    one = dec.prefill(2048, 1e9, chunk_tokens=2048, layer_overhead_s=1e-4, **kw)
    two = dec.prefill(2048, 1e9, chunk_tokens=1024, layer_overhead_s=1e-4, **kw)
    assert one.overhead_s == pytest.approx(4 * 1e-4)
    assert two.overhead_s == pytest.approx(2 * 4 * 1e-4)
    # an eager engine's host time overlaps the GPU's work: only the excess shows
    eager = dec.prefill(2048, 1e9, layer_overhead_s=1e-4, overhead_overlaps=True, **kw)
    assert eager.time_s == pytest.approx(2048 * 1e9 / 50e12)


def test_llama_cpp_prefills_in_its_512_token_ubatches_other_engines_in_2048_token_chunks():
    m = find_model("llama-3-8b")
    kw = dict(task="infer", prompt_tokens=3000, gen_tokens=10)
    assert shape(m, job("RTX 4090", engine="llama.cpp", **kw)).prefill_tokens_in_flight == 512
    assert shape(m, job("RTX 4090", engine="vllm", **kw)).prefill_tokens_in_flight == 2048


def test_time_to_first_token_is_the_prefill_alone():
    # the first token is sampled from the prefill's last position: no decode step before it
    m = find_model("llama-2-7b")
    t = throughput(m, job("A100 80GB SXM", task="infer", prompt_tokens=1000, gen_tokens=100))
    assert t.ttft_s == pytest.approx(1000 / t.prefill_tokens_per_s)


def test_moe_prefill_reads_every_expert_decode_only_the_routed_ones():
    m = find_model("mixtral-8x7b")
    s = shape(m, job("H100 SXM", task="infer", quant="int4", prompt_tokens=512, context=1024))
    assert s.prefill_weight_bytes_per_gpu > 3 * s.decode_weight_bytes_per_gpu * 0.9
    assert s.prefill_weight_bytes_per_gpu > 0.9 * s.weight_bytes_per_gpu


def test_moe_prefill_adds_the_experts_roofline_to_the_dense_part():
    # dense part: 1 GFLOP/token x 1000 tokens at 50 TFLOPS = 20 ms, 1 GB read = 1.25 ms;
    # experts: 0.5 GFLOP/token = 10 ms of math, 20 GB read at 800 GB/s = 25 ms: 20 + 25 ms
    kw = dict(peak_tflops=100, efficiency=0.5, n_layers=2, hidden=8, mem_bw_gbs=1000)
    pre = dec.prefill(
        1000,
        1.5e9,
        weight_bytes=21e9,
        bw_efficiency=0.8,
        routed_flops_per_token=0.5e9,
        routed_weight_bytes=20e9,
        **kw,
    )
    assert pre.time_s == pytest.approx(20e-3 + 25e-3)
    # one roofline over the totals would have hidden the experts' read under the math
    assert pre.time_s > max(pre.compute_s, pre.read_s)


def test_moe_decode_reads_only_routed_experts():
    m = find_model("mixtral-8x7b")
    kw = dict(task="infer", quant="int4", context=512)
    one = perf.decode_inputs(shape(m, job("H100 SXM", batch_size=1, **kw)))
    eight = perf.decode_inputs(shape(m, job("H100 SXM", batch_size=8, **kw)))
    assert one.weight_bytes < eight.weight_bytes  # 2 of 8 experts vs all 8
    assert one.weight_bytes < 0.5 * m.params_total * 4.2 / 8


# --- step composition ---------------------------------------------------------------------


def test_pipeline_bubble():
    assert st.Plan(pp=4, micro_batches=8).bubble_fraction() == pytest.approx(3 / 11)
    assert st.Plan(pp=4, vp=2, micro_batches=8).bubble_fraction() == pytest.approx(3 / 19)
    assert st.Plan(pp=1, micro_batches=8).bubble_fraction() == 0
    w = st.TrainWork(micro_compute_s=4.0, n_layers=8, hidden=8, tokens_per_micro=16)
    s = st.train_step(w, st.Plan(pp=4, micro_batches=8), st.Links(intra=LINK))
    # Each stage does 1/4 of a micro-batch (1 s) eight times, plus (p-1) idle slots.
    assert s.compute_s == pytest.approx(8.0) and s.bubble_s == pytest.approx(3.0)


def test_grad_accumulation_amortises_the_allreduce():
    w = st.TrainWork(micro_compute_s=1.0, grad_bytes=30e9)  # 3 s all-reduce on 10 GB/s
    links = st.Links(intra=LINK)
    one = st.train_step(w, st.Plan(dp=1, micro_batches=8), links)
    two = st.train_step(w, st.Plan(dp=2, micro_batches=4), links)
    assert two.parts_s["data-parallel"] == pytest.approx(3.0)  # once per step, not per micro
    # 8 s on one GPU; 4 s + (3 s - 2/3 s hidden by the last backward) on two.
    assert one.step_s == pytest.approx(8.0)
    assert two.step_s == pytest.approx(4.0 + 3.0 - 2 / 3)
    assert two.step_s < one.step_s  # same global batch: two GPUs are never slower here
    no_accum = st.train_step(w, st.Plan(dp=2, micro_batches=1), links)
    assert no_accum.bound == "communication"  # 1 s of math, 2.33 s of exposed traffic


def test_ddp_last_bucket_follows_the_backward():
    # 1 GB of gradients on 10 GB/s between two GPUs: a 0.1 s all-reduce; a 1.5 s micro-batch
    # has a 1 s backward, which hides all but the last bucket. The last bucket (0.25 GB:
    # 0.025 s) is ready only when the backward ends, so it is reduced after it.
    w = st.TrainWork(micro_compute_s=1.5, grad_bytes=1e9, last_bucket_bytes=0.25e9)
    s = st.train_step(w, st.Plan(dp=2), st.Links(intra=LINK))
    assert s.exposed_comm_s == pytest.approx(0.025)
    assert s.step_s == pytest.approx(1.525)
    # When the all-reduce outlasts the backward the last bucket is inside the overflow:
    # 3 s of traffic, 1 s of backward: 2 s exposed, not 2 s + the last bucket.
    slow = st.TrainWork(micro_compute_s=1.5, grad_bytes=30e9, last_bucket_bytes=0.25e9)
    assert st.train_step(slow, st.Plan(dp=2), st.Links(intra=LINK)).exposed_comm_s == (
        pytest.approx(2.0)
    )
    # A last bucket larger than the gradients is all of them (a model under the bucket cap).
    tiny = st.TrainWork(micro_compute_s=1.5, grad_bytes=0.1e9, last_bucket_bytes=0.25e9)
    assert st.train_step(tiny, st.Plan(dp=2), st.Links(intra=LINK)).exposed_comm_s == (
        pytest.approx(0.01)
    )
    assert st.ddp_exposed_s(0.1, 0.025, 1.0) == pytest.approx(0.025)
    assert st.ddp_exposed_s(3.0, 0.025, 1.0) == pytest.approx(2.0)


def test_last_bucket_is_the_embedding_or_the_cap():
    # GPT-2: wte 50257 x 768 = 38.6 M parameters, above DDP's 25 MiB cap: in fp32 gradients
    # 154.4 MB, the bucket its (tied) gradient completes last.
    gpt2 = shape(find_model("gpt2"), job(gpu="RTX 4090", precision="fp32", n_gpus=2, seq_len=1024))
    grads = gpt2.params_trainable * 4
    assert perf.last_bucket_bytes(gpt2, grads) == pytest.approx(50257 * 768 * 4)
    # ResNet-50 has no embedding: the cap (25 MiB) of its first layers.
    rn = shape(find_model("resnet50"), job(gpu="RTX 4090", n_gpus=2))
    assert perf.last_bucket_bytes(rn, rn.params_trainable * 2) == 25 * 2**20


def test_ddp_reduces_the_gradients_the_memory_model_holds():
    # Mixed precision with fp32 master weights outside ZeRO is PyTorch AMP: the parameters and
    # so their .grad are fp32, 4 bytes a parameter in DDP's buckets; ZeRO-1 reduces 16-bit
    # gradients; the offload traffic stays 16-bit either way.
    m = find_model("gpt2")
    amp = shape(m, job(precision="bf16", n_gpus=2, seq_len=1024, master_weights=True))
    zero1 = shape(m, job(precision="bf16", n_gpus=2, seq_len=1024, master_weights=True, zero=1))
    n = amp.params_trainable
    assert perf.train_work(amp, 0.5).ddp_grad_bytes == pytest.approx(4 * n)
    assert perf.train_work(zero1, 0.5).ddp_grad_bytes == pytest.approx(2 * n)
    assert perf.train_work(amp, 0.5).grad_bytes == pytest.approx(2 * n)


def test_zero3_moves_one_and_a_half_times_ddp_traffic():
    w = st.TrainWork(micro_compute_s=1e-6, grad_bytes=2e9, weight_bytes=2e9)
    ddp = st.train_step(w, st.Plan(dp=8), st.Links(intra=LINK))
    fsdp = st.train_step(w, st.Plan(dp=8, zero=3), st.Links(intra=LINK))
    assert fsdp.parts_s["data-parallel"] / ddp.parts_s["data-parallel"] == pytest.approx(1.5)


def test_offload_costs_pcie_and_cpu_time():
    w = st.TrainWork(
        micro_compute_s=0.3, grad_bytes=2e9, weight_bytes=2e9, offload="optimizer", cpu_adam_s=1
    )
    s = st.train_step(w, st.Plan(), st.Links(host=comm.Link("pcie", 20.0, 0.0)))
    # 4 GB over 20 GB/s = 0.2 s, hidden by the 0.2 s backward; 1 s of CPU Adam is not.
    assert s.offload_s == pytest.approx(1.0)
    assert s.step_s == pytest.approx(1.3)


@pytest.mark.parametrize("context", [2048, 32768])
def test_decode_flops_depend_on_the_prompt_not_the_context_held(context: int) -> None:
    # Found by tests/estimate/test_properties.py: the context's attention was subtracted at
    # Shape.attended (rounded up to whole tokens) from FLOPs counted at the unrounded mean, so
    # gemma-3-1b (22 of 26 layers local, window 1024) decoded at a speed that moved with
    # --context although every step attends to the 128-token prompt.
    m = find_model("gemma-3-1b")
    j = job("GeForce RTX 4090", task="infer", batch_size=16, prompt_tokens=128, context=context)
    d = perf.decode_inputs(shape(m, j))
    matmul = 999_812_736  # shapes.matmul_params(gemma-3-1b): 2 FLOPs each per token
    attention = 4 * 26 * 1024 * 128  # 4·L·Q·T: 26 layers, 4 heads x 256, 128 keys each
    assert d.flops == pytest.approx(16 * (2 * matmul + attention), rel=1e-12)


def test_allreduce_and_offload_copies_share_the_last_backward():
    # Found by tests/estimate/test_properties.py: each hid behind the whole window, so a
    # longer backward (checkpointing) hid twice its length and the step got shorter.
    w = st.TrainWork(micro_compute_s=0.6, grad_bytes=3e9, weight_bytes=2e9, offload="optimizer")
    links = st.Links(intra=LINK, host=comm.Link("pcie", 10.0, 0.0))
    s = st.train_step(w, st.Plan(dp=2, zero=1), links)
    # Backward: 2/3 of 0.6 s = 0.4 s. The all-reduce (2·1/2·3 GB over 10 GB/s = 0.3 s) hides
    # in it and leaves 0.1 s; the host copies ((3 + 2) GB / 2 shards over 10 GB/s = 0.25 s)
    # hide 0.1 s of theirs: 0.15 s exposed.
    assert s.exposed_comm_s == pytest.approx(0.0)
    assert s.offload_s == pytest.approx(0.15)
    assert s.step_s == pytest.approx(0.75)


def test_full_offload_backward_lasts_as_long_as_the_weight_stream():
    w = st.TrainWork(micro_compute_s=0.3, grad_bytes=2e9, weight_bytes=2e9, offload="full")
    s = st.train_step(w, st.Plan(), st.Links(host=comm.Link("pcie", 10.0, 0.0)))
    # Forward and backward fetch 2 GB each: 0.4 s, 0.1 s more than the math. The backward
    # lasts 2/3 of 0.4 s, in which 0.267 s of the 0.4 s of copies out hide: 0.133 s exposed.
    assert s.offload_s == pytest.approx(0.1 + 0.4 - 0.4 * 2 / 3)
    assert s.step_s == pytest.approx(0.3 + 0.1 + 0.4 / 3)


def test_the_bound_is_the_largest_part():
    assert st.name_bound(1.0, 0.5, 0.0) == "compute"
    assert st.name_bound(1.0, 1.5, 0.0) == "communication"
    assert st.name_bound(1.0, 0.5, 2.0) == "input"
    assert st.name_bound(1.0, 0.5, 0.0, memory_bound_s=0.6) == "memory-bandwidth"
    w = st.TrainWork(micro_compute_s=1.0, micro_extra_s=2.0)  # 2 s streaming, 1 s of GEMMs
    assert st.train_step(w, st.Plan(), st.Links()).bound == "memory-bandwidth"


def test_overlapped_traffic_that_outlasts_the_math_is_the_bound():
    # FSDP: 1 s of math per micro-batch; the gathers and reduce-scatter take 1.2 s beside it,
    # so the step is 1.2 s and only 0.2 s of traffic shows. A faster GPU would not shorten it.
    assert st.name_bound(1.0, 0.2, 0.0, traffic_s=1.2) == "communication"
    # DDP: 0.5 s of all-reduce, of which the last bucket's 0.05 s shows: still the math.
    assert st.name_bound(1.0, 0.05, 0.0, traffic_s=0.5) == "compute"
    # fully hidden traffic never names the bound, however long it is reported
    assert st.name_bound(1.0, 0.0, 0.0, traffic_s=3.0) == "compute"
    w = st.TrainWork(micro_compute_s=1.0, grad_bytes=4e9, weight_bytes=4e9)
    slow = comm.Link("slow", 10.0, 0.0)
    s = st.train_step(w, st.Plan(dp=8, zero=3), st.Links(intra=slow))
    assert s.comm_s > s.compute_s > s.exposed_comm_s > 0
    assert s.bound == "communication"


def test_nodes_ports_are_shared_by_their_gpus():
    ndr = comm.network_link("ib-ndr")
    # one port per GPU (DGX/HGX) unless the node's ports are given
    assert comm.network_link("ib-ndr", None, 8).busbw_gbs == ndr.busbw_gbs
    # a cloud node's 4 x 100G RoCE for 8 GPUs: 4 x 12 GB/s / 8 = 6 GB/s each
    shared = comm.network_link("roce-100", 4, 8)
    assert shared.busbw_gbs == pytest.approx(6.0)
    assert shared.latency_s == comm.network_link("roce-100").latency_s
    assert "4 x RoCEv2 100GbE per node" in shared.what


def test_fewer_ports_than_gpus_slow_a_multi_node_step():
    m = find_model("llama-3-8b")
    kw = dict(precision="bf16", batch_size=1, seq_len=4096, zero=3, n_gpus=16, nodes=2)
    per_gpu = throughput(m, job("H100 SXM", network="roce-400", **kw))
    one_port = throughput(m, job("H100 SXM", network="roce-400", nics_per_node=1, **kw))
    assert one_port.step_time_s > per_gpu.step_time_s


def test_nics_per_node_needs_several_nodes(capsys):
    from dlrig.cli import run

    argv = ["estimate", "--model", "llama-3-8b", "--task", "train", "--gpu", "H100 SXM"]
    code = run([*argv, "--gpus", "8", "--nics-per-node", "4"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "--nics-per-node" in err and "--nodes" in err


def test_tensor_parallel_traffic_per_layer():
    w = st.TrainWork(micro_compute_s=1.0, tokens_per_micro=100, hidden=10, n_layers=3)
    s = st.train_step(w, st.Plan(tp=2), st.Links(intra=LINK))
    # (2 fwd + 2 bwd) all-reduces of 100 · 10 · 2 bytes per layer, 3 layers, n = 2.
    assert s.parts_s["tensor-parallel"] == pytest.approx(4 * 3 * 2000 / 10e9)


# --- fitted constants ---------------------------------------------------------------------


def fitted(key: str, group: str, value: float, interval: float | None) -> cal.Fitted:
    return cal.Fitted(key, value, group, 9, 3, None, None, interval, "test", "2026-01-01")


def constants_row(key: str, value: float, group: str, interval: float | None = None):
    """One (key, group) -> fitted row of a cal.Constants table."""
    return ((key, group), fitted(key, group, value, interval))


def test_lookup_walks_up_to_the_parent_group():
    c = cal.Constants(
        {
            ("mfu", "*"): fitted("mfu", "*", 0.4, 0.3),
            ("mfu", "lora"): fitted("mfu", "lora", 0.5, None),
            ("mfu", "lora/Ada"): fitted("mfu", "lora/Ada", 0.6, 0.1),
        }
    )
    assert c.value("mfu", ("lora", "Ada", "bf16")) == 0.6
    assert c.value("mfu", ("lora", "Ampere", "bf16")) == 0.5
    assert c.value("mfu", ("cnn",)) == 0.4
    assert c.interval("mfu", ("lora", "Ampere")) == 0.3  # lora has no interval: its parent's
    with pytest.raises(CatalogDataError):
        c.get("decode_bw", ("vllm",))


def test_the_shipped_constants_file_parses_and_has_every_root():
    c = cal.constants()
    for key in ("mfu", "decode_bw", "prefill_mfu"):
        row = c.get(key, ())
        assert 0 < row.value <= 2 and row.fit_rule


def test_the_per_layer_time_may_be_zero_but_an_efficiency_may_not():
    row = {
        "key": "decode_layer_s",
        "value": "0",
        "group": "vllm",
        "n_points": "3",
        "n_sources": "3",
        "loso_median_err": "",
        "loso_p90_err": "",
        "interval_frac": "",
        "fit_rule": "test",
        "fitted_on": "2026-01-01",
    }
    assert cal.parse([row])[("decode_layer_s", "vllm")].value == 0
    with pytest.raises(CatalogDataError, match="line 2: value must be > 0"):
        cal.parse([row | {"key": "decode_bw"}])
    with pytest.raises(CatalogDataError, match="value must be >= 0"):
        cal.parse([row | {"value": "-1e-5"}])


def test_the_shipped_per_layer_times_are_physical():
    c = cal.constants()
    for group in ((), ("llama.cpp",), ("vllm",), ("transformers",)):
        assert 0 <= c.value(perf.DECODE_OVERHEAD_KEY, group) < 3e-3  # under 3 ms per layer


def test_bad_constants_rows_name_the_line():
    with pytest.raises(CatalogDataError, match="line 2"):
        cal.parse([{"key": "mfu", "value": "x"}])


# --- through the estimator ----------------------------------------------------------------


def test_training_time_is_flops_over_peak_times_mfu():
    m = find_model("gpt2")
    j = job("A100 80GB SXM", seq_len=1024, batch_size=8, mfu=0.5)
    t = throughput(m, j)
    s = shape(m, j)
    gemm = s.flops_per_token * 8 * 1024 / (312e12 * 0.5)
    # plus the element-wise work (elementwise.py, bf16, dropout, no checkpointing): 2,775,396 B
    # per token (tests/estimate/test_elementwise.py derives it), at the card's streaming
    # fraction of 2039 GB/s (estimate/stream.py; tests/estimate/test_stream.py checks the rule)
    elementwise = 8 * 1024 * 2_775_396 / (2039e9 * stream.fraction(find_gpu("A100 80GB SXM")))
    assert t.compute_time_s == pytest.approx(gemm + elementwise)
    assert t.tokens_per_s == pytest.approx(8 * 1024 / t.step_time_s)
    assert t.allreduce_time_s == 0 and t.link.startswith("none")


def test_checkpointing_costs_one_forward_pass():
    m = find_model("llama-3-8b")
    off = throughput(m, job("H100 SXM", seq_len=2048, batch_size=1))
    on = throughput(m, job("H100 SXM", seq_len=2048, batch_size=1, checkpointing=True))
    assert on.compute_time_s / off.compute_time_s == pytest.approx(4 / 3, rel=0.02)


def test_every_rate_carries_an_interval():
    m = find_model("llama-2-7b")
    for j in (job(task="lora", batch_size=1), job(task="infer", context=128)):
        t = throughput(m, j)
        assert t.interval is not None and 0 < t.interval.frac < 5
        assert t.interval.contains(t.tokens_per_s or 0)


def test_encoder_inference_is_forward_passes_not_decode():
    t = throughput(find_model("bert-base"), job(task="infer", batch_size=32, context=512))
    assert t.samples_per_s and t.bound == "compute"
    # a text encoder's rate in tokens too: its sequences' tokens
    assert t.tokens_per_s == pytest.approx(t.samples_per_s * 512)
    assert t.interval is not None and t.interval.contains(t.tokens_per_s)
    s = shape(find_model("bert-base"), job(task="infer", batch_size=32, context=512))
    rate = 165.2e12 * t.utilization
    assert t.step_parts_s["compute"] == pytest.approx(32 * 512 * s.flops_fwd_per_token / rate)
    # plus the element-wise work between the GEMMs at the streaming bandwidth
    memory_s = perf.streaming_s(s.job, perf.encoder_forward_bytes(s))
    assert t.step_time_s == pytest.approx(t.step_parts_s["compute"] + memory_s)


def test_an_unknown_network_is_bad_input_with_one_line(capsys):
    from dlrig.cli import run

    argv = ["estimate", "--model", "llama-3-8b", "--task", "train", "--gpu", "H100 SXM"]
    code = run([*argv, "--gpus", "16", "--nodes", "2", "--network", "ib-ndrr"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "--network 'ib-ndrr'" in err and "ib-ndr" in err


def test_expert_parallel_all_to_alls_per_moe_layer():
    w = st.TrainWork(
        micro_compute_s=1.0, tokens_per_micro=100, hidden=10, n_layers=2, moe_layers=2,
        experts_per_token=2,
    )  # fmt: skip
    s = st.train_step(w, st.Plan(dp=2, ep=2), st.Links(intra=LINK))
    # dispatch + combine, forward and backward, 2 MoE layers: 8 all-to-alls of
    # 100 tokens x 2 experts x 10 x 2 bytes, each rank sending half of it at 10 GB/s
    assert s.parts_s["expert-parallel"] == pytest.approx(8 * 0.5 * 4000 / 10e9)


def test_eager_encoder_attention_streams_its_scores():
    """BERT-base SQuAD fine-tuning as DeepLearningExamples runs it (eager attention, seq 384,
    fp16, one sequence): every score element is scaled, masked and softmaxed (3 x 4 B) and
    dropped out (4 B + 1 B mask) forward, and dropout, softmax and scale run backward (5 B +
    6 B + 4 B): 32 B for each of 12 layers x 12 heads x 384 x 384 scores, 679,477,248 B of
    element-wise traffic that SDPA does not have; the GEMM FLOPs are the same either way."""
    bert = find_model("bert-base")
    eager = shape(
        bert, job("A100 80GB SXM", precision="fp16", seq_len=384, batch_size=1, attention="eager")
    )
    sdpa = shape(
        bert, job("A100 80GB SXM", precision="fp16", seq_len=384, batch_size=1, attention="sdpa")
    )
    extra = perf.transformer_traffic_bytes(eager) - perf.transformer_traffic_bytes(sdpa)
    assert extra == 12 * 12 * 384 * 384 * 32 == 679_477_248
    assert eager.flops_per_token == sdpa.flops_per_token


def test_bert_base_training_flops_per_sequence_at_384_by_hand():
    """BERT-base (109,482,240 parameters; the 30522 x 768 word embedding is a lookup, and an
    encoder fine-tuned for SQuAD has no vocabulary head): 86,041,344 matmul parameters. Every
    query attends to all 384 tokens (bidirectional): 4 x 12 layers x 768 x 384 = 14,155,776
    attention FLOPs forward. Training = 3 x forward = 558,715,392 FLOPs per token, 214.55 GFLOPs
    per 384-token sequence (the unit Lambda and DeepLearningExamples count: sequences/s)."""
    bert = find_model("bert-base")
    s = shape(bert, job("A100 80GB SXM", precision="fp16", seq_len=384, batch_size=1))
    matmul = 109_482_240 - 30_522 * 768
    assert matmul == 86_041_344
    assert s.flops_per_token == 3 * (2 * matmul + 4 * 12 * 768 * 384) == 558_715_392
    assert s.flops_per_token * 384 == pytest.approx(214.55e9, rel=1e-4)


def test_offload_moves_at_the_measured_host_link_else_the_pcie_rate():
    m = find_model("llama-3-8b")
    # RTX 4090: PCIe 4.0 x16 = 16 x 1.969 GB/s = 31.5 GB/s line rate, host copies at 0.8 of it.
    default = perf.links(shape(m, job(task="lora", offload="optimizer"))).host
    assert default.busbw_gbs == pytest.approx(16 * 1.969 * p.value("pcie_host_copy_fraction"))
    measured = perf.links(shape(m, job(task="lora", offload="optimizer", host_link_gbs=3.0)))
    assert measured.host.busbw_gbs == 3.0 and "measured" in measured.host.what


def test_a_slower_measured_host_link_makes_offload_slower_by_the_bytes_moved():
    m = find_model("llama-3-8b")
    fast, slow = (
        throughput(m, job(task="train", offload="optimizer", batch_size=1, seq_len=512, **kw))
        for kw in ({"host_link_gbs": 1000.0}, {"host_link_gbs": 2.0})
    )
    # Full training moves the 16-bit gradients down and the 16-bit weights back: 4 bytes per
    # parameter. At 1000 GB/s that hides under the backward; at 2 GB/s it is 4 N / 2e9 s, of
    # which the backward (2/3 of the compute) hides a part.
    n = shape(m, job(task="train")).params_trainable
    pcie = 4 * n / 2e9
    hidden = fast.compute_time_s * st.BACKWARD_SHARE_FULL
    assert slow.step_time_s - fast.step_time_s == pytest.approx(pcie - hidden, rel=1e-6)


def test_the_optimizer_step_is_added_once_per_step_and_not_hidden():
    w = st.TrainWork(micro_compute_s=1.0, optimizer_s=0.25)
    s = st.train_step(w, st.Plan(micro_batches=4), st.Links())
    assert s.step_s == pytest.approx(4 * 1.0 + 0.25)  # once per optimizer step, not per micro
    assert s.optimizer_s == 0.25


def test_optimizer_step_time_is_its_bytes_at_the_elementwise_bandwidth():
    m = find_model("bert-large")
    t = throughput(m, job(precision="fp32", batch_size=4, seq_len=128))
    s = shape(m, job(precision="fp32", batch_size=4, seq_len=128))
    gpu = find_gpu("RTX 4090")
    bw = gpu.memory_bandwidth_gbs * 1e9 * stream.fraction(gpu)
    # fp32 AdamW: 28 bytes per parameter; before it the transformer trainer's clip by the
    # global norm reads the fp32 gradients (norm) and reads and writes them (scale): 3 x 4
    expected = (28 + 3 * 4) * s.params_trainable / bw
    assert t.step_parts_s["optimizer step"] == pytest.approx(expected)
    # fp16 AMP: the step writes the 16-bit weights (2) besides the fp32 master copy (2 x 12
    # with the states), the clip the same 3 passes over the fp32 gradients, and the loss
    # scaler's unscale reads and writes each of them first (2 x 4)
    t16 = throughput(m, job(precision="fp16", batch_size=4, seq_len=128))
    expected16 = (4 + 2 * 12 + 2 + 3 * 4 + 2 * 4) * s.params_trainable / bw
    assert t16.step_parts_s["optimizer step"] == pytest.approx(expected16)


@pytest.mark.parametrize(
    ("gpu", "memory"),
    [("A100 80GB SXM", "hbm"), ("H100 PCIe", "hbm"), ("RTX 4090", "gddr"), ("DGX Spark", "lpddr")],
)
def test_decode_groups_name_the_cards_memory_class(gpu, memory):
    j = job(gpu, task="infer", quant="q4_k_m", engine="llama.cpp")
    assert perf.memory_class(j) == memory
    assert perf.decode_group(j) == ("llama.cpp", memory, "q4_k_m", cp.architecture(j.gpu))
    assert perf.overhead_group(j) == ("llama.cpp", memory)
    # The unnamed engine takes the root constants.
    assert perf.decode_group(job(gpu, task="infer")) == ()


@pytest.mark.parametrize(
    ("gpu", "host"),
    [
        ("A100 80GB SXM", "server"),  # an SXM module
        ("Tesla T4", "server"),  # passive PCIe: needs a server chassis's airflow
        ("L40S", "server"),
        ("RTX 4090", "desktop"),  # open-air
        ("RTX A6000", "desktop"),  # blower
        ("DGX Spark", "soc"),
    ],
)
def test_an_eager_engines_per_layer_time_is_grouped_by_the_cards_host(gpu, host):
    j = job(gpu, task="infer", engine="transformers")
    assert perf.host_class(j) == host
    # the host's Python issues the step, so its class, not the memory, names the group
    assert perf.overhead_group(j) == ("transformers", host)
    # an engine whose per-layer time is on the GPU keeps the memory class
    g = job(gpu, task="infer", quant="q4_k_m", engine="llama.cpp")
    assert perf.overhead_group(g) == ("llama.cpp", perf.memory_class(g))


def test_a_desktop_hosts_fitted_time_reaches_decode_and_an_encoders_forward_pass():
    base = dict(
        [
            constants_row("decode_bw", 0.8, "*"),
            constants_row("prefill_mfu", 0.5, "*"),
            constants_row("mfu", 0.5, "*"),
            constants_row("decode_layer_s", 0.0, "*"),
            constants_row("decode_layer_s", 1e-3, "transformers"),
            constants_row("decode_layer_s", 4e-4, "transformers/desktop"),
        ]
    )
    c = cal.Constants(base)
    m = find_model("qwen2.5-0.5b")
    desk = shape(m, job("RTX 4090", task="infer", engine="transformers", precision="bf16"))
    srv = shape(m, job("L40S", task="infer", engine="transformers", precision="bf16"))
    # 24 layers of a 0.5B model wait on the host: the step is layers x the group's time
    assert 1 / perf.throughput_of(desk, c).tokens_per_s == pytest.approx(24 * 4e-4, rel=0.02)
    assert 1 / perf.throughput_of(srv, c).tokens_per_s == pytest.approx(24 * 1e-3, rel=0.02)
    bert = find_model("bert-base")
    enc = shape(bert, job("RTX 4090", task="infer", precision="fp16", batch_size=1, seq_len=8))
    assert perf.encoder_host_s(enc, c) == pytest.approx(12 * 4e-4)
    # once an encoder's own time per layer is fitted, it is that, on every host
    own = cal.Constants(base | dict([constants_row(perf.ENCODER_LAYER_KEY, 5e-4, "*")]))
    assert perf.encoder_host_s(enc, own) == pytest.approx(12 * 5e-4)
    srv_enc = shape(bert, job("L40S", task="infer", precision="fp16", batch_size=1, seq_len=8))
    assert perf.encoder_host_s(srv_enc, own) == pytest.approx(12 * 5e-4)


def test_an_eager_engine_without_its_own_host_class_time_carries_the_root_interval():
    c = cal.Constants(
        dict(
            [
                constants_row("decode_bw", 0.8, "*", 0.30),
                constants_row("decode_bw", 0.8, "autoawq", 0.11),
                constants_row("prefill_mfu", 0.5, "*", None),
                constants_row("decode_layer_s", 0.0, "*", None),
                constants_row("decode_layer_s", 3e-4, "autoawq", None),
                constants_row("decode_layer_s", 3e-4, "autoawq/server", None),
            ]
        )
    )
    m = find_model("llama-2-7b")
    kw = dict(task="infer", engine="autoawq", quant="awq")
    server = job("A100 80GB SXM", **kw)
    desktop = job("RTX 4090", **kw)
    assert not perf.host_class_unfitted(server, c)
    assert perf.host_class_unfitted(desktop, c)
    # the server card keeps its group's 11 %; the desktop card, whose per-layer time is the
    # server hosts' (0.3 ms x 32 layers = 9.6 ms, most of its step), the root's 30 %
    assert perf.throughput_of(shape(m, server), c).interval.frac == pytest.approx(0.11)
    iv = perf.throughput_of(shape(m, desktop), c).interval
    assert (iv.frac, iv.group) == (pytest.approx(0.30), "decode_bw:*")
    # a root narrower than the group widens nothing; an engine on the GPU is never widened
    narrow = cal.Constants(c.rows | dict([constants_row("decode_bw", 0.8, "*", 0.05)]))
    assert perf.throughput_of(shape(m, desktop), narrow).interval.frac == pytest.approx(0.11)
    assert not perf.host_class_unfitted(job("RTX 4090", task="infer", engine="vllm"), c)


@pytest.mark.parametrize(
    ("gpu", "engine", "quant", "graphs"),
    [
        ("Tesla P40", "llama.cpp", "q4_k_m", False),  # Pascal, compute capability 6.1
        ("Tesla V100 SXM2 16GB", "llama.cpp", "q4_k_m", False),  # Volta 7.0
        ("Tesla T4", "ollama", "q4_k_m", False),  # Turing 7.5; Ollama runs the same ggml-cuda
        ("RTX 3090", "llama.cpp", "q4_k_m", True),  # Ampere 8.6: a CUDA graph per token
        ("Jetson AGX Orin 64GB", "llama.cpp", "q4_k_m", True),  # Ampere 8.7
        ("Radeon RX 7900 XTX", "llama.cpp", "q4_k_m", True),  # not NVIDIA: not ggml-cuda's rule
        ("Tesla T4", "vllm", "awq", True),  # vLLM captures its own graphs
    ],
)
def test_llama_cpp_below_compute_capability_8_carries_the_wider_interval(
    gpu, engine, quant, graphs
):
    c = cal.Constants(
        dict(
            [
                constants_row("decode_bw", 0.8, "*", 0.30),
                constants_row("decode_bw", 0.8, "llama.cpp", 0.12),
                constants_row("decode_bw", 0.8, "vllm", 0.12),
                constants_row("prefill_mfu", 0.5, "*", None),
                constants_row("decode_layer_s", 5e-5, "*", None),
            ]
        )
    )
    j = job(gpu, task="infer", engine=engine, quant=quant)
    assert perf.llama_cpp_without_graphs(j) is not graphs
    iv = perf.throughput_of(shape(find_model("llama-2-7b"), j), c).interval
    # launched kernel by kernel, its per-layer time is not the one its group was fitted on:
    # the root's 30 % over the group's 12 %; a graph-replayed step keeps its group's
    assert iv.frac == pytest.approx(0.12 if graphs else 0.30)
    from dlrig.estimate import explain

    notes = " ".join(explain.assumptions(shape(find_model("llama-2-7b"), j)))
    assert ("below compute capability 8.0" in notes) is not graphs


def test_a_memory_class_without_its_own_constant_falls_back_to_the_engine():
    rows = {
        ("decode_bw", "*"): cal.Fitted("decode_bw", 0.7, "*", 9, 9, None, None, None, "r", ""),
        ("decode_bw", "vllm"): cal.Fitted(
            "decode_bw", 0.6, "vllm", 3, 3, None, None, None, "r", ""
        ),
        ("decode_bw", "vllm/gddr"): cal.Fitted(
            "decode_bw", 0.8, "vllm/gddr", 3, 3, None, None, None, "r", ""
        ),
    }
    c = cal.Constants(rows)
    hbm = job("H100 SXM", task="infer", engine="vllm")
    gddr = job("RTX 4090", task="infer", engine="vllm")
    assert c.value("decode_bw", perf.decode_group(hbm)) == 0.6
    assert c.value("decode_bw", perf.decode_group(gddr)) == 0.8


def test_fp8_selective_checkpointing_recomputes_its_matmuls_but_not_attention():
    # FP8 linears, 16-bit FlashAttention. Selective checkpointing keeps attention's output:
    # switching it on adds only the recomputed matmuls, at the FP8 rate.
    m = find_model("llama-3.1-8b")
    kw = dict(precision="fp8", batch_size=1, seq_len=4096, zero=3, n_gpus=8)
    off = shape(m, job("H100 SXM", **kw))
    sel = shape(m, job("H100 SXM", checkpointing=True, checkpointing_mode="selective", **kw))
    eff = 0.5
    fp8_rate = cp.peak(sel.job.gpu, "fp8").tflops * cp.achievable_fraction(sel.job.gpu, "fp8")
    recompute_s = cp.math_time_s(
        sel.flops_recompute_per_token * sel.tokens_per_micro_step, fp8_rate, eff
    )
    delta = perf.train_work(sel, eff).micro_compute_s - perf.train_work(off, eff).micro_compute_s
    assert delta == pytest.approx(recompute_s, rel=1e-9)


def test_a_rates_band_is_where_the_measured_rate_lies_for_its_error():
    from dlrig.model.estimate import Interval

    # predicted 100 with |error| <= 25 %: (100 - m) / m in [-0.25, 0.25] -> m in [80, 133.3]
    rate = Interval.band(100.0, 0.25, "g", "s")
    assert (rate.low, rate.high, rate.frac) == pytest.approx((80.0, 400 / 3, 0.25))
    assert rate.contains(80.0) and rate.contains(133.3) and not rate.contains(76.0)
    # a ± of 100 % or more bounds the measured rate below only: 100 is at most 149 % too high
    wide = Interval.band(100.0, 1.49, "g", "s")
    assert wide.high is None and wide.low == pytest.approx(100 / 2.49)
    assert wide.contains(1e9)


def test_derived_predictions_carry_their_rates_interval():
    from dlrig.model.estimate import Interval

    rate = Interval.band(100.0, 0.25, "g", "s")
    # a time is work over the rate: 10 h at a predicted rate 25 % too high or too low takes
    # 10 x 100 / m hours, m in [80, 133.3]: [7.5, 12.5] h
    time = perf.inverse_interval(10.0, rate)
    assert (time.low, time.high, time.frac) == pytest.approx((7.5, 12.5, 0.25))
    assert time.kind == "inverse_band"
    # a rate with no top still bounds the time: 149 % too high at most -> at most 2.49x longer
    wide = perf.inverse_interval(10.0, Interval.band(100.0, 1.49, "g", "s"))
    assert (wide.low, wide.high) == pytest.approx((0.0, 24.9))
    # energy at 2 kWh per hour over that time: [15, 25] kWh
    energy = perf.scaled_interval(20.0, 10.0, time)
    assert (energy.low, energy.high) == pytest.approx((15.0, 25.0))
    assert perf.scaled_interval(None, 10.0, time) is None


def test_prefill_and_ttft_carry_the_prefill_groups_interval():
    m = find_model("llama-3-8b")
    t = throughput(m, job(task="infer", prompt_tokens=2000))
    assert t.prefill_interval.group.startswith("prefill_mfu")
    assert t.prefill_interval.low < t.prefill_tokens_per_s < t.prefill_interval.high
    assert t.ttft_interval.low < t.ttft_s < t.ttft_interval.high
    assert t.ttft_interval == perf.inverse_interval(t.ttft_s, t.prefill_interval)


def test_flashattention2_on_hopper_takes_the_fa3_papers_longer_time_for_attention_only():
    # FlashAttention-3 paper: 1.5-2.0x faster than FA2 on H100 -> FA2's attention takes 1.75x
    # the native kernel's time there; the matmuls are untouched, and A100 (FA2's own target)
    # is not slowed at all.
    assert cp.fa2_slowdown(find_gpu("H100 SXM")) == 1.75
    assert cp.fa2_slowdown(find_gpu("A100 80GB SXM")) == 1.0
    m = find_model("llama-3.1-8b")
    kw = dict(precision="bf16", batch_size=1, seq_len=8192, zero=3, n_gpus=8)
    eff = 0.5
    native = shape(m, job("H100 SXM", attention="flash", **kw))
    fa2 = shape(m, job("H100 SXM", attention="flash2", **kw))
    # attention FLOPs of a micro-step: 3 x 4·L·Q·s per token (no checkpointing), 32 layers,
    # query width 4096, s = 8192, 8192 tokens
    attention = 3 * 4 * 32 * 4096 * 8192 * 8192
    rate = cp.peak(native.job.gpu, "bf16").tflops * cp.achievable_fraction(native.job.gpu, "bf16")
    extra_s = cp.math_time_s(attention, rate, eff) * 0.75
    delta = perf.train_work(fa2, eff).micro_compute_s - perf.train_work(native, eff).micro_compute_s
    assert delta == pytest.approx(extra_s, rel=1e-9)
    a100 = dict(kw, n_gpus=8)
    same = [
        perf.train_work(shape(m, job("A100 80GB SXM", attention=a, **a100)), eff).micro_compute_s
        for a in ("flash", "flash2")
    ]
    assert same[0] == pytest.approx(same[1], rel=1e-12)


def test_prefill_applies_the_output_head_to_each_prompts_last_position_only():
    # Llama-2-7B: head 32000 x 4096; a 512-token prompt skips it on 511 of 512 rows:
    # 2 * 32000 * 4096 * 511/512 = 261.6 MFLOP per token fewer than the full forward
    m = find_model("llama-2-7b")
    assert perf.unused_head_flops_per_token(m, 512) == pytest.approx(2 * 32000 * 4096 * 511 / 512)
    assert perf.unused_head_flops_per_token(m, 1) == 0  # a one-token prompt needs its logits
    s = shape(m, job("RTX 4090", task="infer", prompt_tokens=512, engine="llama.cpp"))
    causal = perf.causal_attended(m, 512)
    full = s.flops_fwd_per_token - perf.counted_attention_flops(s)
    expected = full + 4 * 32 * 4096 * causal - 2 * 32000 * 4096 * 511 / 512
    assert perf.prefill_flops_per_token(s) == pytest.approx(expected)


def test_dequantising_to_f16_adds_a_pass_over_the_weights_to_each_chunk():
    # 1000 tokens in 2 chunks: the math 40 ms; 4 GB of dequantisation traffic per chunk at
    # 1000 GB/s x 0.8 = 5 ms, twice: 50 ms in all (a kernel of its own, not under the math)
    kw = dict(peak_tflops=100, efficiency=0.5, n_layers=2, hidden=8, mem_bw_gbs=1000)
    plain = dec.prefill(1000, 2e9, weight_bytes=1e9, bw_efficiency=0.8, chunk_tokens=500, **kw)
    deq = dec.prefill(
        1000, 2e9, weight_bytes=1e9, bw_efficiency=0.8, chunk_tokens=500, dequant_bytes=4e9, **kw
    )
    assert plain.time_s == pytest.approx(40e-3)
    assert deq.dequant_s == pytest.approx(10e-3)
    assert deq.time_s == pytest.approx(50e-3)


def test_llama_cpp_cublas_path_moves_packed_plus_f16_bytes_per_block_weight():
    # Llama-2-7B Q4_0 (4.5 bits): block weights 6.74e9 - 2 x 32000 x 4096 (embedding, head);
    # the pass reads 4.5/8 bytes and writes 2 bytes per weight
    m = find_model("llama-2-7b")
    kw = dict(task="infer", quant="q4_0", prompt_tokens=512, engine="llama.cpp")
    s = shape(m, job("RTX 4090", llama_cpp_cublas=True, **kw))
    block = s.prefill_weight_bytes_per_gpu * 8 / 4.5 - 32000 * 4096
    assert perf.dequant_bytes_per_chunk(s) == pytest.approx(block * (4.5 / 8 + 2))
    # MMQ (the default since 2024-06) multiplies the packed blocks directly
    assert perf.dequant_bytes_per_chunk(shape(m, job("RTX 4090", **kw))) == 0
    # a batch of 32 rows or fewer takes the matrix-vector kernels
    short = dict(kw, prompt_tokens=32)
    assert (
        perf.dequant_bytes_per_chunk(shape(m, job("RTX 4090", llama_cpp_cublas=True, **short))) == 0
    )
    # a V100 has FP16 tensor cores but no int8 MMA for MMQ: cuBLAS whatever the build
    assert perf.dequant_bytes_per_chunk(shape(m, job("Tesla V100 SXM2 16GB", **kw))) > 0
    slow = throughput(m, job("RTX 4090", llama_cpp_cublas=True, **kw))
    fast = throughput(m, job("RTX 4090", **kw))
    assert slow.prefill_tokens_per_s < fast.prefill_tokens_per_s


def test_dequantise_then_gemm_kernels_add_the_pass_above_their_row_thresholds():
    # Llama-2-7B, 4-bit formats under engines that write a 16-bit copy of each matrix for a
    # 16-bit GEMM above a row count set in their code (perf.dequant_min_rows); the pass reads
    # the packed weights and writes 2 bytes per weight, the 16-bit output head left out
    m = find_model("llama-2-7b")

    def dq(gpu: str, **kw) -> float:
        return perf.dequant_bytes_per_chunk(shape(m, job(gpu, task="infer", **kw)))

    s = shape(
        m, job("RTX 4090", task="infer", quant="nf4", engine="transformers", prompt_tokens=512)
    )
    packed = s.prefill_weight_bytes_per_gpu - 32000 * 4096 * 2
    assert dq("RTX 4090", quant="nf4", engine="transformers", prompt_tokens=512) == pytest.approx(
        packed * (1 + 16 / s.weight_bits)
    )
    # bitsandbytes' gemv_4bit takes a single row
    assert dq("RTX 4090", quant="nf4", engine="transformers", prompt_tokens=1) == 0
    # AutoAWQ: x.shape[0] * x.shape[1] >= 1024 dequantises, fewer rows run the fused GEMM
    assert dq("RTX 4090", quant="awq", engine="autoawq", prompt_tokens=1023) == 0
    assert dq("RTX 4090", quant="awq", engine="autoawq", prompt_tokens=1024) > 0
    assert dq("RTX 4090", quant="awq", engine="autoawq", prompt_tokens=512, batch_size=2) > 0
    # ExLlamaV2: more than MAX_Q_GEMM_ROWS = 32 rows
    assert dq("RTX 4090", quant="exl2", weight_bits=4.0, engine="exllamav2", prompt_tokens=32) == 0
    assert dq("RTX 4090", quant="exl2", weight_bits=4.0, engine="exllamav2", prompt_tokens=33) > 0
    # vLLM: Marlin on compute capability 8.0 and up, its AWQ kernel (>= 256 rows) on Turing
    assert dq("RTX 4090", quant="awq", engine="vllm", prompt_tokens=2048) == 0
    assert dq("Tesla T4", quant="awq", engine="vllm", prompt_tokens=255) == 0
    assert dq("Tesla T4", quant="awq", engine="vllm", prompt_tokens=256) > 0
    # 16-bit weights have nothing to dequantise
    assert dq("RTX 4090", engine="transformers", prompt_tokens=512) == 0
    slow = throughput(
        m, job("RTX 4090", task="infer", quant="nf4", engine="transformers", prompt_tokens=512)
    )
    fast = throughput(m, job("RTX 4090", task="infer", engine="transformers", prompt_tokens=512))
    assert slow.prefill_tokens_per_s < fast.prefill_tokens_per_s


def test_a_decode_batch_above_the_row_threshold_dequantises_every_step():
    # bitsandbytes 4-bit under transformers: gemv_4bit takes one row, so a step of 2 or more
    # sequences rebuilds every matrix in F16 and the GEMM reads it back: 2 x 2 bytes per
    # packed weight on top of the packed read (the 16-bit output head left out)
    m = find_model("llama-2-7b")
    kw = dict(task="infer", quant="nf4", engine="transformers", prompt_tokens=100, gen_tokens=100)
    one = shape(m, job("RTX 4090", batch_size=1, **kw))
    two = shape(m, job("RTX 4090", batch_size=2, **kw))
    assert perf.dequant_bytes_per_step(one) == 0
    packed = two.decode_weight_bytes_per_gpu - 32000 * 4096 * 2
    assert perf.dequant_bytes_per_step(two) == pytest.approx(2 * packed * 16 / two.weight_bits)
    assert perf.decode_inputs(two).moved_bytes == pytest.approx(
        two.decode_weight_bytes_per_gpu
        + two.decode_kv_bytes_per_gpu
        + two.decode_kv_copy_bytes_per_gpu
        + perf.dequant_bytes_per_step(two)
    )
    # 16-bit weights, and llama.cpp's quantized decode batches (its vector kernels), do not
    sixteen = dict(kw, quant="none")
    assert perf.dequant_bytes_per_step(shape(m, job("RTX 4090", batch_size=2, **sixteen))) == 0
    gguf = dict(kw, quant="q4_0", engine="llama.cpp")
    assert perf.dequant_bytes_per_step(shape(m, job("RTX 4090", batch_size=64, **gguf))) == 0
    # ExLlamaV2 from 33 rows (MAX_Q_GEMM_ROWS = 32)
    exl = dict(kw, quant="exl2", weight_bits=4.0, engine="exllamav2")
    assert perf.dequant_bytes_per_step(shape(m, job("RTX 4090", batch_size=32, **exl))) == 0
    assert perf.dequant_bytes_per_step(shape(m, job("RTX 4090", batch_size=33, **exl))) > 0


def test_decode_step_moves_the_dequantised_copies_at_the_achieved_bandwidth():
    # 1 GB of weights + 4 GB of dequantised copies at 1000 GB/s x 0.5: 10 ms
    x = dec.DecodeInputs(
        weight_bytes=1e9, kv_bytes=0.0, flops=0.0, n_layers=1, hidden=8, batch=2, dequant_bytes=4e9
    )
    d = dec.decode_step(
        x, mem_bw_gbs=1000, bw_efficiency=0.5, peak_tflops=100, compute_efficiency=0.5
    )
    assert d.memory_s == pytest.approx(10e-3)


def test_bitsandbytes_linears_are_flagged_under_transformers_only():
    def flag(**kw) -> bool:
        return perf.bitsandbytes_host_path(job("RTX 4090", task="infer", **kw))

    assert flag(quant="int8", engine="transformers")
    assert flag(quant="nf4", engine="transformers")
    assert not flag(engine="transformers")
    assert not flag(quant="gptq", engine="transformers")
    assert not flag(quant="q8_0", engine="llama.cpp")


def _with_bnb(c_per_linear: float, layer_s: float) -> cal.Constants:
    rows = {
        (perf.BNB_HOST_KEY, path): cal.Fitted(
            perf.BNB_HOST_KEY, c_per_linear, path, 2, 2, None, None, None, "test", ""
        )
        for path in (*perf.BNB_PATHS, "*")
    }
    rows[(perf.DECODE_OVERHEAD_KEY, "transformers")] = cal.Fitted(
        perf.DECODE_OVERHEAD_KEY, layer_s, "transformers", 2, 2, None, None, None, "test", ""
    )
    # without the fitted host-class rows below it (perf.host_class), which would win the lookup
    base = {
        kg: r
        for kg, r in cal.constants().rows.items()
        if not (kg[0] == perf.DECODE_OVERHEAD_KEY and kg[1].startswith("transformers/"))
    }
    return cal.Constants(base | rows)


def test_bitsandbytes_paths_by_format_and_rows():
    def path(batch: int, **kw) -> str | None:
        return perf.bnb_path(job("RTX 4090", task="infer", engine="transformers", **kw), batch)

    assert path(1, quant="int8") == path(8, quant="int8") == "int8"
    assert path(1, quant="nf4") == "nf4-gemv"  # gemv_4bit: one row
    assert path(2, quant="nf4") == "nf4-dequant"  # MatMul4Bit: dequantize_4bit, then linear
    assert path(1) is None
    # Llama: q, k, v, o, gate, up, down; Mixtral routes a token to 2 of its 8 experts' 3 each
    assert perf.bnb_linears_per_layer(find_model("llama-2-7b")) == 7
    assert perf.bnb_linears_per_layer(find_model("mixtral-8x7b")) == 4 + 2 * 3


def test_each_bitsandbytes_linear_adds_its_host_time_to_the_eager_step():
    # Llama-2-7B int8 on an RTX 4090, batch 1: the host runs 32 layers x (1 ms + 7 x 0.1 ms)
    # = 54.4 ms, far above the ~7 GB read, so the step is the host's
    m = find_model("llama-2-7b")
    j = job("RTX 4090", task="infer", quant="int8", engine="transformers", prompt_tokens=8)
    consts = _with_bnb(1e-4, 1e-3)
    s = shape(m, j)
    assert perf.bnb_host_s(s, consts) == pytest.approx(7e-4)
    t = perf.throughput_of(s, consts)
    assert t.step_time_s == pytest.approx(32 * 1.7e-3)
    # 16-bit weights pay the engine's per-layer time alone
    plain = shape(m, job("RTX 4090", task="infer", engine="transformers", prompt_tokens=8))
    assert perf.bnb_host_s(plain, consts) == 0


def test_exllama_kernels_multiply_at_the_fp16_accumulate_rate():
    # cublasHgemm on the reconstructed F16 matrix (ExLlamaV2; AutoGPTQ's exllama kernels under
    # transformers); bitsandbytes and AutoAWQ call torch.matmul: FP32 accumulation
    def prec(**kw) -> str:
        return perf.inference_gemm_precision(job("RTX 4090", task="infer", precision="fp16", **kw))

    assert prec(quant="exl2", weight_bits=4.0, engine="exllamav2") == "fp16-acc"
    assert prec(quant="gptq", engine="transformers") == "fp16-acc"
    assert prec(quant="nf4", engine="transformers") == "fp16"
    assert prec(quant="awq", engine="autoawq") == "fp16"
    assert prec(engine="transformers") == "fp16"
    # a GeForce card's FP16-accumulate tensor rate is twice its FP32-accumulate one
    gpu = find_gpu("RTX 4090")
    assert cp.sustained_tflops(gpu, "fp16-acc") > 1.5 * cp.sustained_tflops(gpu, "fp16")


def test_llama_cpp_pipelines_a_prompts_ubatches_over_its_layer_split_gpus():
    # 2 chunks over 2 stages take 3 stage-times, not 4; one chunk gains nothing
    kw = dict(peak_tflops=100, efficiency=0.5, n_layers=2, hidden=8, pp=2)
    link = comm.Link("fast", busbw_gbs=1e9, latency_s=0.0)
    serial = dec.prefill(1000, 2e9, chunk_tokens=500, link=link, **kw)
    piped = dec.prefill(1000, 2e9, chunk_tokens=500, link=link, pipelined=True, **kw)
    assert piped.time_s == pytest.approx(serial.time_s * 3 / 4)
    one = dec.prefill(500, 2e9, chunk_tokens=500, link=link, pipelined=True, **kw)
    assert one.time_s == pytest.approx(
        dec.prefill(500, 2e9, chunk_tokens=500, link=link, **kw).time_s
    )


def test_a_pool_engine_prefills_in_its_token_budget_per_step():
    # vLLM's server default on a >= 70 GiB card other than an A100: 8192 batched tokens
    m = find_model("llama-3-8b")
    kw = dict(task="infer", prompt_tokens=20000, gen_tokens=10)
    assert shape(m, job("H100 SXM", engine="vllm", **kw)).prefill_tokens_in_flight == 8192
    assert shape(m, job("A100 80GB SXM", engine="vllm", **kw)).prefill_tokens_in_flight == 2048
    given = job("H100 SXM", engine="vllm", max_batched_tokens=4096, **kw)
    assert shape(m, given).prefill_tokens_in_flight == 4096
    # TensorRT-LLM's max_num_tokens 8192: a 5000-token prompt in one pass
    trt = job("H100 SXM", engine="tensorrt-llm", task="infer", prompt_tokens=5000, gen_tokens=1)
    assert shape(m, trt).prefill_tokens_in_flight == 5000


# --- an eager LoRA trainer's host time (perf.train_host_s) ----------------------------------


def _with_host(c: float, framework: str = "transformers") -> cal.Constants:
    row = cal.Fitted("train_layer_s", c, framework, 2, 2, None, None, None, "test", "")
    return cal.Constants(cal.constants().rows | {("train_layer_s", framework): row})


def test_an_eager_trainers_host_time_is_c_x_layers_x_forward_passes():
    m = find_model("llama-2-7b")  # 32 layers
    consts = _with_host(1e-3)
    kw = dict(task="qlora", seq_len=1024, batch_size=1, mfu=0.5)
    ckpt = shape(m, job("A100 80GB SXM", checkpointing=True, **kw))
    plain = shape(m, job("A100 80GB SXM", **kw))
    # checkpointing re-runs every layer's forward (and its Python): two forward passes
    assert perf.train_host_s(ckpt, consts) == pytest.approx(1e-3 * 32 * 2)
    assert perf.train_host_s(plain, consts) == pytest.approx(1e-3 * 32)
    full = shape(m, job("A100 80GB SXM", task="train", seq_len=1024, batch_size=1, mfu=0.5))
    assert perf.train_host_s(full, consts) == 0  # only LoRA/QLoRA points show it
    nemo = shape(m, job("A100 80GB SXM", task="lora", framework="nemo", seq_len=1024, mfu=0.5))
    assert perf.train_host_s(nemo, _with_host(0.0, "nemo")) == 0


def test_the_host_time_adds_to_every_micro_step_not_hidden():
    m = find_model("llama-2-7b")
    j = job("A100 80GB SXM", task="qlora", seq_len=1024, batch_size=1, grad_accum=4, mfu=0.5)
    s = shape(m, j)
    none, some = (perf.throughput_of(s, _with_host(c)) for c in (0.0, 1e-3))
    # 4 micro-steps x 32 layers x 1 forward pass x 1 ms
    assert some.step_time_s - none.step_time_s == pytest.approx(4 * 32 * 1e-3)
    assert some.step_parts_s["per-layer host time (eager trainer)"] == pytest.approx(0.128)


def test_a_pipeline_stage_issues_only_its_own_layers():
    w = st.TrainWork(micro_compute_s=1.0, micro_host_s=0.4, frozen_base=True, n_layers=4)
    one = st.train_step(w, st.Plan(micro_batches=2), st.Links())
    assert one.step_s == pytest.approx(2 * (1.0 + 0.4)) and one.host_s == pytest.approx(0.8)
    assert one.bound == "compute"
    busy = st.TrainWork(micro_compute_s=0.1, micro_host_s=0.4, frozen_base=True, n_layers=4)
    assert st.train_step(busy, st.Plan(), st.Links()).bound == "per-layer overhead"


def test_the_estimate_says_when_decode_dequantises_and_what_bitsandbytes_adds():
    from dlrig.estimate import explain

    m = find_model("llama-2-7b")
    kw = dict(task="infer", quant="nf4", engine="transformers", prompt_tokens=100, gen_tokens=100)
    text = " ".join(explain.assumptions(shape(m, job("RTX 4090", batch_size=4, **kw))))
    assert "each decode step of 4 sequences dequantises" in text
    assert "bitsandbytes nf4 linears (nf4-dequant path)" in text
    one = " ".join(explain.assumptions(shape(m, job("RTX 4090", batch_size=1, **kw))))
    assert "each decode step of" not in one and "(nf4-gemv path)" in one
    plain = dict(kw, quant="none")
    assert "bitsandbytes" not in " ".join(explain.assumptions(shape(m, job("RTX 4090", **plain))))


def test_a_row_without_llm_int8_outlier_decomposition_is_not_expressible():
    from dlrig.estimate import points

    row = {
        "id": "t",
        "category": "decode",
        "task": "infer",
        "model": "llama-2-7b",
        "gpu": "RTX 4090",
        "quant": "int8",
        "engine": "transformers",
        "batch_size": "1",
        "prompt_tokens": "64",
        "gen_tokens": "64",
        "value": "40",
        "unit": "tokens_per_s",
        "notes": "load_in_8bit with llm_int8_threshold 0.0 (no outlier decomposition)",
    }
    assert "llm_int8_threshold 0" in (points.why_not(row) or "")
    default = row | {"notes": "load_in_8bit with llm_int8_threshold 6.0"}
    assert points.why_not(default) is None


def test_eager_attention_score_gemms_take_the_longer_of_flops_and_score_bytes():
    """BERT-large (24 layers, 16 heads, h 1024) fp16, seq 384, batch 32 on an H100 SXM: the
    score GEMMs do 3 x 4 x 24 x 1024 x 384 FLOPs per token x 12,288 tokens = 1.39 TFLOP and
    stream 24 x 16 x 384 x 384 x 32 = 1.81e9 scores x 2 B x 6 = 21.7 GB. At 989 TFLOPS x the
    card's GEMM fraction the FLOPs take 1.8 ms, the bytes at its streaming bandwidth 8.0 ms, so
    the eager job's GEMM time exceeds the fused-attention (sdpa) job's by the difference;
    in fp32 on a V100 (15.7 TFLOPS, 900 GB/s) the FLOPs are the longer: no difference."""
    m = find_model("bert-large")

    def gemm_s(gpu: str, precision: str, attention: str) -> float:
        j = job(gpu, precision=precision, batch_size=32, seq_len=384, attention=attention)
        return perf.train_work(shape(m, j), 1.0).micro_compute_s

    tokens = 32 * 384
    flops = 3 * 4 * 24 * 1024 * 384 * tokens
    scores = 24 * 16 * 384 * 384 * 32
    h100 = job("H100 SXM", precision="fp16")
    flops_s = flops / (cp.sustained_tflops(h100.gpu, "fp16") * cp.TFLOPS)
    bytes_s = perf.streaming_s(h100, scores * 2 * 6)
    assert bytes_s > flops_s
    extra = gemm_s("H100 SXM", "fp16", "eager") - gemm_s("H100 SXM", "fp16", "sdpa")
    assert extra == pytest.approx(bytes_s - flops_s, rel=1e-9)
    v100 = gemm_s("Tesla V100 SXM2 16GB", "fp32", "eager")
    assert v100 == pytest.approx(gemm_s("Tesla V100 SXM2 16GB", "fp32", "sdpa"), rel=1e-12)


def test_the_assumptions_say_when_an_eager_engine_has_no_time_of_its_own_for_the_host():
    from dlrig.estimate import explain

    m = find_model("llama-3.1-8b")

    def lines(gpu: str) -> list[str]:
        s = shape(m, job(gpu, task="infer", engine="transformers"))
        return [a for a in explain.assumptions(s) if "time per layer of its own" in a]

    # the shipped fit has transformers on desktop and server hosts, none on an Arm SoC
    (line,) = lines("DGX Spark")
    assert "soc host" in line and "every engine and host" in line and "three" in line
    assert lines("A100 80GB SXM") == lines("RTX 4090") == []


def test_routed_expert_gradients_reduce_over_the_expert_data_parallel_group():
    # 8 GPUs, EP 2 (expert TP 1): the dense half of 4 GB of gradients all-reduces over all 8
    # replicas, the experts' half (each GPU holds half of them) over the 4 GPUs that hold the
    # same experts; ring all-reduces at 10 GB/s with no latency, one after the other.
    w = st.TrainWork(
        micro_compute_s=1.0, tokens_per_micro=100, hidden=10, n_layers=2, moe_layers=2,
        grad_bytes=4e9, ddp_grad_bytes=4e9, routed_share=0.5,
    )  # fmt: skip
    s = st.train_step(w, st.Plan(dp=8, ep=2, etp=1), st.Links(intra=LINK))
    dense = 2 * 7 / 8 * 2e9 / 10e9
    experts = 2 * 3 / 4 * (2e9 / 2) / 10e9
    assert s.parts_s["data-parallel"] == pytest.approx(dense + experts)


# --- an eager CNN forward pass's host time ------------------------------------------------


def cnn_table(conv_s: float | None) -> cal.Constants:
    """mfu 0.5 for every group, and a host time per convolution if given."""
    rows = dict([constants_row("mfu", 0.5, "*")])
    if conv_s is not None:
        rows |= dict([constants_row(perf.CNN_CONV_KEY, conv_s, "*")])
    return cal.Constants(rows)


def test_a_small_batch_cnn_forward_pass_waits_on_its_host():
    """ResNet-50 has 53 convolutions (stem, 16 bottlenecks of 3, 4 projections): at 0.1 ms of
    host time each, one pass takes 5.3 ms whenever the GPU's share is shorter."""
    m = find_model("resnet50")
    s = shape(m, job("A100 80GB SXM", task="infer", precision="fp16", batch_size=1))
    gpu_only = perf.throughput_of(s, cnn_table(None))
    assert gpu_only.step_time_s < 5.3e-3  # one image's convolutions: about 8 GFLOPs
    t = perf.throughput_of(s, cnn_table(1e-4))
    assert t.step_time_s == pytest.approx(53 * 1e-4)
    assert t.samples_per_s == pytest.approx(1 / (53 * 1e-4))
    assert t.bound == "per-layer overhead"
    # the chart's parts add up to the step: the GPU's, then the host's time beyond it
    assert sum(t.step_parts_s.values()) == pytest.approx(t.step_time_s)
    assert t.step_parts_s[perf.ENCODER_HOST_PART] == pytest.approx(53e-4 - gpu_only.step_time_s)


def test_a_large_batch_cnn_forward_pass_is_the_gpus():
    m = find_model("resnet50")
    s = shape(m, job("A100 80GB SXM", task="infer", precision="fp16", batch_size=512))
    gpu_only = perf.throughput_of(s, cnn_table(None))
    t = perf.throughput_of(s, cnn_table(1e-4))
    assert gpu_only.step_time_s > 53 * 1e-4
    assert t.step_time_s == gpu_only.step_time_s
    assert perf.ENCODER_HOST_PART not in t.step_parts_s
    assert t.bound != "per-layer overhead"


def test_no_fitted_time_per_convolution_means_no_host_time():
    m = find_model("resnet152")
    s = shape(m, job("Tesla V100 SXM2 16GB", task="infer", precision="fp16", batch_size=16))
    assert perf.cnn_host_s(s, cnn_table(None)) == 0.0
    assert perf.cnn_host_s(s, cnn_table(2e-4)) == pytest.approx(155 * 2e-4)  # 155 convolutions
    # a CNN training step is not charged it
    train = shape(m, job("Tesla V100 SXM2 16GB", task="train", precision="fp16", batch_size=16))
    with_host = perf.throughput_of(train, cnn_table(2e-4))
    assert with_host.step_time_s == perf.throughput_of(train, cnn_table(None)).step_time_s
