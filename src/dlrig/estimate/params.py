"""The estimator's numbers from the world: `catalog/data/efficiencies.csv` (each row with its
source) and the few defaults the estimator picks when the user leaves a size out.
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict

from dlrig.catalog.load import read_rows
from dlrig.errors import CatalogDataError

# Defaults for sizes the user leaves out; each is stated in the output when used.
DEFAULT_SEQ_LEN = 2048  # training sequence length (capped by the model's maximum)
DEFAULT_CONTEXT = 4096  # inference tokens held per sequence (capped by the model's maximum)
DEFAULT_LM_BATCH = 1
DEFAULT_VISION_BATCH = 32
# Tokens an optimized inference engine prefills per step: vLLM's chunked prefill caps a step at
# max_num_batched_tokens (512 when introduced, vllm-project/vllm#4580; 2048 and more is the
# common setting for throughput), llama.cpp at its ubatch (512 by default). dlrig assumes 2048
# for an engine that names no budget (the unnamed optimized engine, ExLlamaV2's 2048-token
# chunks); a pool engine prefills in its own budget (shape.prefill_chunk).
PREFILL_CHUNK_TOKENS = 2048
# llama.cpp runs a prompt's forward passes in ubatches of n_ubatch tokens: 512 unless -ub says
# otherwise (common/common.h, `int32_t n_ubatch = 512; // physical batch size for prompt
# processing`; llama-bench's and llama-server's default). Each ubatch reads every weight once.
LLAMA_CPP_UBATCH_TOKENS = 512


def prefill_chunk_tokens(engine: str) -> int:
    """Tokens one prefill forward pass of a chunking engine takes (shape.derive)."""
    # Ollama's num_batch, 512 (api/types.go DefaultOptions), is llama.cpp's ubatch (v0.30+
    # passes it as -b and -ub; estimate/engine_memory.py)
    return LLAMA_CPP_UBATCH_TOKENS if engine in ("llama.cpp", "ollama") else PREFILL_CHUNK_TOKENS


class Efficiency(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    value: float
    applies_to: str
    source: str
    notes: str = ""


@cache
def table() -> dict[str, Efficiency]:
    out: dict[str, Efficiency] = {}
    for line, row in enumerate(read_rows("efficiencies.csv"), start=2):
        try:
            out[row["key"]] = Efficiency(
                key=row["key"],
                value=float(row["value"]),
                applies_to=row.get("applies_to", ""),
                source=row["source"],
                notes=row.get("notes", ""),
            )
        except (KeyError, ValueError) as exc:
            raise CatalogDataError(f"catalog efficiencies.csv: line {line}: {exc}") from exc
    return out


def get(key: str) -> Efficiency:
    try:
        return table()[key]
    except KeyError:
        raise CatalogDataError(f"catalog efficiencies.csv: no row for '{key}'") from None


def value(key: str) -> float:
    return get(key).value


def cite(key: str) -> str:
    """`key = value (source)`, for the estimate's list of sources."""
    row = get(key)
    return f"{key} = {row.value:g}: {row.source}"
