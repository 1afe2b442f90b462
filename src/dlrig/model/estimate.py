"""What `dlrig estimate` returns. Memory in GB (10⁹ bytes); rates for the whole job unless named
`_per_gpu`. The JSON form is `Estimate.model_dump()` under the schema name below (documented in
docs/estimate-schema.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ESTIMATE_SCHEMA = "dlrig.estimate/2"
Verdict = Literal["fits", "tight", "does not fit"]
FITS: Verdict = "fits"
TIGHT: Verdict = "tight"
DOES_NOT_FIT: Verdict = "does not fit"


class _Out(BaseModel):
    # Built on first use, so importing the models costs `dlrig check` nothing.
    model_config = ConfigDict(frozen=True, defer_build=True)


class Interval(_Out):
    """A prediction's interval: where the measured value lies when the prediction's error
    (predicted − measured) / measured is within ± frac, frac the leave-one-source-out p80
    |error| of its calibration group (the same test the calibration's coverage counts).

    For a predicted value v that is [v/(1+frac), v/(1−frac)], with no upper bound (`high`
    None) when frac ≥ 1: a prediction 149 % too high at most can still be any amount too low
    (`band`). A quantity inversely proportional to a predicted rate (a time: work over the
    rate) lies within its own value × (1 ± frac) (`inverse_band`)."""

    low: float
    high: float | None = Field(description="None: no upper bound (frac ≥ 1)")
    frac: float = Field(ge=0, description="the ± of the prediction's relative error")
    group: str = Field(description="calibration group the error comes from")
    source: str = Field(description="how the fraction was obtained")
    kind: Literal["band", "inverse_band", "span"] = Field(
        default="band",
        description="band: a prediction's ± frac; inverse_band: a time over a rate's band; "
        "span: the lowest to the highest end of several engines' intervals",
    )

    @classmethod
    def band(cls, value: float, frac: float, group: str, source: str) -> Interval:
        """Where the measured value lies when (value − measured) / measured is within ± frac."""
        high = value / (1 - frac) if frac < 1 else None
        return cls(low=value / (1 + frac), high=high, frac=frac, group=group, source=source)

    @classmethod
    def inverse_band(cls, value: float, frac: float, group: str, source: str) -> Interval:
        """A time t = work / rate where the rate's error is within ± frac: the measured time is
        work / measured rate = t · (predicted / measured rate), within t·(1 ± frac)."""
        return cls(
            low=max(0.0, value * (1 - frac)),
            high=value * (1 + frac),
            frac=frac,
            group=group,
            source=source,
            kind="inverse_band",
        )

    def scaled(self, k: float) -> Interval:
        """The interval of k × the prediction (energy and cost proportional to a time)."""
        high = None if self.high is None else self.high * k
        return self.model_copy(update={"low": self.low * k, "high": high})

    def contains(self, measured: float) -> bool:
        return self.low <= measured and (self.high is None or measured <= self.high)


class MemoryEstimate(_Out):
    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float = Field(description="without the logits")
    logits_gb: float = Field(default=0.0, description="the loss's logits / last position's")
    kv_cache_gb: float = Field(
        description="KV cache allocated (a pool engine's whole pool, a preallocating engine's "
        "full context)"
    )
    engine_buffers_gb: float = Field(
        default=0.0, description="the engine's own work buffers (llama.cpp's compute buffer)"
    )
    dequant_gb: float = Field(
        default=0.0, description="a quantised LoRA base's largest matrix, dequantised (step)"
    )
    allocator_slack_gb: float = Field(default=0.0, description="reserved minus allocated")
    cuda_context_gb: float = 0.0
    cublas_workspace_gb: float = 0.0
    nccl_buffers_gb: float = Field(default=0.0, description="multi-GPU jobs only")
    overhead_gb: float = Field(
        description="everything but tensors: slack, context, workspace, NCCL"
    )
    allocated_gb: float = Field(default=0.0, description="tensors: torch max_memory_allocated")
    reserved_gb: float = Field(default=0.0, description="torch max_memory_reserved")
    nvidia_smi_gb: float = Field(default=0.0, description="what nvidia-smi shows for the process")
    load_peak_gb: float | None = Field(
        default=None,
        description="nvidia-smi figure while a quantised LoRA base is loaded and quantised "
        "(None: the job loads its weights as stored)",
    )
    load_peak_allocated_gb: float | None = Field(default=None, description="its tensors")
    load_peak_reserved_gb: float | None = Field(default=None, description="with the slack")
    load_path: str | None = Field(default=None, description="the loading path assumed")
    peak_at: Literal["step", "load"] = Field(
        default="step", description="which peak per_gpu_gb is: the training step's or the load's"
    )
    per_gpu_gb: float = Field(
        description="the figure fit decisions use: nvidia_smi_gb; under a pool engine (vLLM, "
        "SGLang, TensorRT-LLM) the requested sequences' KV instead of the pool, plus the "
        "share the engine leaves unused; with a load-time peak (load_peak_gb) the larger of "
        "the two"
    )
    per_gpu_interval: Interval | None = None
    capacity_gb: float = Field(description="one GPU's memory in 10⁹ bytes")
    headroom_gb: float = Field(
        description="capacity minus per_gpu_gb; negative when it does not fit"
    )
    verdict: Verdict = Field(
        default=FITS,
        description="fits (even at the interval's top), tight (capacity within the interval), "
        "does not fit (even at the interval's bottom)",
    )
    fits: bool = Field(description="verdict is not 'does not fit'")
    trainable_params: int
    engine: str | None = Field(
        default=None, description="inference engine whose allocation the figures follow"
    )
    context_tokens: int | None = Field(
        default=None, description="tokens per sequence the engine allocates for (inference)"
    )
    kv_capacity_tokens: int | None = Field(
        default=None, description="tokens a pool engine's KV cache holds (all sequences)"
    )
    max_concurrent_sequences: int | None = Field(
        default=None, description="sequences of context_tokens the pool holds at once"
    )


class ThroughputEstimate(_Out):
    tokens_per_s: float | None = None
    samples_per_s: float | None = None
    tokens_per_s_per_gpu: float | None = None
    samples_per_s_per_gpu: float | None = None
    utilization: float = Field(
        description="MFU (training, prefill) or bandwidth efficiency (decode)"
    )
    utilization_source: str
    peak_tflops: float = Field(description="one GPU's dense rate at the compute precision")
    flops_per_token: float | None = None
    flops_per_sample: float | None = None
    step_time_s: float = Field(description="one micro-batch step on every GPU")
    compute_time_s: float
    allreduce_time_s: float = Field(default=0.0, description="GPU-to-GPU traffic, before overlap")
    exposed_comm_s: float = Field(default=0.0, description="the traffic not hidden by compute")
    link: str = Field(default="none", description="what the traffic runs over")
    link_gbs: float | None = None
    bound: str = Field(description="compute, memory-bandwidth, communication or input")
    prefill_tokens_per_s: float | None = None
    prefill_interval: Interval | None = Field(
        default=None, description="of prefill_tokens_per_s (the prefill group's LOSO p80)"
    )
    ttft_s: float | None = Field(default=None, description="time to first token (inference)")
    ttft_interval: Interval | None = Field(
        default=None, description="from prefill_interval: the first token is the prefill's"
    )
    step_parts_s: dict[str, float] = Field(
        default_factory=dict,
        description="what step_time_s is made of, in seconds; the parts add up to it",
    )
    interval: Interval | None = Field(default=None, description="of the headline rate")
    engine: str | None = Field(
        default=None,
        description="inference: the engine whose rates price the estimate (None: training, or "
        "the unnamed engine's pooled rates)",
    )
    engine_rates_tok_s: dict[str, float] | None = Field(
        default=None,
        description="--tp without --engine: each tensor-parallel engine's tokens/s; the "
        "headline is the median engine's and the interval spans theirs",
    )


class Suggestion(_Out):
    """One change (or set of changes) that makes a job fit, with what it costs."""

    flag: str = Field(description="as `dlrig estimate` flags")
    toml: str = Field(description="as [workload] lines of a build file")
    change: dict[str, str | int | float | bool]
    per_gpu_gb: float
    verdict: Verdict
    step_time_ratio: float | None = Field(
        default=None, description="step time (per sample) after / before; None: not estimated"
    )
    cost: str = Field(description="what it costs, in words")


class DataRateEstimate(_Out):
    disk_mbs: float = Field(description="reads the input pipeline must sustain")
    pcie_gbs: float = Field(description="host-to-device copies per GPU")
    cpu_cores: float | None = Field(default=None, description="cores decoding at the assumed rate")
    bytes_per_sample: float
    note: str


class Estimate(_Out):
    schema_: str = Field(default=ESTIMATE_SCHEMA, alias="schema", serialization_alias="schema")
    model: str
    task: str
    gpu: str
    n_gpus: int
    precision: str
    quant: str
    batch_size: int
    seq_len: int | None
    memory: MemoryEstimate
    throughput: ThroughputEstimate
    data_rate: DataRateEstimate
    time_hours: float | None = None
    time_hours_interval: Interval | None = Field(
        default=None, description="from the rate's interval: time = work / rate"
    )
    tokens_total: float | None = None
    power_w: float = Field(description="the GPUs at their board power (TDP); host not included")
    energy_kwh: float | None = Field(default=None, description="over time_hours, at the wall")
    energy_kwh_interval: Interval | None = Field(
        default=None, description="time_hours_interval scaled: energy = power x time"
    )
    energy_kwh_per_hour: float
    cloud_cost: float | None = None
    cloud_cost_interval: Interval | None = Field(
        default=None, description="time_hours_interval scaled: cost = price x GPUs x time"
    )
    electricity_cost: float | None = None
    electricity_cost_interval: Interval | None = Field(
        default=None, description="energy_kwh_interval scaled: cost = price x energy"
    )
    plan: dict[str, int] = Field(
        default_factory=dict, description="dp, tp, pp, vp, cp, ep, etp, expert_dp, nodes"
    )
    grad_accum: int = 1
    global_batch: int | None = Field(default=None, description="sequences per optimizer step")
    weight_format: str = ""
    fixes: list[Suggestion] = Field(
        default_factory=list, description="unless it fits: the cheapest changes that do"
    )
    assumptions: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)

    model_config = ConfigDict(frozen=True, populate_by_name=True, defer_build=True)
