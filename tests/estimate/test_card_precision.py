"""The compute precision follows the card: bf16 where it has BF16 hardware (Ampere and later),
fp16 on V100/T4/RTX 20xx/P100/GTX 10xx, and an explicit bf16 on those is refused on the command
line, the API and a build file's [workload] (GpuSpec.has_bf16, Job's default)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlrig.catalog import load, stacks
from dlrig.catalog.lookup import find_gpu
from dlrig.cli import run
from dlrig.model.workload import Job, Precision, Task

HOSTILE = Path(__file__).resolve().parents[1] / "data" / "precision"


def test_has_bf16_agrees_with_the_sm_targets_of_gpu_support_csv():
    # Two catalog files say it: the architecture (gpus.csv) and the sm target (gpu_support.csv);
    # stack_support.csv's bf16 rows draw the line at sm_80.
    for gpu in load.gpus():
        row = stacks.gpu_support()[gpu.name]
        if row.stack == "cuda":
            assert gpu.has_bf16 == (int(row.target.removeprefix("sm_")) >= 80), gpu.name
            verdict = stacks.component_support("bf16", row.stack, row.target).level
            assert (verdict == "yes") == gpu.has_bf16, gpu.name


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        ("Tesla T4", "fp16"),
        ("Tesla V100 SXM2 16GB", "fp16"),
        ("GeForce GTX 1080 Ti", "fp16"),
        ("GeForce RTX 2080 Ti", "fp16"),
        ("GeForce RTX 3090", "bf16"),
        ("Instinct MI300X", "bf16"),
    ],
)
def test_default_precision_is_the_cards(card, expected):
    assert Job(task=Task.TRAIN, gpu=find_gpu(card)).precision.value == expected


def test_a_given_precision_is_kept():
    t4 = find_gpu("Tesla T4")
    assert Job(task=Task.TRAIN, gpu=t4, precision=Precision.FP32).precision == Precision.FP32


def test_estimate_on_a_t4_defaults_to_fp16_and_says_why(capsys):
    argv = ["estimate", "--gpu", "T4", "--model", "qwen2.5-3b", "--task", "lora"]
    assert run([*argv, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["precision"] == "fp16"
    assert any("Tesla T4 has no BF16 hardware" in a for a in data["assumptions"])


def test_estimate_on_an_ampere_card_stays_bf16(capsys):
    argv = ["estimate", "--gpu", "RTX 3090", "--model", "qwen2.5-3b", "--task", "lora"]
    assert run([*argv, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["precision"] == "bf16"
    assert not any("no BF16 hardware" in a for a in data["assumptions"])


def test_bf16_on_a_v100_is_an_input_error(capsys):
    argv = ["estimate", "--gpu", "V100 SXM2 16GB", "--params", "1e9", "--task", "train"]
    assert run([*argv, "--precision", "bf16"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--precision bf16: Tesla V100 SXM2 16GB has no BF16 hardware" in err
    assert "give --precision fp16" in err


def test_build_file_asking_bf16_on_a_t4_is_a_build_error(capsys):
    assert run(["check", str(HOSTILE / "build.t4-bf16.toml"), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    memory = [f for f in data["findings"] if f["id"] == "gpu-memory"]
    assert memory and memory[0]["severity"] == "error"
    assert 'workload.precision = "bf16": Tesla T4 has no BF16 hardware' in memory[0]["message"]
    assert "give precision fp16" in memory[0]["message"]


def test_build_file_without_precision_is_estimated_in_fp16_on_a_t4():
    from dlrig.rules.workload import job_for
    from helpers import make_build, run_check

    data = {"gpus": [{"model": "Tesla T4"}], "workload": {"model": "qwen2.5-3b", "task": "lora"}}
    job = job_for(make_build(data))
    assert job is not None and job.precision == Precision.FP16
    memory = [f for f in run_check(data).findings if f.id == "gpu-memory"]
    assert memory and memory[0].severity != "error"


def test_recommend_keeps_pre_ampere_cards_in_fp16_and_drops_them_for_bf16():
    from dlrig.catalog.lookup import find_model
    from dlrig.recommend import stack_verdict
    from dlrig.recommend.request import Request

    v100 = find_gpu("Tesla V100 PCIe 16GB")
    base = dict(workload="gpt2:train", model=find_model("gpt2"), task=Task.TRAIN, budget=1e5)
    plain, bf16 = Request(**base), Request(**base, job={"precision": "bf16"})
    assert stack_verdict(v100, plain).level != "no"
    assert stack_verdict(v100, bf16).level == "no"


def test_api_refuses_bf16_on_a_t4_and_defaults_it_to_fp16():
    pytest.importorskip("fastapi")
    from dlrig.errors import DlrigError
    from dlrig.serve import api

    options = {"gpu": "Tesla T4", "model": "qwen2.5-3b", "task": "infer"}
    assert json.loads(api.estimate_json(options))["precision"] == "fp16"
    with pytest.raises(DlrigError, match=r"--precision bf16: Tesla T4 has no BF16 hardware"):
        api.estimate_json(options | {"precision": "bf16"})


def test_http_api_answers_400_naming_the_flag_for_bf16_on_a_t4():
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx2")
    from fastapi.testclient import TestClient

    from dlrig.serve.app import create_app

    client = TestClient(create_app(allowed_hosts=["127.0.0.1"]), base_url="http://127.0.0.1:8000")
    options = {"gpu": "Tesla T4", "model": "qwen2.5-3b", "task": "infer", "precision": "bf16"}
    headers = {"Content-Type": "application/json"}
    r = client.post("/api/estimate", content=json.dumps(options), headers=headers)
    assert r.status_code == 400
    assert "--precision bf16: Tesla T4 has no BF16 hardware" in r.json()["error"]
