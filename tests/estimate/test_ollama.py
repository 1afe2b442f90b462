"""`--engine ollama`: llama.cpp's kernels and allocation, Ollama's own defaults
(estimate/engine_memory.py OLLAMA_*), accepted on the command line, the API and a build file,
refused where Ollama has no such setting."""

from __future__ import annotations

import csv
import json
from importlib import resources

import pytest
from typer.testing import CliRunner

from dlrig.catalog.lookup import find_gpu, find_model
from dlrig.cli import app
from dlrig.estimate import calibration as cal
from dlrig.estimate import engine_memory as em
from dlrig.estimate import memory as mem
from dlrig.estimate import perf, points
from dlrig.estimate import shape as shapes
from dlrig.estimate.applicable import InapplicableError
from dlrig.estimate.request import job_from_options
from dlrig.model.workload import Job
from estimate_helpers import toy_gqa_decoder

GIB = 2**30
TOY = toy_gqa_decoder(max_seq_len=131072)  # 256 bytes of f16 KV per token
KV_PER_TOKEN = 256


def _parts(gpu: str, n_gpus: int = 1, **fields):
    job = Job(task="infer", gpu=find_gpu(gpu), n_gpus=n_gpus, engine="ollama", **fields)
    return mem.parts(shapes.derive(TOY, job))


@pytest.mark.parametrize(
    ("gpu", "n_gpus", "num_ctx"),
    [
        ("RTX A4000", 1, 4096),  # 16 GB: below 23 GiB
        ("RTX 4090", 1, 32768),  # 24 GB: 23 GiB and more
        ("RTX 4090", 2, 131072),  # 48 GB: 262,144, capped at the model's 131,072
    ],
)
def test_default_num_ctx_is_ollamas_vram_tier_capped_at_the_model(gpu, n_gpus, num_ctx):
    p = _parts(gpu, n_gpus)
    assert p.context_tokens == num_ctx
    # layers (and their KV) split across the GPUs: each holds its share
    assert p.kv_cache == pytest.approx(num_ctx * KV_PER_TOKEN / n_gpus)


def test_llama_cpp_keeps_its_own_default_context():
    job = Job(task="infer", gpu=find_gpu("RTX 4090"), engine="llama.cpp")
    assert mem.parts(shapes.derive(TOY, job)).context_tokens == em.LLAMA_CPP_DEFAULT_CTX


def test_num_parallel_multiplies_the_kv_cache_and_context_overrides_the_default():
    one = _parts("RTX 4090", context=2048)
    four = _parts("RTX 4090", context=2048, batch_size=4)
    assert one.kv_cache == pytest.approx(2048 * KV_PER_TOKEN)
    assert four.kv_cache == pytest.approx(4 * one.kv_cache)


def test_fit_keeps_llama_cpps_fit_target_free_without_showing_it_in_nvidia_smi():
    p = _parts("RTX 4090", context=2048)
    assert p.need - p.nvidia_smi == pytest.approx(GIB)
    job = Job(task="infer", gpu=find_gpu("RTX 4090"), engine="llama.cpp", context=2048)
    q = mem.parts(shapes.derive(TOY, job))
    assert q.need == pytest.approx(q.nvidia_smi)
    assert p.nvidia_smi == pytest.approx(q.nvidia_smi)  # the same allocation otherwise


def test_priced_in_a_subgroup_of_llama_cpps_groups():
    # llama.cpp's kernels under Ollama's own runner: a subgroup that falls back to llama.cpp
    kw = dict(task="infer", gpu=find_gpu("RTX 4090"), quant="q4_k_m")
    ollama, llama = Job(engine="ollama", **kw), Job(engine="llama.cpp", **kw)
    assert perf.engine(ollama) == "llama.cpp"
    assert perf.decode_group(ollama) == ("llama.cpp", "ollama", *perf.decode_group(llama)[1:])
    assert perf.prefill_group(ollama)[:2] == ("llama.cpp", "ollama")
    c = cal.constants()
    assert c.get("decode_bw", perf.decode_group(ollama)).group.startswith("llama.cpp")
    assert shapes.prefill_chunk(ollama) == 512  # num_batch


def test_mxfp4_file_keeps_the_rest_at_bf16_under_ollama_q8_0_under_llama_cpp():
    m = find_model("gpt-oss-20b")
    kw = dict(task="infer", gpu=find_gpu("RTX 4090"), quant="mxfp4")
    o = shapes.derive(m, Job(engine="ollama", **kw))
    lc = shapes.derive(m, Job(engine="llama.cpp", **kw))
    assert o.weight_bits == 16
    assert lc.weight_bits < 9  # Q8_0: 8.5 bits
    assert o.weight_bytes_per_gpu > lc.weight_bytes_per_gpu


OPTS = {"gpu": "RTX 4090", "model": "llama-3.1-8b", "task": "infer", "engine": "ollama"}


def test_num_batch_accepted_tensor_split_and_cublas_refused():
    _, job = job_from_options(OPTS | {"max_batched_tokens": 1024})
    assert shapes.prefill_chunk(job) == 1024
    with pytest.raises(InapplicableError, match="--tp 2 with --engine ollama"):
        job_from_options(OPTS | {"gpus": 2, "tp": 2})
    with pytest.raises(InapplicableError, match="--llama-cpp-cublas with --engine ollama"):
        job_from_options(OPTS | {"quant": "q4_k_m", "llama_cpp_cublas": True})


def test_cli_and_assumptions_name_ollamas_defaults():
    args = ["estimate", "--model", "llama-3.1-8b", "--gpu", "RTX 4090", "--task", "infer"]
    r = CliRunner().invoke(app, [*args, "--engine", "ollama", "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["memory"]["context_tokens"] == 32768
    said = " ".join(out["assumptions"]) if "assumptions" in out else r.output
    assert "num_ctx 32,768" in said and "OLLAMA_NUM_PARALLEL" in said


def test_the_lmsys_ollama_decode_rows_are_expressible_prefill_rows_are_not():
    path = resources.files("dlrig.catalog").joinpath("data", "calibration_points.csv")
    with path.open(encoding="utf-8") as f:
        rows = [
            r for r in csv.DictReader(f) if r["id"].startswith("lmsys-") and "-ollama-" in r["id"]
        ]
    assert len(rows) == 6
    for r in rows:
        reason = points.why_not(r)
        if r["category"] == "decode":
            assert reason is None
        else:
            assert reason == "prompt length not stated (prompt_tokens blank)"


def test_build_file_workload_takes_engine_ollama_and_refuses_its_missing_flags():
    from helpers import one, run_check

    gpus = [{"model": "RTX 4090"}]
    ok = {"model": "llama-3-8b", "task": "infer", "quant": "q4_k_m", "engine": "ollama"}
    assert one(run_check({"gpus": gpus, "workload": ok}), "gpu-memory").severity == "ok"
    bad = ok | {"llama_cpp_cublas": True}
    f = one(run_check({"gpus": gpus, "workload": bad}), "gpu-memory")
    assert f.severity == "error" and 'llama_cpp_cublas = true with engine = "ollama"' in f.message


def test_the_page_offers_ollama():
    from dlrig.serve import api

    assert "ollama" in api.choices()["workload.engine"]
