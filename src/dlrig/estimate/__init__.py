"""What a workload needs: `estimate(model, job)` → memory, throughput, data rate, time, energy.

Pure functions; every default the estimator picks and every assumption it makes is listed in
the result (`assumptions`), every sourced number in `sources`.
"""

from __future__ import annotations

from dlrig.estimate import applicable, data_rate, engine_spread, explain, fit, perf
from dlrig.estimate import compute as cp
from dlrig.estimate import job as jobs
from dlrig.estimate.shape import Shape
from dlrig.model.estimate import DOES_NOT_FIT, FITS, Estimate
from dlrig.model.thresholds import DEFAULT_PSU_EFFICIENCY
from dlrig.model.workload import (
    Interconnect,
    Job,
    ModelKind,
    ModelSpec,
    Offload,
    Optimizer,
    Precision,
    Task,
)

__all__ = ["estimate", "validate"]

HOUR_S = 3600.0
W_PER_KW = 1000.0


def validate(m: ModelSpec, job: Job, s: Shape | None = None) -> list[str]:
    """Raise on inapplicable options and impossible plans; return warnings for pointless ones."""
    applicable.check(m, job)
    s = s or jobs.shape(m, job)  # raises PlanError for a plan the job cannot run
    warnings: list[str] = []
    if job.zero and job.task == Task.INFER:
        warnings.append("--zero has no effect on inference (weights are split across the GPUs)")
    elif job.zero and s.plan.shard_group == 1:
        warnings.append(f"--zero {job.zero} with one data-parallel GPU shards nothing")
    if job.task == Task.INFER and job.checkpointing:
        warnings.append("--checkpointing has no effect on inference")
    if m.kind == ModelKind.CNN and job.checkpointing:
        warnings.append(
            "checkpointing is not modelled for CNN presets: activations counted in full"
        )
    if job.task == Task.INFER and job.seq_len and not job.context:
        warnings.append("--seq-len is for training; inference uses --context (tokens held)")
    if job.task != Task.INFER and job.context and not job.seq_len:
        warnings.append("--context is for inference; training uses --seq-len")
    if m.max_seq_len and m.is_language_model and s.seq > m.max_seq_len:
        warnings.append(f"{s.seq} tokens exceeds {m.name}'s maximum of {m.max_seq_len}")
    if job.optimizer != Optimizer.ADAMW and job.task == Task.INFER:
        warnings.append("--optimizer has no effect on inference")
    if s.plan.implicit_layer_split:
        warnings.append(
            f"{job.n_gpus} GPUs without --tp: layers split across them (llama.cpp / device_map "
            "default); decode runs the stages one after another"
        )
    warnings += _ignored(m, job)
    if job.task in (Task.LORA, Task.QLORA) and m.hidden_size and job.lora_rank > m.hidden_size:
        warnings.append(
            f"--lora-rank {job.lora_rank} is above {m.name}'s hidden size {m.hidden_size}: "
            "the adapters outgrow the matrices they adapt"
        )
    return warnings


def _ignored(m: ModelSpec, job: Job) -> list[str]:
    """Options the job cannot use: said out loud rather than dropped silently."""
    out: list[str] = []
    if (job.epochs is None) != (job.dataset_size is None):
        out.append("--epochs and --dataset-size go together: no time or energy without both")
    if job.tokens is not None and job.epochs is not None:
        out.append("--tokens and --epochs both given: the time is for --tokens")
    if job.tokens is not None and not m.is_language_model:
        out.append(f"--tokens is for language models; {m.name} counts --epochs of images")
    if job.seq_len is not None and not m.is_language_model:
        out.append(f"--seq-len has no effect on {m.name} (its input is a fixed-size image)")
    if job.interconnect != Interconnect.AUTO and job.n_gpus == 1:
        out.append(f"--interconnect {job.interconnect.value} has no effect with one GPU")
    if job.offload != Offload.NONE and job.task == Task.INFER:
        out.append("--offload is for training states; inference weights stay on the GPU")
    return out


