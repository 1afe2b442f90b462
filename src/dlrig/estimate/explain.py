"""What an estimate assumed and where its numbers come from, written for this job.

Each line describes the setting actually used (optimizer, loss, sharding, checkpointing), so
the list a user reads is the basis of the numbers they got, not a generic disclaimer.
"""

from __future__ import annotations

from dlrig.estimate import calibration as cal
from dlrig.estimate import comm, engine_memory, engine_spread, hf_cache, perf, stream
from dlrig.estimate import compute as cp
from dlrig.estimate import convnet as cnet
from dlrig.estimate import decode as dec
from dlrig.estimate import memory as mem
from dlrig.estimate import params as p
from dlrig.estimate import shape as shapes
from dlrig.estimate.shape import FP32_BYTES, HALF_BYTES, Shape, half_adapters, is_fp32
from dlrig.model.choices import CHUNKED_PREFILL_ENGINES, DecodeEngine
from dlrig.model.thresholds import DEFAULT_PSU_EFFICIENCY
from dlrig.model.workload import (
    Attention,
    Job,
    KvDtype,
    Loss,
    ModelKind,
    ModelSpec,
    Offload,
    Optimizer,
    Precision,
    Task,
)

OPTIMIZER_STATES = {
    Optimizer.ADAMW: "AdamW momentum and variance",
    Optimizer.SGD: "SGD momentum",
    Optimizer.ADAM8BIT: "8-bit Adam states",
    Optimizer.ADAFACTOR: "Adafactor factored second moment",
}
LOSS = {
    Loss.STANDARD: (
        "logits upcast to fp32 for the loss (Hugging Face, torchtitan): three fp32 copies at the "
        "start of backward"
    ),
    Loss.CHUNKED: "16-bit logits kept, fp32 only one chunk at a time (chunked loss)",
    Loss.FUSED: "logits never materialised (fused linear cross-entropy)",
}


def _states(s: Shape) -> str:
    job = s.job
    per_param = mem.optimizer_bytes_per_param(s)
    states = OPTIMIZER_STATES[job.optimizer]
    state_dtype = "bf16" if mem.optimizer_state_bytes(s) == HALF_BYTES else "fp32"
    if job.optimizer in (Optimizer.ADAMW, Optimizer.SGD):
        states += f" in {state_dtype}"
    if job.task in (Task.LORA, Task.QLORA):
        text = (
            f"frozen base weights as {s.weight_format} ({s.weight_bits:g} bits); adapters by the "
            f"ZeRO paper's accounting: {s.adapter_bytes} B weights, "
            f"{mem.gradient_bytes_per_param(s):g} B gradients, "
            f"{per_param:.3g} B optimizer ({states}) per adapter parameter"
        )
    else:
        fp32 = is_fp32(job.precision)
        weight = FP32_BYTES if fp32 else HALF_BYTES
        master = "fp32 master weights + " if mem.master_weight_bytes(s) else ""
        text = (
            f"model states by the ZeRO paper's accounting: {weight} B weights, "
            f"{mem.gradient_bytes_per_param(s):g} B gradients, {per_param:.3g} B optimizer "
            f"({master}{states}) per parameter"
        )
    sharded = [
        what
        for stage, what in ((1, "optimizer states"), (2, "gradients"), (3, "weights"))
        if job.zero >= stage
    ]
    if sharded and s.plan.shard_group > 1:
        text += f"; {', '.join(sharded)} sharded over {s.plan.shard_group} GPUs (ZeRO-{job.zero})"
        if s.routed_trainable_per_gpu and s.plan.expert_dp != s.plan.shard_group:
            layout = f"--etp {s.plan.etp} x --ep {s.plan.ep} per stage"
            text += (
                f", the routed experts' over the {s.plan.expert_dp} GPUs holding the same "
                f"experts ({layout})"
                if s.plan.expert_dp > 1
                else f", the routed experts' not at all: no other GPU holds them ({layout})"
            )
    if job.offload != Offload.NONE:
        kept = "optimizer states" if job.offload == Offload.OPTIMIZER else "weights and states"
        host = comm.pcie_host_link(job.gpu, job.host_link_gbs)
        text += f"; {kept} in CPU memory, moved over {host.what} at {host.busbw_gbs:.1f} GB/s"
    if job.optimizer_in_backward:
        text += "; gradients applied block by block in backward"
    if mem.grads_absent_at_loss(s):
        text += (
            "; gradients created by the backward (zero_grad(set_to_none=True), PyTorch >= 2.0):"
            " none at the forward's and loss's peak, so the step peaks at the larger of the "
            "loss and the backward's end"
        )
    if mem.ddp_bucket_bytes(s):
        text += (
            "; PyTorch DDP's gradient buckets: a second copy of the gradients, alive all run "
            "(gradient_as_bucket_view=False, DDP's default; --grad-buffers bucket-view if set)"
        )
    return text


