"""A calibration row as the estimator reads it (estimate/points.py): its settings, and when it
cannot be the run it states."""

from __future__ import annotations

from dlrig.estimate import points

ROW = {
    "id": "t",
    "category": "memory",
    "task": "train",
    "model": "llama-3-8b",
    "gpu": "RTX 4090",
    "n_gpus": "1",
    "precision": "bf16",
    "optimizer": "adamw",
    "master_weights": "false",
    "seq_len": "512",
    "batch_size": "1",
    "value": "20",
    "unit": "GB",
    "semantics": "allocator_reserved",
}


def test_optimizer_in_backward_column_is_read():
    assert points.job_of(ROW | {"optimizer_in_backward": "true"}).optimizer_in_backward
    assert not points.job_of(ROW | {"optimizer_in_backward": ""}).optimizer_in_backward
    assert not points.job_of(ROW).optimizer_in_backward  # a table without the column


def test_grad_buffers_follow_the_row_or_its_pytorch_generation():
    # PyTorch 2.0 (2023-03-15) made zero_grad(set_to_none=True) the default: a run dated
    # before it kept its gradients between steps; an explicit cell wins; inference has none.
    assert points.job_of(ROW | {"date": "2022-01"}).grad_buffers == "persistent"
    assert points.job_of(ROW | {"date": "2024-09"}).grad_buffers == "on-demand"
    assert points.job_of(ROW).grad_buffers == "on-demand"  # undated: today's default
    explicit = ROW | {"date": "2024-09", "grad_buffers": "persistent"}
    assert points.job_of(explicit).grad_buffers == "persistent"


def test_model_states_count_every_gradient_even_when_absent_at_the_peak():
    # The optimizer step holds the weights, states and all gradients at once: a floor on the
    # peak whichever phase the peak is in.
    on_demand = points.model_states_bytes(ROW | {"date": "2024-09"})
    persistent = points.model_states_bytes(ROW | {"date": "2022-01"})
    assert on_demand == persistent


def test_a_peak_below_the_model_states_is_not_the_run_the_row_states():
    # Llama-3-8B pure bf16 with bf16 AdamW states: 2 + 2 + 4 bytes per parameter, ~64 GB.
    states = points.model_states_bytes(ROW)
    assert 60e9 < states < 66e9
    reason = points.why_not(ROW)
    assert reason is not None and "below the stated settings' weights" in reason
    assert points.memory_error(ROW) is None
    # the same run with a peak above its states is scored
    assert points.why_not(ROW | {"value": "80"}) is None
    assert points.memory_error(ROW | {"value": "80"}) is not None


def test_a_training_memory_row_without_its_length_is_not_expressible():
    assert points.why_not(ROW | {"seq_len": "", "value": "80"}) == (
        "training sequence length not stated (seq_len blank)"
    )


def test_a_language_model_training_rate_without_its_length_is_not_expressible():
    rate = ROW | {"category": "throughput", "unit": "tokens_per_s", "value": "3000"}
    assert points.why_not(rate) is None
    assert points.why_not(rate | {"seq_len": ""}) == (
        "training sequence length not stated (seq_len blank)"
    )
    # a vision model has no sequence: its rate needs none
    cnn = rate | {"model": "resnet50", "task": "vision", "unit": "images_per_s", "seq_len": ""}
    assert points.why_not(cnn) is None


PREFILL = ROW | {
    "category": "prefill",
    "task": "infer",
    "seq_len": "",
    "prompt_tokens": "2048",
    "gen_tokens": "0",
    "engine": "llama.cpp",
    "quant": "q4_0",
    "value": "3000",
    "unit": "tokens_per_s",
    "semantics": "per_job",
}


def test_a_prefill_rate_without_its_prompt_length_is_not_expressible():
    # 2,053 tok/s of a prompt of unstated length (LMSYS's DGX Spark review) could be a 128- or
    # a 4096-token prompt's rate: the default length would stand in for it
    assert points.why_not(PREFILL) is None
    assert points.why_not(PREFILL | {"prompt_tokens": "", "gen_tokens": ""}) == (
        "prompt length not stated (prompt_tokens blank)"
    )
    # a decode rate of one sequence keeps its default length, as before
    decode = PREFILL | {"category": "decode", "prompt_tokens": "", "gen_tokens": ""}
    assert points.why_not(decode | {"semantics": "decode_only"}) is None


def test_an_engine_dlrig_does_not_model_is_named_in_the_reason():
    reason = points.why_not(PREFILL | {"engine": "llama-cpp"})
    assert reason is not None and reason.startswith("engine: ") and "'llama.cpp'" in reason


def test_checkpointing_column_reads_selective():
    job = points.job_of(ROW | {"checkpointing": "selective"})
    assert job.checkpointing and job.checkpointing_mode == "selective"
    assert points.job_of(ROW | {"checkpointing": "true"}).checkpointing_mode == "full"
    assert not points.job_of(ROW | {"checkpointing": "false"}).checkpointing


