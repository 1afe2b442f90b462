"""`--tp` without `--engine`: the spread over the engines that run tensor parallelism.

Which engine runs a tensor-parallel decode decides its speed more than any other setting: on
2x RTX 3090 (PCIe, no P2P) a 70B 4-bit model decodes at 30 tokens/s under vLLM's
tensor parallelism (vllm#6955, RTX 3090 Ti) and at 14-18 tokens/s under llama.cpp (XiongjieDai's
GPU-Benchmarks-on-LLM-Inference; llama.cpp#5324), one card's weights read per token in both.
Without an engine named, one engine's number with that engine's interval would claim a
precision the input does not have, so the estimate is priced for every optimized engine that
has a tensor-parallel path (TP_ENGINES) and reports:

- the headline: the median engine's estimate, whole (its step time, bound and traffic are
  that engine's, so every figure of the estimate belongs to one run), the lower of the two
  middle ones for an even count;
- the interval: from the lowest end of any engine's interval to the highest end of any, so
  the engine left unnamed is inside the uncertainty; `frac` is the larger side over the
  headline;
- each engine's tokens/s (ThroughputEstimate.engine_rates_tok_s), so the user sees what
  naming one changes.

The engines are those that load the job's weight format (FORMAT_TP_ENGINES).

The same holds for the prefill rate and the time to first token. Naming an engine (or a
weight format only one engine runs: choices.FORMAT_ENGINES) prices that engine alone.
"""

from __future__ import annotations

from dlrig.estimate import calibration as cal
from dlrig.estimate import perf
from dlrig.estimate import shape as shapes
from dlrig.model.choices import DecodeEngine, Quant, Task
from dlrig.model.estimate import Interval, ThroughputEstimate
from dlrig.model.workload import Job, ModelSpec

# The optimized engines with a tensor-parallel path (perf.TP_PATHS for the two whose TP is a
# path of its own): vLLM, SGLang and TensorRT-LLM (--tensor-parallel-size / --tp / tp_size),
# llama.cpp (--split-mode row), ExLlamaV2 (tensor_parallel, since v0.1.9) and gpt-fast
# (torchrun, its README's "Tensor Parallelism"). transformers' generate() is eager, not an
# optimized engine (choices.DecodeEngine.OPTIMIZED), and AutoAWQ has no tensor parallelism
# (applicable.py refuses --tp with it).
TP_ENGINES = (
    DecodeEngine.VLLM,
    DecodeEngine.SGLANG,
    DecodeEngine.TENSORRT_LLM,
    DecodeEngine.LLAMA_CPP,
    DecodeEngine.EXLLAMAV2,
    DecodeEngine.GPT_FAST,
)

# Weight formats that not every TP engine loads (the rest, 16-bit and the generic int4/int8,
# every one runs in a format of its own): AWQ checkpoints run on vLLM, SGLang and
# TensorRT-LLM (each one's quantization docs list AWQ; llama.cpp reads only GGUF, ExLlamaV2
# only EXL2 and GPTQ, gpt-fast only its own int8/int4); GPTQ also on ExLlamaV2 (its README:
# "ExLlamaV2 supports the same 4-bit GPTQ models as V1"); FP8 on vLLM, SGLang and
# TensorRT-LLM; bitsandbytes NF4 on vLLM and SGLang (their bitsandbytes loaders); MXFP4
# (gpt-oss) on vLLM, SGLang, TensorRT-LLM and llama.cpp (its GGUF MXFP4 type).
FORMAT_TP_ENGINES: dict[Quant, tuple[DecodeEngine, ...]] = {
    Quant.AWQ: (DecodeEngine.VLLM, DecodeEngine.SGLANG, DecodeEngine.TENSORRT_LLM),
    Quant.GPTQ: (
        DecodeEngine.VLLM,
        DecodeEngine.SGLANG,
        DecodeEngine.TENSORRT_LLM,
        DecodeEngine.EXLLAMAV2,
    ),
    Quant.FP8: (DecodeEngine.VLLM, DecodeEngine.SGLANG, DecodeEngine.TENSORRT_LLM),
    Quant.NF4: (DecodeEngine.VLLM, DecodeEngine.SGLANG),
    Quant.MXFP4: (
        DecodeEngine.VLLM,
        DecodeEngine.SGLANG,
        DecodeEngine.TENSORRT_LLM,
        DecodeEngine.LLAMA_CPP,
    ),
}

GROUP = "engines with tensor parallelism"


def engines_for(job: Job) -> tuple[DecodeEngine, ...]:
    """The TP engines that run the job's weight format."""
    return FORMAT_TP_ENGINES.get(job.quant, TP_ENGINES)


def applies(job: Job) -> bool:
    """Inference under --tp with no engine named."""
    return job.task == Task.INFER and job.tp > 1 and perf.engine(job) == perf.UNNAMED_ENGINE


def shape_under(m: ModelSpec, job: Job, engine: str) -> shapes.Shape:
    """The job's shape with `engine` named (the plan and sizes are the job's)."""
    return shapes.derive(m, job.model_copy(update={"engine": DecodeEngine(engine)}))


def per_engine(
    m: ModelSpec, job: Job, consts: cal.Constants | None = None
) -> dict[str, ThroughputEstimate]:
    """Each TP engine's estimate of the same job."""
    return {e.value: perf.throughput_of(shape_under(m, job, e), consts) for e in engines_for(job)}


def median_engine(rates: dict[str, float]) -> str:
    """The engine whose rate is the median (the lower middle one for an even count)."""
    ranked = sorted(rates, key=lambda e: (rates[e], e))
    return ranked[(len(ranked) - 1) // 2]


def span(
    value: float | None, intervals: list[Interval | None], what: str, engines: list[str]
) -> Interval | None:
    """One interval from the lowest low to the highest high of `intervals` around `value`."""
    known = [iv for iv in intervals if iv is not None]
    if value is None or value <= 0 or not known:
        return None
    low = min(iv.low for iv in known)
    tops = [iv.high for iv in known]
    high = None if None in tops else max(t for t in tops if t is not None)
    # the larger side over the headline; without a top, the largest of the engines' ±
    frac = max(value - low, high - value) / value if high else max(iv.frac for iv in known)
    return Interval(
        low=low,
        high=high,
        frac=frac,
        kind="span",
        group=f"{what}:{GROUP}",
        source=(
            f"no --engine: from the lowest to the highest end of the intervals of "
            f"{', '.join(engines)} (estimate/engine_spread.py)"
        ),
    )


def throughput(m: ModelSpec, job: Job, consts: cal.Constants | None = None) -> ThroughputEstimate:
    """The median engine's estimate with the interval spanning every TP engine's."""
    estimates = per_engine(m, job, consts)
    rates = {e: t.tokens_per_s or 0.0 for e, t in estimates.items()}
    head_engine = median_engine(rates)
    head = estimates[head_engine]
    prefill_iv = span(
        head.prefill_tokens_per_s,
        [t.prefill_interval for t in estimates.values()],
        "prefill_mfu",
        list(estimates),
    )
    return head.model_copy(
        update={
            "interval": span(
                head.tokens_per_s,
                [t.interval for t in estimates.values()],
                "decode_bw",
                list(estimates),
            ),
            "prefill_interval": prefill_iv,
            "ttft_interval": perf.inverse_interval(
                head.ttft_s, prefill_iv, head.prefill_tokens_per_s
            ),
            "engine_rates_tok_s": rates,
            "engine": head_engine,
        }
    )