ATTENTION = {
    Attention.EAGER: "eager attention (s² scores kept: Korthikanti's 5·a·s²·b term)",
    Attention.SDPA: "SDPA flash / memory-efficient kernels (no s² scores)",
    Attention.FLASH: "FlashAttention (no s² scores)",
    Attention.FLASH2: "FlashAttention-2 kernel (no s² scores; on Hopper without wgmma/TMA)",
}


def _activations(m: ModelSpec, job: Job) -> str:
    if m.kind == ModelKind.CNN and job.task == Task.INFER and m.conv_stages:
        return (
            "activations: the most tensors alive at once in one eval-mode forward pass, layer "
            "by layer (no autograd: each freed after its last reader; the input batch in fp32 "
            "and autocast's copy of it included)"
        )
    if m.kind == ModelKind.CNN:
        return (
            f"activations: {m.activation_mb_per_sample:g} MB per image at fp32 from the preset, "
            f"scaled to {job.precision.value}; checkpointing not modelled for CNNs"
        )
    if job.offloaded_checkpointing:
        recompute = (
            "offloaded checkpointing (Unsloth's): each layer's input copied to CPU memory and "
            "fetched back for its recompute, one layer recomputed at a time"
        )
    elif job.selective_checkpointing:
        recompute = (
            "selective checkpointing (torchtitan's op policy): each layer's input, every other "
            "matmul's output and attention's output kept, one layer recomputed at a time"
        )
    elif job.checkpointing:
        recompute = "full checkpointing: each layer's input kept, one layer recomputed at a time"
    else:
        recompute = "no checkpointing"
    text = f"activations by Korthikanti et al. 2022 with {ATTENTION[job.attention]}; {recompute}"
    if m.has_vocab_head:
        text += f"; {LOSS[job.loss]}"
    elif m.is_language_model:
        text += "; no vocabulary-sized logits (encoder with a task head)"
    return text


def _loading(s: Shape) -> str:
    """Which loading path the load-time peak assumes, or why there is none."""
    from dlrig.estimate import load_peak as lp

    why = lp.why_not(s)
    if why is not None:
        return f"load-time peak: none above the step's ({why})"
    return (
        f"load-time peak: {lp.WHY[s.job.trainer]} (--framework {s.job.trainer.value}); "
        "the largest matrix is quantised last, with every other weight already on the GPU; "
        "the fit uses the larger of this and the training step's peak"
    )


def _traffic(job: Job) -> str | None:
    if job.n_gpus == 1:
        return None
    if job.zero >= 3:
        return (
            "FSDP/ZeRO-3: weights all-gathered for the forward and backward passes and "
            "gradients reduce-scattered, prefetched behind compute"
        )
    return "gradients all-reduced (ring), overlapped with the backward pass (PyTorch DDP buckets)"


