"""A published measurement (a row of calibration_points.csv, or the older measurements.csv)
as the estimator's (ModelSpec, Job), and the memory model's error on it.

Columns follow wt/CALIBRATION_SCHEMA.md; a blank cell is the estimator's default. A row the
estimator cannot express returns None from `memory_error` (callers report it, never drop it
silently: `why_not(row)` says why).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dlrig.catalog.lookup import find_gpu, find_model
from dlrig.errors import DlrigError
from dlrig.model.workload import Job, ModelSpec

GB = 1e9
GIB = 2**30
UNIT_BYTES = {"GB": GB, "GiB": GIB}
# Measured semantics → the predicted figure it is compared with (memory.MemoryParts).
SEMANTICS = {
    "allocator_allocated": "allocated",
    "allocator_reserved": "reserved",
    "nvidia_smi": "nvidia_smi",
    "unspecified_memory": "reserved",
    "": "reserved",
}
PRECISION = {"fp32": "fp32", "tf32": "tf32", "bf16": "bf16", "fp16": "fp16", "fp8": "fp8"}
INT_FIELDS = (
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
    "nodes",
    "lora_rank",
    "zero",
)
ENUM_FIELDS = (
    "optimizer",
    "optimizer_dtype",
    "offload",
    "loss",
    "attention",
    "kv_dtype",
    "base_quant",
    "lora_targets",
)
BOOL_FIELDS = ("master_weights", "optimizer_in_backward")


def model_of(row: dict[str, str]) -> ModelSpec:
    name = row["model"]
    if name.startswith("hf:"):
        from importlib import resources

        from dlrig.model.architecture import read_hf_config

        path = resources.files("dlrig.catalog").joinpath("data", "hf_configs", name[3:])
        return read_hf_config(str(path))
    return find_model(name)


def job_of(row: dict[str, str]) -> Job:
    task = row["task"]
    task = {"vision": "train", "encoder": "train"}.get(task, task)
    fields: dict[str, Any] = {
        "task": task,
        "gpu": find_gpu(row["gpu"]),
        "n_gpus": int(row.get("n_gpus") or 1),
        "precision": PRECISION.get(row.get("precision") or "bf16", "bf16"),
    }
    quant = row.get("quant") or "none"
    if task == "infer":
        fields["quant"] = quant
    if row.get("weight_bits"):
        fields["weight_bits"] = float(row["weight_bits"])
    for f in INT_FIELDS:
        if row.get(f):
            fields[f] = int(row[f])
    for f in ENUM_FIELDS:
        if row.get(f):
            fields[f] = row[f]
    for f in BOOL_FIELDS:
        if row.get(f):
            fields[f] = row[f] == "true"
    if row.get("checkpointing"):
        fields["checkpointing"] = row["checkpointing"] == "true"
    engine = row.get("engine") or ""
    if task == "infer" and engine:
        fields["engine"] = engine
    return Job(**fields)


def why_not(row: dict[str, str]) -> str | None:
    """None when the row is expressible, else the reason."""
    from dlrig.estimate import shape as shapes

    if row.get("checkpointing") == "selective" or "selective activation checkpointing" in (
        row.get("notes") or ""
    ):
        return "selective activation checkpointing is not modelled (full or none only)"
    try:
        shapes.derive(model_of(row), job_of(row))
    except (DlrigError, ValidationError, ValueError, KeyError) as exc:
        return str(exc).splitlines()[0]
    if row.get("unit") and row["unit"] not in UNIT_BYTES and row.get("category") == "memory":
        return f"unit {row['unit']} is not a memory unit"
    return None


def predicted_memory_bytes(row: dict[str, str]) -> float:
    from dlrig.estimate import memory as mem
    from dlrig.estimate import shape as shapes

    parts = mem.parts(shapes.derive(model_of(row), job_of(row)))
    figure = SEMANTICS.get(row.get("semantics") or "", "reserved")
    return float(getattr(parts, figure))


def memory_error(row: dict[str, str]) -> float | None:
    """(predicted − measured) / measured in the row's semantics, or None if not expressible."""
    if why_not(row) is not None:
        return None
    measured = float(row["value"]) * UNIT_BYTES[row.get("unit") or "GB"]
    return (predicted_memory_bytes(row) - measured) / measured
