"""--vllm-v0: vLLM's V0 engine (every release before v0.8.0, or VLLM_USE_V1=0) schedules and
samples on the host between decode steps; V1 does not. The two share their kernels (one read
efficiency) and have a fixed time per layer each (perf.VLLM_GENERATIONS). A calibration row
says which it ran by the releases its notes quote, else by its date (points.ran_vllm_v0)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dlrig.estimate import perf, points
from dlrig.estimate.applicable import InapplicableError
from dlrig.estimate.job import shape
from dlrig.estimate.request import job_from_options

BASE = {
    "gpu": "A100 80GB SXM",
    "task": "infer",
    "engine": "vllm",
    "model": "llama-3.1-8b",
    "batch_size": 1,
    "prompt_tokens": 128,
    "gen_tokens": 128,
}

ROW = {
    "id": "t",
    "category": "decode",
    "task": "infer",
    "model": "llama-3.1-8b",
    "gpu": "A100 80GB SXM",
    "n_gpus": "1",
    "precision": "bf16",
    "quant": "none",
    "batch_size": "1",
    "prompt_tokens": "128",
    "gen_tokens": "128",
    "engine": "vllm",
    "value": "70",
    "unit": "tokens_per_s",
    "semantics": "with_prefill",
}


@pytest.mark.parametrize(
    ("date", "notes", "v0"),
    [
        ("2024-10", "vLLM 0.6.3, offline LLM.generate", True),
        ("2024-10", "", True),  # no release quoted: the engine of its date
        ("2025-03", "", False),  # v0.8.0 (2025-03-18) made V1 the default
        ("2025-04", "pip install vllm==0.7.2", True),  # an older release after V1's date
        ("2025-04", "vllm 0.7.2 with VLLM_USE_V1=1", False),  # the opt-in says it outright
        ("2025-06", "vLLM v0.8.5 (appendix A.1)", False),
        ("2025-06", "VLLM_USE_V1=0 on vLLM v0.9.1", True),
        ("2025-08", "'vLLM v0.10.0'; 'benchmark scripts from v0.8.5'", False),
        ("2025-07", "vLLM 46.4 tok/s, HF 12.1 tok/s", False),  # a rate, not a release
    ],
)
def test_a_rows_releases_or_date_say_which_engine_it_ran(date, notes, v0):
    row = ROW | {"date": date, "notes": notes}
    assert points.ran_vllm_v0(row) is v0
    assert points.job_of(row).vllm_v0 is v0


def test_other_engines_never_run_v0():
    row = ROW | {"date": "2024-01", "engine": "sglang"}
    assert not points.ran_vllm_v0(row)
    assert not points.job_of(row).vllm_v0


def test_the_two_engines_have_their_own_per_layer_group_and_one_read_group():
    _, v1 = job_from_options(BASE)
    _, v0 = job_from_options(BASE | {"vllm_v0": True})
    assert perf.overhead_group(v1) == ("vllm", "v1", "hbm")
    assert perf.overhead_group(v0) == ("vllm", "v0", "hbm")
    assert perf.decode_group(v1) == perf.decode_group(v0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"engine": "llama.cpp"}, "give --engine vllm"),
        ({"engine": "sglang"}, "give --engine vllm"),
    ],
)
def test_refused_where_it_does_not_apply(options, message):
    with pytest.raises(InapplicableError, match=message):
        job_from_options(BASE | {"vllm_v0": True} | options)


def test_refused_for_training():
    opts = {"gpu": "A100 80GB SXM", "task": "train", "model": "llama-3.1-8b", "vllm_v0": True}
    with pytest.raises(InapplicableError, match="applies to inference only"):
        job_from_options(opts)


def test_false_is_the_default_and_never_refused():
    _, job = job_from_options(BASE | {"engine": "llama.cpp", "vllm_v0": False})
    assert not job.vllm_v0


def test_the_estimate_names_the_engine_and_its_fitted_time_per_layer():
    from dlrig.estimate import explain

    v1 = " ".join(explain.assumptions(shape(*job_from_options(BASE))))
    v0 = " ".join(explain.assumptions(shape(*job_from_options(BASE | {"vllm_v0": True}))))
    assert "its V1 engine" in v1 and "its V0 engine" not in v1
    assert "its V0 engine" in v0 and "us per layer per decode step" in v0


def test_the_command_line_flag_reaches_the_estimate_and_is_refused_elsewhere():
    args = ["--gpu", "A100 80GB SXM", "--model", "llama-3.1-8b", "--task", "infer"]
    args += ["--batch-size", "1", "--prompt-tokens", "128", "--gen-tokens", "128"]

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "dlrig", "estimate", *args, *extra]
        return subprocess.run(argv, capture_output=True, text=True)

    v1, v0 = (
        run("--engine", "vllm", "--format", "json"),
        run("--engine", "vllm", "--vllm-v0", "--format", "json"),
    )
    assert v1.returncode in (0, 1) and v0.returncode in (0, 1), v0.stderr
    rate_v1 = json.loads(v1.stdout)["throughput"]["tokens_per_s"]
    rate_v0 = json.loads(v0.stdout)["throughput"]["tokens_per_s"]
    assert rate_v0 != rate_v1  # each engine's own fitted time per layer
    refused = run("--engine", "llama.cpp", "--vllm-v0")
    assert refused.returncode == 2 and "vllm" in refused.stderr