def _plan(s: Shape) -> str | None:
    plan = s.plan
    if plan.n_gpus == 1:
        return None
    parts = [
        f"{k} {v}"
        for k, v in (
            ("dp", plan.dp),
            ("tp", plan.tp),
            ("pp", plan.pp),
            ("cp", plan.cp),
            ("ep", plan.ep),
            ("vp", plan.vp),
        )
        if v > 1
    ]
    text = "parallel plan: " + " x ".join(parts)
    if plan.tp > 1 and s.training:
        text += " (tensor parallel with sequence parallelism: activations split by tp)"
    if s.training and plan.ep > 1:
        text += (
            f"; the experts: etp {plan.etp} x ep {plan.ep} x expert-dp {plan.expert_dp} per "
            "pipeline stage (their all-to-alls over ep, their gradients over expert-dp)"
        )
    if plan.nodes > 1:
        text += f"; {plan.nodes} nodes of {plan.gpus_per_node} GPUs"
    return text


def _tensor_parallel(s: Shape, engine_rates: dict[str, float] | None = None) -> str:
    """Which engine's tensor parallelism the decode and prefill rates price, and how its GPUs
    meet (perf.tp_comm); with no engine named, each engine's rate (engine_spread.py)."""
    job = s.job
    if engine_rates is None and engine_spread.applies(job):
        engine_rates = engine_spread.throughput(s.model, job).engine_rates_tok_s
    if engine_rates:
        head = engine_spread.median_engine(engine_rates)
        priced = engine_spread.shape_under(s.model, job, head)
        rates = ", ".join(f"{e} {r:,.1f}" for e, r in engine_rates.items())
        return (
            f"--tp {s.plan.tp} without --engine: priced for each engine with a tensor-parallel "
            f"path that loads {s.weight_format} weights ({rates} tokens/s); the figures are the "
            f"median engine's ({head}: {perf.TP_MODE_TEXT[perf.tp_comm(priced).mode]}) and "
            "the range runs from the lowest to the highest end of their intervals"
            + (
                " (exllamav2's is an upper bound: its host waits at every gather)"
                if DecodeEngine.EXLLAMAV2.value in engine_rates
                else ""
            )
            + "; --engine names one (llama.cpp: its row split; exllamav2: its tensor_parallel)"
        )
    tc = perf.tp_comm(s)
    tp_mode = tc.mode
    mode = perf.TP_MODE_TEXT[tp_mode]
    line = f"tensor parallel over {s.plan.tp} GPUs as {perf.engine(job)} runs it: {mode}"
    if tc.sync_s:
        meetings = dec.tp_meetings(s.model.total_layers, tc)
        line += (
            f", each of the {meetings} meetings per forward pass waiting a fitted "
            f"{tc.sync_s * 1e6:.3g} us beyond the link (tp_sync_s: the collective's launch and "
            "the slowest GPU)"
        )
    if tp_mode == dec.TP_HOST:
        # decode.py: the host's wait at each gather is not priced, and the one published A/B
        # (2x RTX 3090, TabbyAPI, Mistral-Large 2.75 bpw) ran its TP 9 % slower than its split.
        line += (
            "; the tokens/s is an upper bound: the host waits at every gather, which is not "
            "priced, and the one published comparison (2x RTX 3090, TabbyAPI: tensor_parallel "
            "13.06, gpu_split 14.38 tokens/s) found ExLlamaV2's TP slower than its layer split"
        )
    return line


def _framework(job: Job) -> str:
    """What the training efficiency assumes of the framework (perf.framework_factor)."""
    if perf.framework_group(job) is None:
        return (
            "framework not named (--framework): the efficiency fitted over every framework's "
            "published runs, which differ up to 2x at one recipe (NeMo/Megatron fastest, "
            "torchtitan slowest on H100); its interval is their spread left one source out"
        )
    named = job.framework.value if job.framework else ""
    factor = perf.framework_factor(job)
    if factor is None or factor.group == cal.ROOT:
        return (
            f"framework {named}: no published run of it is calibrated, so the efficiency "
            "fitted over every framework's runs (factor 1)"
        )
    return (
        f"framework {named}: the efficiency fitted over every framework's runs x "
        f"{factor.value:.3g}, the median ratio of its {factor.n_points} published runs "
        f"({factor.n_sources} source(s)) to that fit ({perf.TRAIN_FRAMEWORK_KEY}[{factor.group}])"
    )


