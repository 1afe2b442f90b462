"""The sourced calibration table and the vendored Hugging Face configs obey their contract.

The contract is /work/wt/CALIBRATION_SCHEMA.md (est-data owns the table, est-mem and est-perf read it):
every row must parse, name its semantics consistently with what it measures, cite a URL and a
source group for leave-one-source-out, and point at a model and a GPU the catalog knows.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from dlrig.catalog import lookup

DATA = Path(__file__).resolve().parents[2] / "src" / "dlrig" / "catalog" / "data"
TABLE = DATA / "calibration_points.csv"
HF_CONFIGS = DATA / "hf_configs"

COLUMNS = [
    "id",
    "category",
    "task",
    "model",
    "params_b",
    "gpu",
    "n_gpus",
    "nodes",
    "precision",
    "quant",
    "weight_bits",
    "base_quant",
    "optimizer",
    "optimizer_dtype",
    "master_weights",
    "zero",
    "offload",
    "optimizer_in_backward",
    "checkpointing",
    "lora_rank",
    "lora_targets",
    "batch_size",
    "grad_accum",
    "global_batch",
    "seq_len",
    "prompt_tokens",
    "gen_tokens",
    "context",
    "tp",
    "pp",
    "vp",
    "cp",
    "ep",
    "etp",
    "attention",
    "memory_format",
    "loss",
    "kv_dtype",
    "engine",
    "interconnect",
    "network",
    "nics_per_node",
    "value",
    "unit",
    "semantics",
    "source",
    "source_id",
    "date",
    "confidence",
    "notes",
]

CATEGORIES = {"memory", "throughput", "decode", "prefill"}
TASKS = {"train", "lora", "qlora", "infer", "vision", "encoder"}
PRECISIONS = {"fp32", "tf32", "fp16", "bf16", "fp8"}
QUANTS = {
    "none",
    "int8",
    "int4",
    "nf4",
    "fp8",
    "gptq",
    "awq",
    "q4_0",
    "q4_k_m",
    "q5_k_m",
    "q6_k",
    "q8_0",
    "exl2",
    "mxfp4",
}
BASE_QUANTS = {"none", "int8", "nf4", "gptq", "awq"}
OPTIMIZER_DTYPES = {"fp32", "bf16"}
OFFLOADS = {"none", "optimizer", "full"}
CHECKPOINTING = {"true", "false", "selective", "offload"}
LORA_TARGETS = {"all", "attention", "qv", "qkv"}
ATTENTION = {"eager", "sdpa", "flash", "flash2"}
MEMORY_FORMATS = {"channels_last", "nchw"}
LOSSES = {"standard", "chunked", "fused"}
KV_DTYPES = {"fp16", "fp8", "q8_0", "q4_0"}
INTERCONNECTS = {"nvlink", "pcie", "pcie-nop2p", "auto"}
UNITS = {"GB", "GiB", "tokens_per_s", "samples_per_s", "images_per_s", "ms_per_token", "ms"}
# "_step": the counters were reset after the model was loaded (estimate/points.STEP_SUFFIX).
_MEMORY_BASE = {"allocator_allocated", "allocator_active", "allocator_reserved", "nvidia_smi"}
MEMORY_SEMANTICS = {
    "unspecified_memory",
    # an engine's own log: the sum of its GPU buffers (llama.cpp), or the KV cache a pool
    # engine sized from its memory share (vLLM's "# GPU blocks" / "GPU KV cache size")
    "engine_log",
    "engine_kv_cache",
    # torch.cuda.memory_allocated() read between steps: what outlives a step, not a peak
    "allocator_current",
    *_MEMORY_BASE,
    *{f"{s}_step" for s in _MEMORY_BASE},
}
# end_to_end: a whole evaluation loop's wall-clock (estimate/points.END_TO_END): kept, never fitted
RATE_SEMANTICS = {"per_gpu", "per_job", "end_to_end"}
# app_displayed: a rate an application shows (estimate/points.APP_DISPLAYED): kept, never fitted
DECODE_SEMANTICS = {"decode_only", "with_prefill", "ttft", "per_gpu", "per_job", "app_displayed"}
# What each category may claim to have measured, and in which units.
SEMANTICS_BY_CATEGORY = {
    "memory": MEMORY_SEMANTICS,
    "throughput": RATE_SEMANTICS,
    "decode": DECODE_SEMANTICS,
    "prefill": {"per_job", "per_gpu", "ttft"},
}
UNITS_BY_CATEGORY = {
    "memory": {"GB", "GiB"},
    "throughput": {"tokens_per_s", "samples_per_s", "images_per_s"},
    "decode": {"tokens_per_s", "ms_per_token", "ms"},
    "prefill": {"tokens_per_s", "ms"},
}
POSITIVE_INTS = (
    "n_gpus",
    "nodes",
    "lora_rank",
    "batch_size",
    "grad_accum",
    "global_batch",
    "seq_len",
    "context",
    "tp",
    "pp",
    "vp",
    "cp",
    "ep",
    "etp",
)
# A prefill point generates nothing, a llama-bench tg point starts from an empty prompt.
NON_NEGATIVE_INTS = ("prompt_tokens", "gen_tokens")


@cache
def rows() -> tuple[dict[str, str], ...]:
    with TABLE.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == COLUMNS, f"header differs from the schema: {reader.fieldnames}"
        return tuple(reader)


def row_ids() -> list[str]:
    return [r["id"] for r in rows()]


def test_table_has_the_promised_size_and_unique_ids() -> None:
    ids = row_ids()
    assert len(ids) >= 100
    duplicated = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicated
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9._-]*", i) for i in ids)


@pytest.mark.parametrize("row", rows(), ids=row_ids())
def test_row_obeys_the_schema(row: dict[str, str]) -> None:
    def check(column: str, allowed: set[str], *, blank_ok: bool = True) -> None:
        value = row[column]
        if value == "" and blank_ok:
            return
        assert value in allowed, f"{column}={value!r} not in {sorted(allowed)}"

    check("category", CATEGORIES, blank_ok=False)
    check("task", TASKS, blank_ok=False)
    check("precision", PRECISIONS, blank_ok=False)
    check("quant", QUANTS)
    check("base_quant", BASE_QUANTS)
    check("optimizer_dtype", OPTIMIZER_DTYPES)
    check("master_weights", {"true", "false"})
    check("offload", OFFLOADS)
    check("optimizer_in_backward", {"true", "false"})
    check("checkpointing", CHECKPOINTING)
    check("lora_targets", LORA_TARGETS)
    check("attention", ATTENTION)
    check("memory_format", MEMORY_FORMATS)
    check("loss", LOSSES)
    check("kv_dtype", KV_DTYPES)
    check("interconnect", INTERCONNECTS)
    check("unit", UNITS, blank_ok=False)
    # [X]: seen, but contradicted by the source's own table (estimate/points.py: not expressible)
    check("confidence", {"[V]", "[R]", "[X]"}, blank_ok=False)
    check("zero", {"0", "1", "2", "3"})

    for column in POSITIVE_INTS:
        if row[column]:
            assert row[column].isdigit() and int(row[column]) > 0, f"{column}={row[column]!r}"
    for column in NON_NEGATIVE_INTS:
        if row[column]:
            assert row[column].isdigit(), f"{column}={row[column]!r}"
    for column in ("value", "params_b", "weight_bits"):
        if row[column] or column == "value":
            assert float(row[column]) > 0, f"{column}={row[column]!r}"

    category = row["category"]
    assert row["semantics"] in SEMANTICS_BY_CATEGORY[category], (
        f"semantics {row['semantics']!r} for {category}"
    )
    assert row["unit"] in UNITS_BY_CATEGORY[category], f"unit {row['unit']!r} for {category}"
    if category == "throughput" and row["task"] == "infer":
        # forward passes of a model that generates nothing (a CNN, an encoder, a ViT)
        forward = ("images_per_s", "samples_per_s")
        assert row["unit"] in forward, "a generation's rates belong to decode or prefill"
    if category in {"decode", "prefill"}:
        assert row["task"] == "infer"
    if row["task"] in {"lora", "qlora"}:
        assert row["quant"] in {"", "none"}, "a LoRA base format goes in base_quant"
    if row["task"] == "qlora":
        assert row["base_quant"] not in {"", "none"}
    if row["quant"] == "exl2":
        assert row["weight_bits"], "EXL2 needs its bits per weight"
    if row["tp"] or row["pp"] or row["cp"] or row["ep"]:
        product = 1
        for column in ("tp", "pp", "cp"):
            product *= int(row[column] or 1)
        assert int(row["n_gpus"]) % product == 0, "n_gpus must be a multiple of tp*pp*cp"
    if row["nodes"] and int(row["nodes"]) > 1:
        assert int(row["n_gpus"]) >= int(row["nodes"])

    assert re.fullmatch(r"https?://\S+", row["source"]), row["source"]
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]*", row["source_id"]), row["source_id"]
    assert re.fullmatch(r"(19|20)\d\d-(0[1-9]|1[0-2])", row["date"]), row["date"]
    assert len(row["notes"]) >= 40, "every point says how it was read"


@pytest.mark.parametrize("row", rows(), ids=row_ids())
def test_row_names_a_known_model_and_gpu(row: dict[str, str]) -> None:
    model = row["model"]
    if model.startswith("hf:"):
        path = HF_CONFIGS / model.removeprefix("hf:")
        assert path.is_file(), f"{model} is not a file under hf_configs/"
    else:
        lookup.find_model(model)
    if row["gpu"]:
        lookup.find_gpu(row["gpu"])
    else:
        # Only a memory figure may come from a source that does not name its GPU (memory does not
        # depend on the card); the notes must say so.
        assert row["category"] == "memory" and "GPU not stated" in row["notes"]


def test_every_category_and_the_relations_the_issue_tests_are_covered() -> None:
    table = rows()
    categories = Counter(r["category"] for r in table)
    assert {"memory", "throughput", "decode"} <= set(categories)
    assert len({r["source_id"] for r in table}) >= 8


@cache
def network_ids() -> frozenset[str]:
    path = DATA / "networks.csv"
    if not path.is_file():
        return frozenset()
    with path.open(newline="", encoding="utf-8") as fh:
        return frozenset(r["id"] for r in csv.DictReader(fh))


def test_network_names_a_fabric_of_the_network_table() -> None:
    # Most sources do not name their inter-node fabric; the column stays blank then (no guess).
    for row in rows():
        if row["network"]:
            assert row["network"] in network_ids(), row["id"]
            assert row["nodes"] and int(row["nodes"]) > 1, (
                f"{row['id']}: a network only matters between nodes"
            )


def test_ports_per_node_only_with_a_network_between_nodes() -> None:
    for row in rows():
        if row["nics_per_node"]:
            assert row["network"], f"{row['id']}: nics_per_node counts a network's ports"
            assert 1 <= int(row["nics_per_node"]) <= 64, row["id"]


def hf_config_files() -> list[Path]:
    return sorted(HF_CONFIGS.glob("*.json"))


@pytest.mark.parametrize("path", hf_config_files(), ids=lambda p: p.name)
def test_hf_config_is_strict_json_with_a_model_type(path: Path) -> None:
    def no_constants(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    config = json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constants)
    assert isinstance(config, dict)
    assert isinstance(config.get("model_type"), str) and config["model_type"]


def test_every_hf_config_has_its_source_listed() -> None:
    listing = (HF_CONFIGS / "SOURCES.md").read_text(encoding="utf-8")
    files = hf_config_files()
    assert files
    for path in files:
        assert f"| {path.name} |" in listing, f"{path.name} has no row in hf_configs/SOURCES.md"
