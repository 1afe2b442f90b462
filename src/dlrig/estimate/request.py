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
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        flag = _FLAGS.get(field, "--" + field.replace("_", "-"))
        msg = err["msg"].replace("Input should be", "expected").replace("Value error, ", "")
        raise DlrigError(f"{flag}: {msg}, got {err.get('input')!r}") from None
