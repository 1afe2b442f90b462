"""Turn the command line's values into a `ModelSpec` and a `Job`, or one clear `DlrigError`."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dlrig.catalog.lookup import find_gpu, find_model
from dlrig.errors import DlrigError
from dlrig.model.architecture import MAX_PARAMS, read_hf_config, spec_from_params
from dlrig.model.workload import Job, ModelSpec

# Smallest bare parameter count we model (a toy MLP); the largest, MAX_PARAMS (ten trillion),
# is shared with config.json reading.
MIN_PARAMS = 1e3


def resolve_model(model: str | None, config: str | None, params: float | None) -> ModelSpec:
    given = [
        flag
        for flag, v in (("--model", model), ("--config", config), ("--params", params))
        if v is not None
    ]
    if len(given) != 1:
        what = "none" if not given else " and ".join(given)
        raise DlrigError(
            f"give exactly one of --model NAME, --config FILE or --params N (got {what}); "
            "see 'dlrig parts models'"
        )
    if model is not None:
        return find_model(model)
    if config is not None:
        return read_hf_config(config)
    assert params is not None
    if not MIN_PARAMS <= params <= MAX_PARAMS:
        raise DlrigError(f"--params: expected a count between 1e3 and 1e13, got {params:g}")
    return spec_from_params(params)


_FLAGS = {"n_gpus": "--gpus", "electricity_per_kwh": "--electricity-price"}


def make_job(gpu: str, **options: Any) -> Job:
    """`options` are Job fields; a bad value names its command-line flag."""
    spec = find_gpu(gpu)
    values = {k: v for k, v in options.items() if v is not None}
    try:
        return Job(gpu=spec, **values)
    except ValidationError as exc:
        from dlrig.model.messages import flag_error

        raise flag_error(exc, _FLAGS) from None


# The estimator's options by their command-line names ("--seq-len" is `seq_len`): `dlrig
# estimate` and `dlrig serve`'s /api/estimate take the same names and give the same errors.
# Each maps to the Job field it sets; "model", "params" and "config" name the model instead.
OPTION_FIELDS: dict[str, str] = {
    "gpus": "n_gpus",
    "electricity_price": "electricity_per_kwh",
    **{
        name: name
        for name in [
            "task",
            "precision",
            "quant",
            "weight_bits",
            "base_quant",
            "kv_dtype",
            "kv_cache",
            "optimizer",
            "optimizer_dtype",
            "zero",
            "checkpointing",
            "checkpointing_mode",
            "lora_rank",
            "lora_targets",
            "batch_size",
            "grad_accum",
            "seq_len",
            "context",
            "prompt_tokens",
            "gen_tokens",
            "tp",
            "pp",
            "vp",
            "cp",
            "ep",
            "etp",
            "nodes",
            "network",
            "nics_per_node",
            "attention",
            "memory_format",
            "tokens",
            "epochs",
            "dataset_size",
            "mfu",
            "interconnect",
            "engine",
            "gpu_memory_utilization",
            "max_batched_tokens",
            "max_num_seqs",
            "llama_cpp_cublas",
            "trtllm_mmha",
            "vllm_v0",
            "master_weights",
            "offload",
            "host_link_gbs",
            "optimizer_in_backward",
            "grad_buffers",
            "loss",
            "mlm_positions",
            "framework",
            "price_per_gpu_hour",
            "sample_bytes",
        ]
    },
}
MODEL_OPTIONS = ("model", "config", "params")
# Switches whose `false` is the default: given as false they are not "given" (applicable.py).
_OFF_IS_DEFAULT = {
    "checkpointing",
    "optimizer_in_backward",
    "llama_cpp_cublas",
    "trtllm_mmha",
    "vllm_v0",
}


def job_from_options(
    options: dict[str, Any], *, allow_config: bool = True
) -> tuple[ModelSpec, Job]:
    """The model and the Job for `options` (command-line names, see OPTION_FIELDS, plus "gpu"
    and one of MODEL_OPTIONS), checked for options that do not apply (applicable.py). An
    unknown name is an error with the closest valid names; `allow_config=False` refuses
    "config" (a path on this machine), for callers that are not the machine's user."""
    from dlrig.errors import did_you_mean
    from dlrig.estimate import applicable

    known = {"gpu", *OPTION_FIELDS, *(MODEL_OPTIONS if allow_config else MODEL_OPTIONS[::2])}
    for name in options:
        if name not in known:
            flag = "--" + str(name).replace("_", "-")
            raise DlrigError(f"{flag}: unknown option{did_you_mean(str(name), sorted(known))}")
    gpu = options.get("gpu")
    if not isinstance(gpu, str) or not gpu.strip():
        raise DlrigError("--gpu: expected a GPU model, e.g. 'RTX 4090' (see 'dlrig parts gpus')")
    spec = resolve_model(options.get("model"), options.get("config"), options.get("params"))
    values: dict[str, Any] = {}
    for name, field in OPTION_FIELDS.items():
        value = getattr(options.get(name), "value", options.get(name))
        if value is None or (name in _OFF_IS_DEFAULT and value is False):
            continue
        if name == "master_weights" and value is True:  # the default; false is --pure-16bit
            continue
        values[field] = value
    job = make_job(gpu, **values)
    applicable.check(spec, job, given=job.model_fields_set)  # exactly the options given
    return spec, job
