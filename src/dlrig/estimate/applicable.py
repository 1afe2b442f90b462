"""Options that do not apply to a job are an error, never silently ignored (issues 15 and 16).

One pure function, `inapplicable(m, job, given)`, used by `estimate`, by `recommend` and by
`check`'s workload rule, so the three say the same thing. `given` is the set of Job fields the
user set; by default the fields set to something other than their default (a program that
spells out a default, as the calibration scripts do, is not flagged; the command line passes
exactly the flags given, so `--lora-rank 8 --task infer` is).
Each problem names its options in the caller's style: `--lora-rank` (command line) or
`lora_rank` (a build file's [workload]).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from dlrig.errors import DlrigError
from dlrig.estimate.shape import quantised_on_load
from dlrig.model.choices import LLAMA_CPP_ENGINES, LORA_FRAMEWORKS, POOL_ENGINES
from dlrig.model.workload import (
    BaseQuant,
    DecodeEngine,
    Framework,
    Job,
    ModelKind,
    ModelSpec,
    Precision,
    Quant,
    Task,
)

Style = Literal["flag", "toml"]
# llama.cpp's quantized formats (shape.GGUF_FORMATS; not imported: estimate.shape imports more)
GGUF_QUANTS = frozenset({Quant.Q4_0, Quant.Q4_K_M, Quant.Q5_K_M, Quant.Q6_K, Quant.Q8_0})
# Job fields whose command-line flag is not "--" + the field name with dashes.
FLAG_NAMES = {"n_gpus": "--gpus", "master_weights": "--pure-16bit"}
TRAINING = (Task.TRAIN, Task.LORA, Task.QLORA)
LORA = (Task.LORA, Task.QLORA)


class InapplicableError(DlrigError):
    """An option that does not apply to the job (exit 2)."""


@dataclass(frozen=True)
class Problem:
    options: tuple[str, ...]  # Job field names
    values: tuple[object, ...]  # their values in the job
    why: str

    def text(self, style: Style = "flag") -> str:
        named = " with ".join(
            option_text(o, v, style) for o, v in zip(self.options, self.values, strict=True)
        )
        why = re.sub(r"\{(\w+)\}", lambda g: option_name(g.group(1), style), self.why)
        return f"{named}: {why}"


def option_name(field: str, style: Style) -> str:
    if style == "toml":
        return field
    return FLAG_NAMES.get(field, "--" + field.replace("_", "-"))


def option_text(field: str, value: object, style: Style) -> str:
    """`--quant int4` / `quant = "int4"`; booleans as the flag alone / `key = true`."""
    value = getattr(value, "value", value)
    if style == "toml":
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        shown = f'"{value}"' if isinstance(value, str) else shown
        return f"{field} = {shown}"
    if field == "master_weights":
        return "--master-weights" if value else "--pure-16bit"
    if isinstance(value, bool):
        return option_name(field, style)
    return f"{option_name(field, style)} {value}"


def set_fields(job: Job) -> set[str]:
    """Fields set to a value other than their default."""
    return {f for f in job.model_fields_set if getattr(job, f) != Job.model_fields[f].get_default()}


def inapplicable(
    m: ModelSpec | None, job: Job, given: Iterable[str] | None = None
) -> list[Problem]:
    """Every option set that this job cannot use, in a stable order."""
    fields = set(set_fields(job) if given is None else given)
    task = job.task
    out: list[Problem] = []

    def set_(*names: str) -> list[str]:
        return [n for n in names if n in fields]

    def problem(options: tuple[str, ...], why: str) -> Problem:
        return Problem(options, tuple(getattr(job, o) for o in options), why)

    if job.precision == Precision.BF16 and not job.gpu.has_bf16:
        # a run the card can only emulate (GpuSpec.has_bf16): no rate of it is calibrated
        why = (
            f"{job.gpu.name} has no BF16 hardware (it came with Ampere, compute capability "
            "8.0; PyTorch only emulates it here, in fp32): give {precision} fp16 (mixed "
            "precision with loss scaling) or fp32"
        )
        out.append(problem(("precision",), why))
    if task not in LORA:
        for name in set_("lora_rank", "lora_targets"):
            out.append(problem((name, "task"), "applies to LoRA and QLoRA only"))
    if job.quant != Quant.NONE and task in TRAINING:
        why = (
            "stores inference weights; full training updates 16/32-bit weights"
            if task == Task.TRAIN
            else "stores inference weights; a quantised LoRA base is {base_quant}"
        )
        out.append(problem(("quant", "task"), why))
    if job.base_quant != BaseQuant.NONE and task not in LORA:
        why = (
            "is LoRA's frozen base; inference weights are {quant}"
            if task == Task.INFER
            else ("is LoRA's frozen base; full training updates every weight")
        )
        out.append(problem(("base_quant", "task"), why))
    if task == Task.QLORA and job.base_quant not in (BaseQuant.NONE, BaseQuant.NF4):
        out.append(
            problem(
                ("base_quant", "task"),
                f"qlora means an NF4 base; {job.base_quant.value} is task lora with this base",
            )
        )
    if task in TRAINING:
        names = (
            "engine",
            "kv_dtype",
            "prompt_tokens",
            "gen_tokens",
            "weight_bits",
            "gpu_memory_utilization",
            "max_batched_tokens",
            "max_num_seqs",
            "llama_cpp_cublas",
            "trtllm_mmha",
            "vllm_v0",
            "kv_cache",
        )
        for name in set_(*names):
            out.append(problem((name, "task"), "applies to inference only"))
    if task == Task.INFER:
        names = (
            "grad_accum",
            "optimizer_dtype",
            "cp",
            "vp",
            "etp",
            "host_link_gbs",
            "checkpointing_mode",
            "grad_buffers",
        )
        for name in set_(*names):
            if name == "grad_accum" and job.grad_accum == 1:
                continue
            out.append(problem((name, "task"), "applies to training only"))
    encoder = m is not None and m.is_language_model and not m.generates
    if "seq_len" in fields and task == Task.INFER and not encoder:
        # an encoder's forward pass reads its input length from it (shape.sequence_length)
        why = "is a training or encoder input length; a generation's is {context}"
        if m is not None and not m.is_language_model:
            why = "is a text input length; an image model's input is its image size"
        out.append(problem(("seq_len", "task"), why))
    pool_share = "gpu_memory_utilization" in fields and task == Task.INFER
    if pool_share and job.engine not in POOL_ENGINES:
        why = (
            "is the memory share of an engine that sizes its KV pool from it; "
            "give {engine} vllm, sglang or tensorrt-llm"
        )
        out.append(problem(("gpu_memory_utilization", "engine"), why))
    # llama.cpp: -ub; Ollama: its num_batch option, which it passes as -b and -ub
    batched_engines = (*POOL_ENGINES, *LLAMA_CPP_ENGINES)
    if "max_batched_tokens" in fields and task == Task.INFER and job.engine not in batched_engines:
        why = "is the tokens of one forward pass; give {engine} vllm, sglang, tensorrt-llm, "
        why += "llama.cpp (-ub) or ollama (num_batch)"
        out.append(problem(("max_batched_tokens", "engine"), why))
    if "tp" in fields and job.tp > 1 and task == Task.INFER and job.engine == DecodeEngine.OLLAMA:
        # Ollama offers no --split-mode row: it splits layers across GPUs (llm/server.go up to
        # v0.29 placed whole layers per GPU; v0.30+ leaves llama-server at its layer split)
        why = "is tensor parallelism; Ollama splits layers across GPUs: give --pp instead"
        out.append(problem(("tp", "engine"), why))
    if job.tp > 1 and task == Task.INFER and job.engine == DecodeEngine.AUTOAWQ:
        # AutoAWQ's from_quantized places whole layers on GPUs through accelerate's device_map;
        # it has no tensor-parallel path to price (engine_spread.TP_ENGINES).
        why = "AutoAWQ splits layers across GPUs, it has no tensor parallelism; drop {tp}, or "
        why += "give {engine} vllm, sglang or tensorrt-llm for AWQ under tensor parallelism"
        out.append(problem(("tp", "engine"), why))
    if "max_num_seqs" in fields and task == Task.INFER and job.engine != DecodeEngine.VLLM:
        why = "is vLLM's --max-num-seqs; give {engine} vllm"
        out.append(problem(("max_num_seqs", "engine"), why))
    cublas = "llama_cpp_cublas" in fields and job.llama_cpp_cublas and task == Task.INFER
    if cublas and job.engine != DecodeEngine.LLAMA_CPP:
        # a build option of llama.cpp (LLAMA_CUBLAS era); Ollama ships its own builds and
        # exposes no such setting
        why = "is llama.cpp's path for quantized matmuls; give {engine} llama.cpp"
        out.append(problem(("llama_cpp_cublas", "engine"), why))
    elif cublas and job.quant not in GGUF_QUANTS:
        why = "dequantises GGUF weights; give {quant} q4_0, q4_k_m, q5_k_m, q6_k or q8_0"
        out.append(problem(("llama_cpp_cublas", "quant"), why))
    mmha = "trtllm_mmha" in fields and job.trtllm_mmha and task == Task.INFER
    if mmha and job.engine != DecodeEngine.TENSORRT_LLM:
        why = "is TensorRT-LLM's generation attention before XQA; give {engine} tensorrt-llm"
        out.append(problem(("trtllm_mmha", "engine"), why))
    v0 = "vllm_v0" in fields and job.vllm_v0 and task == Task.INFER
    if v0 and job.engine != DecodeEngine.VLLM:
        why = "is vLLM's engine before v0.8; give {engine} vllm"
        out.append(problem(("vllm_v0", "engine"), why))
    if "kv_cache" in fields and task == Task.INFER and job.engine != DecodeEngine.TRANSFORMERS:
        # the other engines' caches are their own (preallocated or paged): no choice to name
        why = "is how transformers' generate() keeps its cache; give {engine} transformers"
        out.append(problem(("kv_cache", "engine"), why))
    if "weight_bits" in fields and job.quant != Quant.EXL2 and task == Task.INFER:
        out.append(
            problem(("weight_bits", "quant"), "sets EXL2's bits per weight; give {quant} exl2")
        )
    if m is not None and job.quant == Quant.MXFP4 and task == Task.INFER and not m.n_experts:
        # gpt-oss's checkpoints quantise the routed experts only (quantization_config's
        # modules_to_not_convert: attention, router, embeddings, head); a dense model has none.
        why = f"quantises a mixture-of-experts model's experts; {m.name} has none"
        out.append(problem(("quant",), why))
    if job.quant == Quant.EXL2 and job.weight_bits is None:
        out.append(problem(("quant",), "needs {weight_bits} (EXL2 files come at any size)"))
    if "framework" in fields and task == Task.INFER:
        why = "is the trainer (LoRA loading, or full training's efficiency); give {task} train"
        out.append(problem(("framework", "task"), why))
    if job.framework is not None and task in LORA and job.framework not in LORA_FRAMEWORKS:
        named = ", ".join(sorted(f.value for f in LORA_FRAMEWORKS))
        why = f"is a full-training framework in dlrig (its LoRA loading is not modelled): {named}"
        out.append(problem(("framework", "task"), why))
    if job.framework == Framework.NEMO and task in LORA and quantised_on_load(job):
        why = "has no quantised-load path in dlrig (a 16-bit LoRA base only): give {task} lora"
        out.append(problem(("framework", "task"), why))
    if m is not None and task in LORA and not m.is_transformer:
        out.append(problem(("task",), f"LoRA needs a transformer; {m.name} is a {m.kind.value}"))
    # selective or offload: both act on a transformer block's input and outputs
    selective = "checkpointing_mode" in fields and job.checkpointing_mode != "full"
    if m is not None and selective and not m.is_transformer and task != Task.INFER:
        why = f"is a transformer block's policy; {m.name} is a {m.kind.value}"
        out.append(problem(("checkpointing_mode",), why))
    if m is not None and "memory_format" in fields and m.kind != ModelKind.CNN:
        out.append(problem(("memory_format",), f"is a CNN's layout; {m.name} is a {m.kind.value}"))
    if "mlm_positions" in fields and job.mlm_positions is not None:
        if task != Task.TRAIN:
            out.append(problem(("mlm_positions", "task"), "is an encoder's pretraining head"))
        elif m is not None and m.kind != ModelKind.ENCODER:
            why = f"is an encoder's masked-LM head; {m.name} is a {m.kind.value}"
            out.append(problem(("mlm_positions",), why))
        elif job.seq_len is not None and job.mlm_positions > job.seq_len:
            why = "counts positions of one sequence: at most {seq_len}"
            out.append(problem(("mlm_positions", "seq_len"), why))
    if m is not None and task == Task.INFER and not m.generates:
        # a model that generates nothing (CNN, ViT, encoder) runs forward passes in PyTorch,
        # every GPU its own batch (perf.infer): no generation engine, cache or split of it
        what = f"{m.name} generates nothing (forward passes, every GPU running its batch)"
        for name in set_("engine", "kv_dtype", "gen_tokens", "max_num_seqs", "kv_cache"):
            out.append(problem((name,), f"is a generation's setting; {what}"))
        for name in ("tp", "pp"):
            if name in fields and getattr(job, name) > 1:
                out.append(problem((name,), f"splits a generation's model; {what}"))
        if not m.is_language_model:
            for name in set_("context", "prompt_tokens"):
                out.append(problem((name,), f"is a text length; {m.name}'s input is an image"))
    if "network" in fields and job.nodes == 1:
        out.append(problem(("network", "nodes"), "is the link between nodes; give {nodes} above 1"))
    if "nics_per_node" in fields and job.nodes == 1:
        out.append(
            problem(("nics_per_node", "nodes"), "is the link between nodes; give {nodes} above 1")
        )
    return out


def check(m: ModelSpec | None, job: Job, given: Iterable[str] | None = None) -> None:
    """Raise InapplicableError (one line, the first problem) when an option does not apply."""
    found = inapplicable(m, job, given)
    if found:
        raise InapplicableError(found[0].text("flag"))


def for_fields(m: ModelSpec | None, task: str, fields: dict[str, object]) -> list[Problem]:
    """The same rule for callers without a GPU yet (`recommend` checks its request before the
    search): the job is built on an arbitrary catalog GPU, which no rule here reads."""
    from dlrig.catalog import load

    # a card with BF16 hardware: the one rule that reads the card (bf16) must not fire here
    gpu = next(g for g in load.gpus() if g.has_bf16)
    job = Job.model_validate({**fields, "task": task, "gpu": gpu})
    return inapplicable(m, job, given=set(fields))
