"""`dlrig estimate`: what a workload needs (memory, throughput, data rate, time, energy)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dlrig.cli.app import ColorOption, OutputFormat, OutputOption, app, emit, not_over_input
from dlrig.cli.app import opt as _opt
from dlrig.cli.app import use_color as _use_color
from dlrig.errors import CatalogLookupError, DlrigError
from dlrig.model.choices import (  # plain enums, no pydantic: cheap at start-up
    Attention,
    BaseQuant,
    CheckpointingMode,
    DecodeEngine,
    Framework,
    GradBuffers,
    Interconnect,
    KvCache,
    KvDtype,
    LoraTargets,
    Loss,
    MemoryFormat,
    Offload,
    Optimizer,
    OptimizerDtype,
    Precision,
    Quant,
    Task,
)

# A model with no preset is still estimated from its shape.
NO_PRESET_HINT = "(no preset: give its Hugging Face config.json with --config, or --params N)"


@app.command()
def estimate(
    gpu: Annotated[str, _opt("GPU model, e.g. 'RTX 4090' (see 'dlrig parts gpus').", "--gpu")],
    task: Annotated[Task, _opt("What the job does.", "--task")],
    model: Annotated[str | None, _opt("Model preset (see 'dlrig parts models').", "--model")] = (
        None
    ),
    config: Annotated[Path | None, _opt("A local Hugging Face config.json.", "--config")] = None,
    params: Annotated[float | None, _opt("A bare parameter count, e.g. 13e9.", "--params")] = None,
    gpus: Annotated[int, _opt("Number of GPUs (all nodes).", "--gpus", min=1)] = 1,
    precision: Annotated[
        Precision | None,
        _opt("Compute precision (default: bf16; fp16 on cards without BF16).", "--precision"),
    ] = None,
    quant: Annotated[Quant | None, _opt("Stored weight format (infer).", "--quant")] = None,
    weight_bits: Annotated[
        float | None, _opt("Average bits per weight (with --quant exl2).", "--weight-bits")
    ] = None,
    base_quant: Annotated[
        BaseQuant | None, _opt("LoRA's frozen base weights (lora).", "--base-quant")
    ] = None,
    kv_dtype: Annotated[KvDtype | None, _opt("KV cache format (infer).", "--kv-dtype")] = None,
    kv_cache: Annotated[
        KvCache | None,
        _opt(
            "transformers' KV cache (--engine transformers): dynamic (grown by torch.cat every "
            "step, the default), legacy (transformers < 4.42: the old cache lives through each "
            "step) or static (cache_implementation='static': preallocated, written in place).",
            "--kv-cache",
        ),
    ] = None,
    optimizer: Annotated[Optimizer | None, _opt("Optimizer.", "--optimizer")] = None,
    optimizer_dtype: Annotated[
        OptimizerDtype | None, _opt("Optimizer state dtype.", "--optimizer-dtype")
    ] = None,
    zero: Annotated[
        int | None, _opt("ZeRO stage (3 = FSDP full shard).", "--zero", min=0, max=3)
    ] = None,
    checkpointing: Annotated[
        bool, _opt("Activation checkpointing.", "--checkpointing/--no-checkpointing")
    ] = False,
    checkpointing_mode: Annotated[
        CheckpointingMode | None,
        _opt(
            "What checkpointing keeps: full (each block's input), selective (torchtitan's "
            "op-level policy: every other matmul's and attention's outputs) or offload "
            "(Unsloth's: each block's input in CPU memory, copied over PCIe); selective and "
            "offload imply --checkpointing.",
            "--checkpointing-mode",
        ),
    ] = None,
    lora_rank: Annotated[int | None, _opt("LoRA rank (default 8).", "--lora-rank", min=1)] = None,
    lora_targets: Annotated[
        LoraTargets | None, _opt("LoRA target layers (default all).", "--lora-targets")
    ] = None,
    framework: Annotated[
        Framework | None,
        _opt(
            "The trainer. LoRA/QLoRA: how it loads a quantised base (the load-time peak), "
            "its 4-bit linear and adapter dtype: transformers (default; also PEFT, TRL, "
            "Axolotl, LLaMA-Factory, Unsloth), litgpt, torchtune, torchtune-torchao0.1, nemo "
            "(16-bit base only). Full training: its fitted efficiency factor (default: none "
            "named, the fit over every framework); any of these or megatron, torchtitan, "
            "llm-foundry, llmq, deepspeed.",
            "--framework",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        _opt(
            "Training: micro-batch per data-parallel replica; infer: concurrent sequences.",
            "--batch-size",
            min=1,
        ),
    ] = None,
    grad_accum: Annotated[
        int | None, _opt("Gradient accumulation micro-steps per step.", "--grad-accum", min=1)
    ] = None,
    seq_len: Annotated[int | None, _opt("Training sequence length.", "--seq-len", min=1)] = None,
    context: Annotated[
        int | None, _opt("Inference tokens held per sequence.", "--context", min=1)
    ] = None,
    prompt_tokens: Annotated[
        int | None, _opt("Prompt length (prefill, TTFT).", "--prompt-tokens", min=1)
    ] = None,
    gen_tokens: Annotated[
        int | None, _opt("Tokens generated per sequence.", "--gen-tokens", min=1)
    ] = None,
    tp: Annotated[int | None, _opt("Tensor-parallel degree.", "--tp", min=1)] = None,
    pp: Annotated[int | None, _opt("Pipeline-parallel stages.", "--pp", min=1)] = None,
    vp: Annotated[int | None, _opt("Virtual stages per pipeline stage.", "--vp", min=1)] = None,
    cp: Annotated[int | None, _opt("Context-parallel degree.", "--cp", min=1)] = None,
    ep: Annotated[int | None, _opt("Expert-parallel degree (MoE).", "--ep", min=1)] = None,
    etp: Annotated[
        int | None,
        _opt(
            "Training: tensor-parallel degree of the experts (Megatron's "
            "--expert-tensor-parallel-size; default --tp). --etp x --ep divides the GPUs of a "
            "pipeline stage (MoE parallel folding: --etp 1 --ep 64 with --tp 2).",
            "--etp",
            min=1,
        ),
    ] = None,
    nodes: Annotated[int | None, _opt("Nodes the GPUs are spread over.", "--nodes", min=1)] = None,
    network: Annotated[
        str | None, _opt("Network between nodes (see networks.csv ids).", "--network")
    ] = None,
    nics_per_node: Annotated[
        int | None,
        _opt(
            "Ports of --network per node (default one per GPU, as in DGX/HGX nodes; a cloud"
            " node with 4 x 100G for 8 GPUs: --network roce-100 --nics-per-node 4).",
            "--nics-per-node",
            min=1,
            max=64,
        ),
    ] = None,
    attention: Annotated[
        Attention | None,
        _opt(
            "Attention implementation (default sdpa; flash = the card's own fused kernel,"
            " flash2 = the FlashAttention-2 kernel, slower on Hopper).",
            "--attention",
        ),
    ] = None,
    memory_format: Annotated[
        MemoryFormat | None,
        _opt("CNN activation layout (default channels_last).", "--memory-format"),
    ] = None,
    tokens: Annotated[float | None, _opt("Tokens to process.", "--tokens")] = None,
    epochs: Annotated[float | None, _opt("Epochs (with --dataset-size).", "--epochs")] = None,
    dataset_size: Annotated[int | None, _opt("Samples per epoch.", "--dataset-size", min=1)] = None,
    mfu: Annotated[float | None, _opt("Override the assumed utilisation (0-1).", "--mfu")] = None,
    interconnect: Annotated[
        Interconnect | None, _opt("GPU-to-GPU link for the all-reduce.", "--interconnect")
    ] = None,
    master_weights: Annotated[
        bool,
        _opt(
            "Keep fp32 master weights (AMP); --pure-16bit: none, and optimizer states in 16-bit.",
            "--master-weights/--pure-16bit",
        ),
    ] = True,
    offload: Annotated[
        Offload | None, _opt("Move optimizer states (or everything) to CPU memory.", "--offload")
    ] = None,
    host_link_gbs: Annotated[
        float | None,
        _opt(
            "GPU<->CPU copy rate in GB/s for offload (dlrig probe measures it; default: the "
            "card's PCIe link).",
            "--host-link-gbs",
        ),
    ] = None,
    optimizer_in_backward: Annotated[
        bool, _opt("Optimizer step fused into backward.", "--optimizer-in-backward")
    ] = False,
    grad_buffers: Annotated[
        GradBuffers | None,
        _opt(
            "When gradients exist: on-demand (default; zero_grad(set_to_none=True), PyTorch "
            ">= 2.0, HF Trainer, torchtune, torchtitan: none at the forward's peak), "
            "persistent (PyTorch < 2.0's zero_grad) or bucket-view (the all-reduce buffer is "
            "the gradients: DDP gradient_as_bucket_view=True, Megatron main_grad, DeepSpeed); "
            "plain DDP adds its buckets, a second copy.",
            "--grad-buffers",
        ),
    ] = None,
    loss: Annotated[
        Loss | None,
        _opt("Cross-entropy: standard (HF), chunked (torchtune), fused (Liger).", "--loss"),
    ] = None,
    mlm_positions: Annotated[
        int | None,
        _opt(
            "Encoder trained with its masked-LM head: positions per sequence it runs on "
            "(seq len: all, as BertForMaskedLM; max_predictions_per_seq: masked only, as "
            "NVIDIA's dense_seq_output). Default: a task head.",
            "--mlm-positions",
            min=1,
        ),
    ] = None,
    engine: Annotated[
        DecodeEngine | None,
        _opt(
            "Inference engine (optimized = an unnamed fast engine; hf = transformers).",
            "--engine",
        ),
    ] = None,
    gpu_memory_utilization: Annotated[
        float | None,
        _opt(
            "Share of GPU memory a pool engine takes (vllm --gpu-memory-utilization, default "
            "0.9; sglang --mem-fraction-static; tensorrt-llm free_gpu_memory_fraction).",
            "--gpu-memory-utilization",
        ),
    ] = None,
    max_batched_tokens: Annotated[
        int | None,
        _opt(
            "Tokens of one forward pass: the chunk a prompt is prefilled in and a pool engine's "
            "profiled pass (vllm --max-num-batched-tokens, sglang --chunked-prefill-size, "
            "tensorrt-llm max_num_tokens, llama.cpp -ub, ollama num_batch; default: the engine's).",
            "--max-batched-tokens",
        ),
    ] = None,
    max_num_seqs: Annotated[
        int | None,
        _opt("vLLM --max-num-seqs (default: vLLM's for the GPU).", "--max-num-seqs"),
    ] = None,
    llama_cpp_cublas: Annotated[
        bool,
        _opt(
            "llama.cpp dequantises quantized weights to F16 for cuBLAS in a prompt's batches "
            "(builds before 2024-06, or GGML_CUDA_FORCE_CUBLAS) instead of its MMQ kernels.",
            "--llama-cpp-cublas",
        ),
    ] = False,
    trtllm_mmha: Annotated[
        bool,
        _opt(
            "TensorRT-LLM before v0.8: a grouped-query model's generation attention runs "
            "without the XQA kernel, each query head loading its KV head's cache.",
            "--trtllm-mmha",
        ),
    ] = False,
    vllm_v0: Annotated[
        bool,
        _opt(
            "vLLM before v0.8 (or VLLM_USE_V1=0): the V0 engine, whose scheduler and sampler "
            "run on the host between decode steps (default: today's V1 engine).",
            "--vllm-v0",
        ),
    ] = False,
    price_per_gpu_hour: Annotated[
        float | None, _opt("Cloud price per GPU-hour.", "--price-per-gpu-hour")
    ] = None,
    electricity_price: Annotated[
        float | None, _opt("Electricity price per kWh.", "--electricity-price")
    ] = None,
    sample_bytes: Annotated[
        float | None, _opt("Bytes read per sample (vision).", "--sample-bytes")
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = (
        OutputFormat.terminal
    ),
    output: OutputOption = None,
    color: ColorOption = True,
) -> None:
    """Estimate what a workload needs: GPU memory, throughput, data rate, time and energy."""
    from dlrig.estimate import estimate as run_estimate
    from dlrig.estimate.request import job_from_options
    from dlrig.report.estimate import renderer as estimate_renderer

    not_over_input(output, config)
    options = dict(
        gpu=gpu,
        model=model,
        config=str(config) if config else None,
        params=params,
        task=task,
        gpus=gpus,
        precision=precision,
        quant=quant,
        weight_bits=weight_bits,
        base_quant=base_quant,
        kv_dtype=kv_dtype,
        kv_cache=kv_cache,
        optimizer=optimizer,
        optimizer_dtype=optimizer_dtype,
        zero=zero,
        checkpointing=checkpointing,
        checkpointing_mode=checkpointing_mode,
        lora_rank=lora_rank,
        lora_targets=lora_targets,
        framework=framework,
        batch_size=batch_size,
        grad_accum=grad_accum,
        seq_len=seq_len,
        context=context,
        prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens,
        tp=tp,
        pp=pp,
        vp=vp,
        cp=cp,
        ep=ep,
        etp=etp,
        nodes=nodes,
        network=network,
        nics_per_node=nics_per_node,
        attention=attention,
        memory_format=memory_format,
        tokens=tokens,
        epochs=epochs,
        dataset_size=dataset_size,
        mfu=mfu,
        interconnect=interconnect,
        engine=engine,
        gpu_memory_utilization=gpu_memory_utilization,
        max_batched_tokens=max_batched_tokens,
        max_num_seqs=max_num_seqs,
        llama_cpp_cublas=llama_cpp_cublas,
        trtllm_mmha=trtllm_mmha,
        vllm_v0=vllm_v0,
        master_weights=master_weights,
        offload=offload,
        host_link_gbs=host_link_gbs,
        optimizer_in_backward=optimizer_in_backward,
        grad_buffers=grad_buffers,
        loss=loss,
        mlm_positions=mlm_positions,
        price_per_gpu_hour=price_per_gpu_hour,
        electricity_price=electricity_price,
        sample_bytes=sample_bytes,
    )
    try:
        spec, job = job_from_options(options)
    except CatalogLookupError as exc:
        if exc.kind != "model" or exc.choices:
            raise
        raise DlrigError(f"{exc.one_line()} {NO_PRESET_HINT}") from None
    result = run_estimate(spec, job)
    if fmt == OutputFormat.html:
        from dlrig.report.html import render_estimate

        emit(render_estimate(result), output)
        return
    emit(estimate_renderer(fmt.value)(result, color=_use_color(color, output)), output)


# --- recommend ---------------------------------------------------------------------------------