def _forward_host_time(units: int, unit: str, per_unit_s: float, constant: str) -> str:
    """An eager forward pass's host time (perf.cnn_host_s, perf.encoder_host_s) in words."""
    return (
        f"eager PyTorch's host time: {units} {unit} x {1e3 * per_unit_s:.3f} ms (fitted, "
        f"{constant}), {1e3 * units * per_unit_s:.1f} ms per forward pass; the pass takes the "
        "longer of it and the GPU's time, so a small batch waits on the host"
    )


def _borrowed_layer_time(job: Job) -> tuple[cal.Fitted, float]:
    """A decode whose per-layer time is not its own (an eager engine's host class without a
    fit, llama.cpp without CUDA graphs): the per-layer row it takes, and the interval it
    carries (perf.decode_interval_rate: the wider of its group's and the root's)."""
    c = cal.constants()
    fitted = c.get(perf.DECODE_OVERHEAD_KEY, perf.overhead_group(job))
    bw = perf.rate(perf.DECODE_BW_KEY, perf.decode_group(job), c)
    return fitted, perf.decode_interval_rate(job, bw, c).interval or 0.0


def assumptions(s: Shape, engine_rates: dict[str, float] | None = None) -> list[str]:
    m, job = s.model, s.job
    out = [f"model: {m.source}"] if m.source else []
    if job.precision == Precision.FP16 and not job.gpu.has_bf16:
        how = "fp16" if job.task == Task.INFER else "fp16 mixed precision with loss scaling (AMP)"
        out.append(
            f"{how}: {job.gpu.name} has no BF16 hardware (compute capability below 8.0), so "
            "fp16, not bf16, is its 16-bit default"
        )
    if not job.batch_size:
        what = "concurrent sequence(s)" if job.task == Task.INFER else "micro-batch per replica"
        out.append(f"{what}: {s.micro_batch} (not given)")
    given_len = job.seq_len if job.task != Task.INFER else (job.context or job.prompt_tokens)
    own_default = engine_memory.applies(s) and engine_memory.engine_default_context(job.engine, m)
    if m.is_language_model and not given_len and not own_default:
        what = "context" if job.task == Task.INFER else "sequence length"
        out.append(f"{what} {s.seq} tokens (not given)")
    plan = _plan(s)
    if plan:
        out.append(plan)
    if job.task == Task.INFER and s.plan.tp > 1:
        out.append(_tensor_parallel(s, engine_rates))
    if s.training and s.grad_accum > 1:
        out.append(f"gradient accumulation {s.grad_accum}: global batch {s.global_batch} sequences")
    if job.task == Task.INFER and m.kind == ModelKind.CNN and m.conv_stages:
        layout = " and NCHW's transposes" if cnet.transposes_nchw(m, job) else ""
        out += [
            "inference: eval-mode forward passes, every GPU running the batch: each "
            "convolution's forward kernel at the fitted efficiency, batch norm (running "
            f"statistics), ReLU, the residual adds and the pools{layout} at the streaming "
            "bandwidth",
            _activations(m, job),
        ]
        host_s = perf.cnn_host_s(s)
        if host_s:
            convs = perf.cnn_convolutions(m)
            out.append(
                _forward_host_time(convs, "convolutions", host_s / convs, perf.CNN_CONV_KEY)
                + " (TensorRT or CUDA graphs would not)"
            )
    if job.task == Task.INFER and m.is_transformer and not m.generates:
        scores = " and eager attention's score matrices" if job.attention == Attention.EAGER else ""
        out.append(
            "inference: forward passes, every GPU running the batch: the GEMMs at the fitted "
            f"efficiency, the norms, the MLP activation and the residual adds{scores} at the "
            "streaming bandwidth"
        )
        per_layer_s, which = perf.encoder_layer_time(job)
        if per_layer_s and m.total_layers:
            out.append(_forward_host_time(m.total_layers, "layers", per_layer_s, which))
    if job.task != Task.INFER:
        out += [_states(s), _activations(m, job)]
        traffic = _traffic(job)
        if traffic:
            out.append(traffic)
    if job.task == Task.TRAIN and job.mfu is None:
        out.append(_framework(job))
    if job.task in (Task.LORA, Task.QLORA):
        out.append(_loading(s))
        out.append(
            f"LoRA rank {job.lora_rank} on {job.lora_targets.value} linear layers; adapters in "
            + ("16-bit (LitGPT, torchtune or pure 16-bit)" if half_adapters(job) else "fp32 (PEFT)")
        )
    stored = m.checkpoint_quant
    if job.task == Task.INFER and stored and job.quant.value == "none":
        # e.g. gpt-oss: its checkpoint (and every GGUF of it) holds the experts in MXFP4; left
        # at --quant none the estimate is for a 16-bit copy, about 3x the file users download
        out.append(
            f"weights in {s.weight_format}: {m.name}'s published checkpoint stores {stored} "
            f"(give --quant {stored} to size that file)"
        )
    if job.task == Task.INFER and m.has_vocab_head:
        kv = (
            "16-bit"
            if job.kv_dtype == KvDtype.FP16
            else f"{job.kv_dtype.value} ({s.kv_bits:g} bits)"
        )
        prefill = (
            f"prefill in chunks of {shapes.prefill_chunk(job)} tokens"
            if job.engine in CHUNKED_PREFILL_ENGINES
            else "the whole batch of prompts prefilled at once"
        )
        if perf.llama_cpp_dequantises(s):
            prefill += (
                " (each chunk first dequantises the weights to 16-bit for cuBLAS: "
                "llama.cpp's path before MMQ, --llama-cpp-cublas)"
            )
        elif perf.dequantises_for_gemm(s):
            prefill += (
                f" (each chunk of {perf.dequant_min_rows(job)} tokens or more first "
                f"dequantises the weights to 16-bit for a 16-bit GEMM: {job.engine.value}'s "
                f"{job.quant.value} kernel)"
            )
        pad = perf.routed_tile_pad(s)
        if pad > 1.0:
            prefill += (
                f" (llama.cpp's MMQ runs each expert's tokens in tiles sized for the whole chunk: "
                f"{pad:.2g}x the experts' multiply-adds, moe_tiles.py)"
            )
        several = s.prompt_tokens * s.micro_batch > s.prefill_tokens_in_flight
        if perf.engine(job) == "llama.cpp" and s.plan.pp > 1 and several:
            prefill += f", the chunks pipelined over the {s.plan.pp} GPUs' layers"
        bits = f"{s.weight_bits:g} bits per weight"
        if s.routed_weight_bits != s.weight_bits:
            bits = f"{s.routed_weight_bits:g} bits per expert weight, {s.weight_bits:g} elsewhere"
        out.append(
            f"weights as {s.weight_format} ({bits}); decode reads "
            f"this GPU's weights (MoE: the experts the batch routes to) and the KV cache once "
            f"per generated token, on average {s.decode_context:,.0f} tokens of it per sequence "
            f"(prompt + (generated + 1) / 2, or the context); KV cache in {kv}; {prefill}, "
            f"each chunk reading the weights once (MoE: every expert its tokens route to); "
            f"the first token comes out of the prefill"
        )
        if m.sliding_window:
            out.append(f"sliding-window layers hold at most {m.sliding_window} tokens of KV cache")
        if s.decode_kv_copy_bytes_per_gpu:
            out.append(
                f"transformers copies {s.decode_kv_copy_bytes_per_gpu / 1e9:,.2f} GB of KV cache "
                "per decode step on this GPU on top of its read (torch.cat of the grown cache, "
                "repeat_kv's widened K and V where the model groups its KV heads), moved at the "
                "same bandwidth"
            )
        loads = perf.kv_loads_per_step(s)
        if loads > 1:
            out.append(
                f"TensorRT-LLM without its XQA kernel (--trtllm-mmha: releases before v0.8): "
                f"the generation attention loads each KV head's cache once per query head, "
                f"{loads} times per decode step"
            )
        if perf.dequant_bytes_per_step(s):
            out.append(
                f"each decode step of {s.micro_batch} sequences dequantises the weights to "
                f"16-bit before a 16-bit GEMM ({job.engine.value}'s {job.quant.value} kernel "
                f"takes {perf.dequant_min_rows(job)} rows or more that way): "
                f"{perf.dequant_bytes_per_step(s) / 1e9:,.1f} GB written and read back per "
                "step on this GPU on top of the packed weights"
            )
        fresh = perf.decode_inputs(s).fresh_alloc_bytes
        if fresh and perf.alloc_s_per_gb():
            out.append(
                f"each decode step's torch.cat asks PyTorch's caching allocator for "
                f"{fresh / 1e9:,.1f} GB of fresh segments on each GPU (every layer's cache "
                "outgrows the blocks it holds; a static cache, --kv-cache static, or an engine "
                "that pages "
                "its cache, such as vLLM, maps none per step): "
                f"{cal.constants().get(hf_cache.ALLOC_KEY).cite()}"
            )
        path = perf.bnb_path(job, s.micro_batch)
        if path is not None:
            per_layer = perf.bnb_host_s(s)
            out.append(
                f"bitsandbytes {job.quant.value} linears ({path} path) add host work to each "
                f"decode step: {perf.bnb_linears_per_layer(m):g} per layer, "
                f"{per_layer * 1e3:.2f} ms per layer on top of transformers' own "
                f"({perf.BNB_HOST_KEY}, fitted on published bitsandbytes decode rates, for a "
                f"{perf.host_class(job)} host; the CPU itself is not an input, so a slower "
                "CPU decodes slower)"
            )
        if perf.host_class_unfitted(job):
            fitted, widest = _borrowed_layer_time(job)
            out.append(
                f"{job.engine.value} has no time per layer of its own for a "
                f"{perf.host_class(job)} host (fewer than three published sources ran it on "
                f"one): the one fitted for {fitted.group} ({fitted.value * 1e3:.3g} ms), set "
                f"mostly by other hosts; the interval is the wider of its group's and the one "
                f"over every engine and host (±{widest:.0%})"
            )
        if perf.engine(job) in perf.VLLM_GENERATIONS:
            fitted = cal.constants().get(perf.DECODE_OVERHEAD_KEY, perf.overhead_group(job))
            which = (
                "its V0 engine (--vllm-v0: releases before v0.8, or VLLM_USE_V1=0), which "
                "schedules and samples on the host between steps"
                if job.vllm_v0
                else "its V1 engine (v0.8 and later, the default; --vllm-v0 for older releases)"
            )
            out.append(
                f"vLLM, {which}: {fitted.value * 1e6:.3g} us per layer per decode step beyond "
                f"the read (fitted on {fitted.group})"
            )
        if perf.llama_cpp_without_graphs(job):
            fitted, widest = _borrowed_layer_time(job)
            out.append(
                f"{job.gpu.name} is below compute capability 8.0, where llama.cpp replays no "
                "CUDA graph (ggml-cuda.cu) and launches each kernel of a token from the host: "
                f"the time per layer used, {fitted.value * 1e6:.3g} us ({fitted.group}), was "
                "fitted on newer cards (points on such cards inform no llama.cpp constant), and "
                "published rates on such cards run below this estimate, most for small models "
                "(SOURCES.md, rounds 15 and 16: Ollama on P40s, llama-server on P100s); "
                "the interval is the wider of its group's and the one over every engine "
                f"(±{widest:.0%})"
            )
        allocation = engine_memory.describe(s)
        if allocation:
            out.append(allocation)
    out.append(
        f"GPU memory {job.gpu.memory_gb:g} GiB = {mem.capacity_gb(job.gpu.memory_gb):.1f} GB; "
        "the fit verdict compares what nvidia-smi would show (tensors, allocator slack, CUDA "
        "context, cuBLAS workspace, NCCL buffers) with it"
    )
    out.append(
        f"energy: GPUs at their {job.gpu.tdp_w:g} W board power, at the wall through a PSU "
        f"of {DEFAULT_PSU_EFFICIENCY:.0%} efficiency; host power not included"
    )
    return out


