"""dlrig serve's JSON API, in-process (fastapi.testclient): the same answers as the command
line's `--format json`, the same one-line errors with the key they are about, and the guards
(Host header, JSON only, body cap, Origin, strict JSON, CSP)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="dlrig serve needs fastapi (pip install -e .)")
pytest.importorskip("httpx2", reason="the API tests need httpx2 (pip install -e '.[test]')")

from fastapi.testclient import TestClient

from dlrig.model.load import read_toml
from dlrig.serve.app import MAX_BODY_BYTES, create_app
from serve.server import check_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "llama3-8b-lora-4090.toml"
HOSTILE = ROOT / "tests" / "data" / "serve"
BASE = "http://127.0.0.1:8000"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = create_app(
        allowed_hosts=["127.0.0.1", "localhost"], initial_build=read_toml(EXAMPLE, "x")
    )
    return TestClient(app, base_url=BASE)


def cli_json(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "dlrig", *args, "--format", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)


def post(client: TestClient, path: str, body: object, **headers: str):
    return client.post(
        path, content=json.dumps(body), headers={"Content-Type": "application/json", **headers}
    )


def test_check_is_the_command_lines_json(client):
    build = read_toml(EXAMPLE, "x")
    r = post(client, "/api/check", build)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == cli_json("check", str(EXAMPLE))
    assert r.json()["schema"] == "dlrig.check/1"


def test_estimate_is_the_command_lines_json(client):
    options = {
        "gpu": "RTX 4090",
        "task": "lora",
        "model": "llama-3-8b",
        "seq_len": 1024,
        "batch_size": 2,
    }
    r = post(client, "/api/estimate", options)
    assert r.status_code == 200, r.text
    cli = cli_json(
        "estimate",
        "--gpu",
        "RTX 4090",
        "--task",
        "lora",
        "--model",
        "llama-3-8b",
        "--seq-len",
        "1024",
        "--batch-size",
        "2",
    )
    assert r.json() == cli
    assert r.json()["memory"]["per_gpu_interval"]["frac"] > 0  # every number with its interval


def test_estimate_takes_the_framework_and_offloaded_checkpointing(client):
    """The LoRA trainer (its load-time peak) and Unsloth's offloaded checkpointing reach the
    API under the command line's names, with the command line's answer and errors."""
    options = {
        "gpu": "RTX 4090",
        "task": "qlora",
        "model": "llama-2-7b",
        "seq_len": 2048,
        "framework": "torchtune-torchao0.1",
        "checkpointing_mode": "offload",
    }
    r = post(client, "/api/estimate", options)
    assert r.status_code == 200, r.text
    cli = cli_json(
        "estimate",
        *("--gpu", "RTX 4090", "--task", "qlora", "--model", "llama-2-7b", "--seq-len", "2048"),
        *("--framework", "torchtune-torchao0.1", "--checkpointing-mode", "offload"),
    )
    assert r.json() == cli
    assert r.json()["memory"]["load_peak_gb"] > 0
    bad = post(client, "/api/estimate", options | {"framework": "torchtitan"})
    assert bad.status_code == 400
    assert "--framework torchtitan with --task qlora" in bad.json()["error"]


def test_recommend_is_the_command_lines_json(client):
    r = post(client, "/api/recommend", {"budget": 4000, "workload": "llama-3-8b:qlora", "top": 3})
    assert r.status_code == 200, r.text
    cli = cli_json("recommend", "--budget", "4000", "--workload", "llama-3-8b:qlora", "--top", "3")
    assert r.json() == cli
    assert r.json()["proposals"], "a 4000 USD budget buys a QLoRA machine"


def test_parts_is_the_command_lines_json(client):
    r = client.get("/api/parts/gpus", params={"currency": "EUR"})
    assert r.status_code == 200
    assert r.json() == cli_json("parts", "gpus", "--currency", "EUR")


def test_unknown_parts_listing_suggests_the_close_one(client):
    r = client.get("/api/parts/gpu")
    assert r.status_code == 400
    assert "did you mean 'gpus'" in r.json()["error"]


def test_bad_value_names_its_key_like_the_command_line(client, tmp_path):
    build = read_toml(EXAMPLE, "x")
    build["psu"]["watts"] = -5
    r = post(client, "/api/check", build)
    assert r.status_code == 400
    body = r.json()
    assert body["key"] == "psu.watts"
    # The same line `dlrig check` prints for the same file, with the page's name for it.
    path = tmp_path / "b.toml"
    import tomli_w

    path.write_text(tomli_w.dumps(build))
    cli = subprocess.run(
        [sys.executable, "-m", "dlrig", "check", str(path)], capture_output=True, text=True
    )
    assert cli.returncode == 2
    assert body["error"] == cli.stderr.strip().removeprefix("dlrig: error: ").replace(
        str(path), "build"
    )


def test_estimate_error_names_the_option(client):
    r = post(
        client,
        "/api/estimate",
        {"gpu": "RTX 4090", "task": "lora", "model": "llama-3-8b", "seq_len": -3},
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": "--seq-len: expected greater than or equal to 1, got -3",
        "key": "seq_len",
    }


def test_inapplicable_option_is_the_same_error_as_the_command_line(client):
    r = post(
        client,
        "/api/estimate",
        {"gpu": "RTX 4090", "task": "infer", "model": "llama-3-8b", "lora_rank": 8},
    )
    assert r.status_code == 400
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlrig",
            "estimate",
            "--gpu",
            "RTX 4090",
            "--task",
            "infer",
            "--model",
            "llama-3-8b",
            "--lora-rank",
            "8",
        ],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 2
    assert r.json()["error"] == cli.stderr.strip().removeprefix("dlrig: error: ")


def test_unknown_option_suggests_close_names(client):
    r = post(
        client,
        "/api/estimate",
        {"gpu": "RTX 4090", "task": "lora", "model": "llama-3-8b", "seqlen": 5},
    )
    assert r.status_code == 400
    assert "unknown option" in r.json()["error"] and "'seq_len'" in r.json()["error"]


def test_toml_export_is_accepted_by_check(client, tmp_path):
    build = read_toml(EXAMPLE, "x")
    build["gpus"][0]["model"] = "RTX 3090"
    r = post(client, "/api/toml", build)
    assert r.status_code == 200
    path = tmp_path / "exported.toml"
    path.write_text(r.text)
    assert check_file(path)["build"]["gpus"][0]["spec"]["name"] == "GeForce RTX 3090"


def test_toml_export_refuses_a_build_check_would_refuse(client):
    r = post(client, "/api/toml", {"gpus": [{"model": "RTX 4090", "count": 0}]})
    assert r.status_code == 400
    assert r.json()["key"] == "gpus[0].count"


def test_parse_reads_toml_text(client):
    r = post(client, "/api/parse", {"toml": EXAMPLE.read_text()})
    assert r.status_code == 200
    assert r.json() == read_toml(EXAMPLE, "x")
    bad = post(client, "/api/parse", {"toml": "[psu]\nwatts = \n"})
    assert bad.status_code == 400
    assert "line 2" in bad.json()["error"]


def test_initial_build_and_choices(client):
    assert client.get("/api/build").json() == {"build": read_toml(EXAMPLE, "x")}
    choices = client.get("/api/choices").json()
    assert "gold" in choices["psu.rating"] and "lora" in choices["workload.task"]
    # checkpointing takes true/false or torchtitan's words (and Unsloth's offload); the page offers the words
    assert choices["workload.checkpointing"] == ["none", "full", "selective", "offload"]
    assert choices["workload.framework"] == [
        "transformers",
        "litgpt",
        "torchtune",
        "torchtune-torchao0.1",
        "nemo",
        "megatron",
        "torchtitan",
        "llm-foundry",
        "llmq",
        "deepspeed",
    ]


def test_workload_keys_are_the_ones_check_estimates_with(client):
    """The page estimates a build's workload with the keys `dlrig check` hands the estimator,
    so an engine, a parallel plan or a loss set in a build file reaches the page's estimate
    too; each is an option /api/estimate takes."""
    from dlrig.estimate.request import OPTION_FIELDS
    from dlrig.rules.workload import JOB_FIELDS

    keys = client.get("/api/workload-keys").json()
    assert keys == ["model", *JOB_FIELDS]
    assert {"engine", "tp", "grad_buffers", "loss", "kv_dtype"} <= set(keys)
    assert set(keys) - {"model"} <= set(OPTION_FIELDS)
    assert client.get("/api/choices").json()["workload.grad_buffers"] == [
        "on-demand",
        "persistent",
        "bucket-view",
    ]
    options = {"gpu": "RTX 3090", "model": "llama-3.1-8b", "task": "infer", "engine": "vllm"}
    assert post(client, "/api/estimate", options).status_code == 200
    options["engine"] = "vllm-ish"
    bad = post(client, "/api/estimate", options)
    assert bad.status_code == 400 and "--engine" in bad.json()["error"]


def test_charts_are_svg(client):
    r = post(client, "/api/check/charts", read_toml(EXAMPLE, "x"))
    assert r.status_code == 200
    charts = r.json()["charts"]
    assert len(charts) == 4  # power, PCIe lanes, data chain, memory against the workload
    assert all(c.startswith("<svg") for c in charts)


def test_markdown_report(client):
    r = post(client, "/api/check/markdown", read_toml(EXAMPLE, "x"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/markdown")
    assert "Workload fits in GPU memory" in r.text


# --- guards --------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example:8000", "127.0.0.1.nip.io", "attacker.test"])
def test_foreign_host_header_is_refused(client, host):
    """DNS rebinding: a name that resolves to 127.0.0.1 still carries its own Host header."""
    r = client.get("/api/build", headers={"Host": host})
    assert r.status_code == 400


def test_json_only(client):
    r = client.post(
        "/api/check",
        content="name=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400
    assert "application/json" in r.json()["error"]


def test_foreign_origin_is_refused(client):
    r = post(client, "/api/check", {"name": "x"}, Origin="http://evil.example")
    assert r.status_code == 403


def test_own_origin_is_served(client):
    r = post(client, "/api/check", read_toml(EXAMPLE, "x"), Origin=BASE)
    assert r.status_code == 200


def test_body_over_the_cap_is_refused_before_it_is_read(client):
    body = json.dumps({"name": "x" * (MAX_BODY_BYTES + 1)})
    r = client.post("/api/check", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_streamed_body_over_the_cap_is_refused(client):
    def chunks():
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    r = client.post("/api/check", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_security_headers_and_no_external_docs(client):
    r = client.get("/")
    assert r.status_code == 200
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert client.get("/docs").status_code == 404  # FastAPI's docs page loads from a CDN: off
    spec = client.get("/api/openapi.json").json()
    assert {"/api/check", "/api/estimate", "/api/recommend", "/api/parts/{name}"} <= set(
        spec["paths"]
    )


HOSTILE_CASES = {
    "check.nan-count.json": ("/api/check", "not valid JSON", ""),
    "check.nested-5000.json": ("/api/check", "not valid JSON", ""),
    "check.not-utf8.json": ("/api/check", "not valid JSON", ""),
    "check.array-not-object.json": ("/api/check", "expected a JSON object", ""),
    "check.cluster.json": ("/api/check", "cluster files", "cluster"),
    "check.count-as-string.json": ("/api/check", "expected an integer", "gpus[0].count"),
    "check.control-chars-in-name.json": ("/api/check", "control character", "name"),
    "estimate.config-path.json": ("/api/estimate", "--config: unknown option", "config"),
    "recommend.budget-as-string.json": ("/api/recommend", "expected a number", "budget"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_CASES))
def test_hostile_body(client, name):
    path, said, key = HOSTILE_CASES[name]
    r = client.post(
        path, content=(HOSTILE / name).read_bytes(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400, r.text
    body = r.json()
    assert said in body["error"]
    assert body["key"] == key
    assert not CONTROL.search(body["error"])


def test_html_in_a_name_comes_back_as_json_text(client):
    r = client.post(
        "/api/check",
        content=(HOSTILE / "check.html-in-name.json").read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 200
    assert r.json()["build"]["name"] == "<script>alert(1)</script>"
    assert r.headers["content-type"].startswith("application/json")  # never served as HTML


def test_one_edit_runs_the_rules_once_for_findings_and_charts(monkeypatch):
    """The page asks /api/check and /api/check/charts for each edit: the rules run once."""
    import dlrig.rules
    from dlrig.serve import api

    calls = []
    real = dlrig.rules.check

    def counting(build):
        calls.append(build.name)
        return real(build)

    monkeypatch.setattr(dlrig.rules, "check", counting)
    api._cached_check.cache_clear()
    build = read_toml(EXAMPLE, "x")
    first = api.check_json(build)
    api.check_charts(build)
    assert len(calls) == 1
    assert api.check_json(build) == first  # rendering leaves the kept report as it was
    edited = build | {"name": "another edit"}
    assert json.loads(api.check_json(edited))["build"] != json.loads(first)["build"]
    assert len(calls) == 2


def test_estimate_takes_llama_cpps_cublas_path_and_ubatch(client):
    """--llama-cpp-cublas and --max-batched-tokens (llama.cpp's -ub) reach the API under the
    command line's names, with its answer; the path is refused for another engine."""
    options = {
        "gpu": "RTX 4090",
        "task": "infer",
        "model": "llama-2-7b",
        "engine": "llama.cpp",
        "quant": "q4_0",
        "prompt_tokens": 1024,
        "max_batched_tokens": 1024,
        "llama_cpp_cublas": True,
    }
    r = post(client, "/api/estimate", options)
    assert r.status_code == 200, r.text
    cli = cli_json(
        "estimate",
        *("--gpu", "RTX 4090", "--task", "infer", "--model", "llama-2-7b"),
        *("--engine", "llama.cpp", "--quant", "q4_0", "--prompt-tokens", "1024"),
        *("--max-batched-tokens", "1024", "--llama-cpp-cublas"),
    )
    assert r.json() == cli
    r = post(client, "/api/estimate", options | {"engine": "vllm"})
    assert r.status_code == 400 and "llama" in r.text


def test_estimate_takes_transformers_kv_cache(client):
    """--kv-cache reaches the API under the command line's name, with its answer (the legacy
    cache holds the old copy: more memory than the dynamic one); refused for another engine."""
    options = {
        "gpu": "A100 80GB SXM",
        "task": "infer",
        "model": "llama-2-7b",
        "engine": "transformers",
        "batch_size": 8,
        "prompt_tokens": 256,
        "gen_tokens": 512,
        "kv_cache": "legacy",
    }
    r = post(client, "/api/estimate", options)
    assert r.status_code == 200, r.text
    cli = cli_json(
        "estimate",
        *("--gpu", "A100 80GB SXM", "--task", "infer", "--model", "llama-2-7b"),
        *("--engine", "transformers", "--batch-size", "8", "--prompt-tokens", "256"),
        *("--gen-tokens", "512", "--kv-cache", "legacy"),
    )
    assert r.json() == cli
    dynamic = post(client, "/api/estimate", options | {"kv_cache": "dynamic"}).json()
    assert dynamic["memory"]["allocated_gb"] < cli["memory"]["allocated_gb"]
    r = post(client, "/api/estimate", options | {"engine": "vllm"})
    assert r.status_code == 400 and "kv" in r.text