def estimate(m: ModelSpec, job: Job) -> Estimate:
    applicable.check(m, job)
    s = jobs.shape(m, job)
    warnings = validate(m, job, s)
    pk = cp.peak(job.gpu, job.precision.value)
    if pk.warning:
        warnings.append(pk.warning)
    if job.precision == Precision.FP32 and job.task == Task.QLORA:
        warnings.append("QLoRA computes in 16-bit; fp32 here only changes adapter precision")
    memory = jobs.memory_of(s)
    fixes = []
    if memory.verdict != FITS:
        iv = memory.per_gpu_interval
        spread = f" ± {iv.frac:.0%}" if iv else ""
        if iv is not None and iv.high is not None:  # where the measured need may reach
            spread += f" (up to {iv.high:.1f} GB)"
        what = "does not fit" if not memory.fits else "tight: within the estimator's error"
        semantics = "(as nvidia-smi shows it)"
        if memory.kv_capacity_tokens is not None:
            # A pool engine (vLLM, SGLang, TensorRT-LLM): its share, less the KV pool, plus
            # the requested sequences' KV cache.
            semantics = (
                f"({memory.engine}: its pool holds {memory.kv_capacity_tokens:,} tokens, "
                f"{memory.max_concurrent_sequences} sequence(s) of {memory.context_tokens:,})"
            )
        warnings.append(
            f"{what}: needs {memory.per_gpu_gb:.1f} GB{spread} per GPU {semantics} "
            f"of the {memory.capacity_gb:.1f} GB a {job.gpu.name} has"
        )
        fixes = fit.suggestions(m, job)
        if not fixes and memory.verdict == DOES_NOT_FIT:
            warnings.append(
                f"no change of settings fits on up to {fit.MAX_GPUS_SUGGESTED} of these GPUs: "
                f"the model states alone are {fit.model_states_gb(m, job):,.0f} GB before "
                "sharding; use GPUs with more memory, several nodes with ZeRO-3/FSDP, or a "
                "smaller model"
            )
    thr = jobs.throughput_of(s)
    # --tp with no engine: the figures are the median engine's, and so are the constants cited
    priced = s
    if thr.engine_rates_tok_s and thr.engine:
        priced = engine_spread.shape_under(m, job, thr.engine)
    rate = data_rate.rate(m, job, thr.tokens_per_s, thr.samples_per_s)
    tokens_total = _work_tokens(m, job, s)
    time_hours = _time_hours(job, thr.tokens_per_s, thr.samples_per_s, tokens_total)
    power_w = job.n_gpus * job.gpu.tdp_w
    per_hour_kwh = power_w / DEFAULT_PSU_EFFICIENCY / W_PER_KW
    energy = per_hour_kwh * time_hours if time_hours is not None else None
    cloud = (
        job.price_per_gpu_hour * job.n_gpus * time_hours
        if job.price_per_gpu_hour is not None and time_hours is not None
        else None
    )
    power_cost = (
        job.electricity_per_kwh * energy
        if job.electricity_per_kwh is not None and energy is not None
        else None
    )
    plan = s.plan
    # the interval is of the headline rate (tokens/s, else samples/s): its ends are in its units
    time_iv = perf.inverse_interval(time_hours, thr.interval, thr.tokens_per_s or thr.samples_per_s)
    return Estimate(
        model=m.name,
        task=job.task.value,
        gpu=job.gpu.name,
        n_gpus=job.n_gpus,
        precision=job.precision.value,
        quant=_quant_label(job),
        batch_size=s.micro_batch,
        seq_len=s.seq if m.is_transformer else None,
        plan={
            "dp": plan.dp,
            "tp": plan.tp,
            "pp": plan.pp,
            "vp": plan.vp,
            "cp": plan.cp,
            "ep": plan.ep,
            "etp": plan.etp,
            "expert_dp": plan.expert_dp,
            "nodes": plan.nodes,
        },
        grad_accum=s.grad_accum,
        global_batch=s.global_batch if s.training else None,
        weight_format=s.weight_format,
        memory=memory,
        throughput=thr,
        data_rate=rate,
        time_hours=time_hours,
        time_hours_interval=time_iv,
        tokens_total=tokens_total,
        power_w=power_w,
        energy_kwh=energy,
        energy_kwh_interval=perf.scaled_interval(energy, time_hours, time_iv),
        energy_kwh_per_hour=per_hour_kwh,
        cloud_cost=cloud,
        cloud_cost_interval=perf.scaled_interval(cloud, time_hours, time_iv),
        electricity_cost=power_cost,
        electricity_cost_interval=perf.scaled_interval(power_cost, time_hours, time_iv),
        fixes=fixes,
        assumptions=explain.assumptions(s, thr.engine_rates_tok_s),
        warnings=warnings,
        sources=explain.sources(priced),
    )


def _quant_label(job: Job) -> str:
    if job.task in (Task.LORA, Task.QLORA):
        return job.effective_base_quant.value
    return job.quant.value


def _work_tokens(m: ModelSpec, job: Job, s: Shape) -> float | None:
    if job.tokens is not None:
        return job.tokens
    if job.epochs is not None and job.dataset_size is not None and m.is_language_model:
        return job.epochs * job.dataset_size * s.seq
    return None


def _time_hours(
    job: Job,
    tokens_per_s: float | None,
    samples_per_s: float | None,
    tokens_total: float | None,
) -> float | None:
    if tokens_total is not None and tokens_per_s:
        return tokens_total / tokens_per_s / HOUR_S
    if job.epochs is not None and job.dataset_size is not None and samples_per_s:
        return job.epochs * job.dataset_size / samples_per_s / HOUR_S
    return None