def sources(s: Shape) -> list[str]:
    """`key = value: source` for every efficiencies.csv row this estimate used."""
    m, job = s.model, s.job
    keys = [
        "cuda_context_gb",
        "cublas_workspace_gb",
    ]
    if job.n_gpus > 1:
        keys.append("nccl_buffers_gb")
    _, _, bits_key = shapes.weight_format(job)
    if bits_key:
        keys.append(bits_key)
    if job.task == Task.INFER and job.kv_dtype != KvDtype.FP16:
        keys.append(shapes.KV_BITS_KEY[job.kv_dtype])
    if job.n_gpus > 1:
        keys += ["allreduce_busbw_fraction_nvlink", "allreduce_busbw_fraction_pcie"]
        if job.gpu.p2p == "no":
            keys.append("pcie_no_p2p_fraction")
    if job.optimizer == Optimizer.ADAM8BIT:
        keys.append("bytes_adam8bit_per_param")
    if not m.is_language_model and job.task != Task.INFER:
        keys += ["imagenet_jpeg_bytes", "jpeg_decode_images_per_core_s"]
    slack = cal.constants().get(mem.slk.KEY, (mem.slack_group(s),))
    cited = [p.cite(k) for k in dict.fromkeys(keys)] + fitted_sources(m, job)
    # a training step's memory-bound work, or the forward passes of a layered CNN or an
    # encoder (perf.cnn_infer, perf.encoder_forward_bytes)
    forward_passes = (m.kind == ModelKind.CNN and bool(m.conv_stages)) or (
        m.is_transformer and not m.generates
    )
    streams = job.task != Task.INFER or forward_passes
    train = [stream_source(s)] if streams else []
    return [*cited, roof_source(s), *train, slack.cite()]


