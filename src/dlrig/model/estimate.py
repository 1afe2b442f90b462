"""What `dlrig estimate` returns. Memory in GB (10⁹ bytes); rates for the whole job unless named
`_per_gpu`. The JSON form is `Estimate.model_dump()` under the schema name below."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

ESTIMATE_SCHEMA = "dlrig.estimate/1"


class _Out(BaseModel):
    # Built on first use, so importing the models costs `dlrig check` nothing.
    model_config = ConfigDict(frozen=True, defer_build=True)


class MemoryEstimate(_Out):
    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float
    kv_cache_gb: float
    overhead_gb: float
    per_gpu_gb: float = Field(description="peak on one GPU: the sum of the parts above")
    capacity_gb: float = Field(description="one GPU's memory in 10⁹ bytes")
    headroom_gb: float = Field(
        description="capacity minus per_gpu_gb; negative when it does not fit"
    )
    fits: bool
    trainable_params: int


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
    ttft_s: float | None = Field(default=None, description="time to first token: prefill + 1 step")
    interval_frac: float | None = Field(
        default=None, description="± of the rates: the fitted group's leave-one-source-out p80"
    )
    prefill_interval_frac: float | None = None
    bubble_s: float = Field(default=0.0, description="pipeline-parallel idle time per step")
    offload_s: float = Field(default=0.0, description="PCIe offload and CPU optimizer time")
    comm_parts_s: dict[str, float] = Field(
        default_factory=dict, description="traffic per step by kind, before overlap"
    )


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
    tokens_total: float | None = None
    power_w: float = Field(description="the GPUs at their board power (TDP); host not included")
    energy_kwh: float | None = Field(default=None, description="over time_hours, at the wall")
    energy_kwh_per_hour: float
    cloud_cost: float | None = None
    electricity_cost: float | None = None
    fixes: list[str] = Field(
        default_factory=list, description="when it does not fit: the cheapest changes that do"
    )
    assumptions: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)

    model_config = ConfigDict(frozen=True, populate_by_name=True, defer_build=True)