def test_a_memory_row_without_a_gpu_is_read_on_a_stand_in():
    # A source that names no card is still scored, on an 80 GB stand-in (the card only
    # caps the allocator's cache at its capacity, memory.allocator_slack_bytes) ...
    row = ROW | {"gpu": "", "value": "80"}
    assert points.why_not(row) is None
    stand_in = ROW | {"gpu": points.MEMORY_STAND_IN_GPU, "value": "80"}
    assert points.memory_error(row) == points.memory_error(stand_in)
    # ... a throughput row without its GPU is not.
    assert points.why_not(row | {"category": "throughput", "unit": "tokens_per_s"}) is not None


def test_a_rate_an_application_displays_is_kept_but_not_expressible():
    decode = ROW | {
        "category": "decode",
        "task": "infer",
        "precision": "fp16",
        "quant": "q4_k_m",
        "optimizer": "",
        "master_weights": "",
        "seq_len": "",
        "gen_tokens": "512",
        "engine": "llama.cpp",
        "unit": "tokens_per_s",
        "value": "100",
        "semantics": "decode_only",
    }
    assert points.why_not(decode) is None
    reason = points.why_not(decode | {"semantics": points.APP_DISPLAYED})
    assert reason is not None and "application's displayed rate" in reason


def test_a_verdict_is_not_about_a_length_or_a_checkpointing_the_source_does_not_state():
    infer = {"task": "infer", "context": "", "prompt_tokens": "", "gen_tokens": ""}
    assert points.inference_lengths_unstated(infer)
    assert not points.inference_lengths_unstated({**infer, "gen_tokens": "128"})
    assert not points.inference_lengths_unstated({**infer, "task": "train"})
    for task in ("train", "lora", "qlora"):
        assert points.checkpointing_unstated({"task": task, "checkpointing": ""})
        for stated in ("true", "false", "selective", "offload"):
            assert not points.checkpointing_unstated({"task": task, "checkpointing": stated})
    assert not points.checkpointing_unstated({"task": "infer", "checkpointing": ""})


def test_interconnect_column_is_read():
    # A row that says how its GPUs were linked (NVLink bridge; NCCL_P2P_DISABLE=1) is priced
    # on that link, not on the card's default.
    row = ROW | {"category": "throughput", "gpu": "Titan RTX", "n_gpus": "2"}
    assert points.job_of(row | {"interconnect": "nvlink"}).interconnect.value == "nvlink"
    assert points.job_of(row | {"interconnect": "pcie-nop2p"}).interconnect.value == "pcie-nop2p"
    assert points.job_of(row).interconnect.value == "auto"


def test_an_image_or_encoder_forward_pass_states_its_length_by_its_input():
    """A generation that states no length is not judged (its engine's default allocation may
    have been lowered); an image model's input is its image, an encoder's its seq_len."""
    from dlrig.estimate import points as pts

    assert pts.inference_lengths_unstated({"task": "infer", "model": "llama-3-8b"})
    assert not pts.inference_lengths_unstated({"task": "infer", "model": "vit-b16"})
    assert not pts.inference_lengths_unstated({"task": "infer", "model": "resnet50"})
    encoder = {"task": "infer", "model": "bert-base"}
    assert pts.inference_lengths_unstated(encoder)
    assert not pts.inference_lengths_unstated({**encoder, "seq_len": "128"})


def test_a_whole_evaluation_loops_rate_is_kept_but_not_compared():
    """DeepLearningExamples' SQuAD inference figures time the whole prediction loop (data
    loader, copies, logits to the CPU): reported as not expressible, never fitted."""
    from dlrig.catalog.load import read_rows
    from dlrig.estimate import points as pts

    rows = [r for r in read_rows("calibration_points.csv") if r["semantics"] == pts.END_TO_END]
    assert rows and all(r["source_id"] == "nvidia-dle-bert-infer" for r in rows)
    assert all("end_to_end" in pts.why_not(r) for r in rows)


def test_a_reading_between_steps_is_compared_with_what_outlives_a_step():
    """torch.cuda.memory_allocated() after each step (GPTQ-for-LLaMa's benchmark): the
    weights and the KV cache, not the peak inside the step (the legacy cache's second copy of
    the KV, the logits) and never the load's."""
    from dlrig.estimate import memory as mem
    from dlrig.estimate import shape as shapes

    row = ROW | {
        "task": "infer",
        "model": "llama-2-7b",
        "precision": "fp16",
        "engine": "transformers",
        "seq_len": "",
        "prompt_tokens": "0",
        "gen_tokens": "2048",
        "context": "2048",
        "date": "2023-05",
        "value": "13.62",
        "unit": "GiB",
    }
    current = row | {"semantics": "allocator_current"}
    peak = row | {"semantics": "allocator_allocated"}
    parts = mem.parts(shapes.derive(points.model_of(current), points.job_of(current)))
    assert points.predicted_memory_bytes(current) == parts.weights + parts.kv_cache
    assert parts.resident == parts.weights + parts.optimizer + parts.kv_cache
    assert points.predicted_memory_bytes(peak) > points.predicted_memory_bytes(current)
    assert not points.includes_load("allocator_current")