def stream_source(s: Shape) -> str:
    """The DRAM rate a training step's (or a CNN forward pass's) memory-bound work streams
    at, and where its fraction of the datasheet comes from (estimate/stream.py)."""
    gpu = s.job.gpu
    found = stream.stream(gpu)
    return (
        f"streaming bandwidth = {gpu.memory_bandwidth_gbs * found.fraction:.4g} GB/s per GPU, "
        f"{found.fraction:.2f} of the datasheet {gpu.memory_bandwidth_gbs:g}: {found.basis} "
        "(catalog/data/stream_bandwidth.csv)"
    )


def roof_source(s: Shape) -> str:
    """The GEMM rate the step time divides by (the fitted efficiency is a share of it), and
    where its fraction of the datasheet comes from (estimate/roof.py)."""
    m, job = s.model, s.job
    infer = job.task == Task.INFER and m.is_language_model
    precision = perf.inference_gemm_precision(job) if infer else perf.compute_precision(m, job)
    if job.task == Task.INFER and not m.is_language_model and m.kind != ModelKind.CNN:
        precision = job.precision.value
    sheet = cp.peak(job.gpu, precision).tflops
    roof = cp.roof_of(job.gpu, precision)
    return (
        f"compute roof = {sheet * roof.fraction:.4g} TFLOPS per GPU, {roof.fraction:.2f} of the "
        f"datasheet {sheet:g} at {precision}: {roof.basis} (catalog/data/matmul_rates.csv)"
    )


def fitted_sources(m: ModelSpec, job: Job) -> list[str]:
    """The fitted constants (benchmarks/calibrate.py) this estimate read, with their fit."""
    c = cal.constants()
    if job.task == Task.INFER and m.is_language_model:
        used = [
            c.get(perf.DECODE_BW_KEY, perf.decode_group(job)),
            c.get(perf.DECODE_OVERHEAD_KEY, perf.overhead_group(job)),
            c.get("prefill_mfu", perf.prefill_group(job)),
        ]
    else:
        used = [c.get("mfu", perf.train_group(m, job))]
        factor = perf.framework_factor(job, c)
        if factor is not None:
            used.append(factor)
    return [f.cite() for f in used]
