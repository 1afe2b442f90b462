"""`dlrig estimate` end to end: the issue's four commands, formats, and bad input (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlrig.cli import run

HF = Path(__file__).resolve().parent.parent / "data" / "hf"

ISSUE_COMMANDS = [
    "--model llama-3-8b --task lora --gpu 'RTX 4090' --gpus 2 --seq-len 2048 --batch-size 4",
    "--model resnet50 --task train --gpu 'A100 80GB SXM' --gpus 8 --batch-size 256",
    f"--config {HF / 'llama-3-8b.config.json'} --task infer --gpu 'RTX 3090' --quant int4 "
    "--context 8192",
    "--params 13e9 --task train --gpu 'H100 SXM' --gpus 8 --zero 3 --tokens 2e10",
]


def args(line: str) -> list[str]:
    import shlex

    return ["estimate", *shlex.split(line)]


@pytest.mark.parametrize("line", ISSUE_COMMANDS)
def test_issue_commands_run(line, capsys):
    assert run([*args(line), "--no-color"]) == 0
    out = capsys.readouterr().out
    assert "GPU memory per GPU" in out and "Throughput" in out and "assumed:" in out


@pytest.mark.parametrize("line", ISSUE_COMMANDS)
def test_issue_commands_json(line, capsys):
    assert run([*args(line), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "dlrig.estimate/2"
    assert data["memory"]["verdict"] in ("fits", "tight", "does not fit")
    iv = data["memory"]["per_gpu_interval"]
    assert iv["low"] < data["memory"]["per_gpu_gb"] < iv["high"]
    assert isinstance(data["memory"]["fits"], bool)
    rate = data["throughput"]["tokens_per_s"] or data["throughput"]["samples_per_s"]
    assert rate > 0 and 0 < data["throughput"]["utilization"] <= 1


def test_13b_on_8_h100_time_for_20b_tokens(capsys):
    assert run([*args(ISSUE_COMMANDS[3]), "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # 6·N·T / (8 x 989 TFLOPS x the fitted MFU), plus attention (a few % at 2048 tokens).
    u = data["throughput"]["utilization"]
    six_nt_hours = 6 * 13.0e9 * 20e9 / (8 * 989e12 * u) / 3600
    assert 1.0 < data["time_hours"] / six_nt_hours < 1.3
    assert data["memory"]["fits"]


def test_checkpointing_mode_selective_between_full_and_none(capsys):
    base = "--model llama-3.1-8b --task train --gpu 'H100 SXM' --gpus 8 --zero 3 --seq-len 8192"
    activations = {}
    for mode, extra in (
        ("none", ""),
        ("full", " --checkpointing"),
        ("selective", " --checkpointing-mode selective"),
    ):
        assert run([*args(base + extra), "-f", "json"]) == 0
        data = json.loads(capsys.readouterr().out)
        activations[mode] = data["memory"]["activations_gb"]
    assert activations["full"] < activations["selective"] < activations["none"]


def test_markdown_and_output_file(tmp_path, capsys):
    out = tmp_path / "e.md"
    assert run([*args(ISSUE_COMMANDS[0]), "-f", "markdown", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# dlrig estimate — llama-3-8b") and "| weights |" in text


def test_parts_models_lists_presets(capsys):
    assert run(["parts", "models"]) == 0
    out = capsys.readouterr().out
    for name in ("resnet50", "llama-3-70b", "mixtral-8x7b", "qwen2.5-0.5b"):
        assert name in out
    assert run(["parts", "models", "-f", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) >= 16


BAD = [
    (
        "--model llama-3-9b --task lora --gpu 'RTX 4090'",
        r"unknown model 'llama-3-9b'; did you mean 'llama-3-8b'",
    ),
    (
        "--model llama-3-8b --task lora --gpu 'RTX 4009'",
        r"unknown GPU 'RTX 4009'; did you mean 'GeForce RTX 4090'",
    ),
    (
        "--task lora --gpu 'RTX 4090'",
        r"give exactly one of --model NAME, --config FILE or --params N \(got none\)",
    ),
    ("--model gpt2 --params 1e9 --task train --gpu 'RTX 4090'", r"\(got --model and --params\)"),
    (
        "--params 0 --task train --gpu 'RTX 4090'",
        r"--params: expected a count between 1e3 and 1e13, got 0",
    ),
    ("--params -5e9 --task train --gpu 'RTX 4090'", r"--params: expected a count"),
    (
        "--model gpt2 --task train --gpu 'RTX 4090' --gpus 0",
        r"Invalid value for '--gpus': .*greater than or equal to 1",
    ),
    ("--model gpt2 --task train --gpu 'RTX 4090' --batch-size -1", r"--batch-size"),
    (
        "--model gpt2 --task train --gpu 'RTX 4090' --zero 4",
        r"Invalid value for '--zero': .*less than or equal to 3",
    ),
    (
        "--model gpt2 --task train --gpu 'RTX 4090' --mfu 1.5",
        r"--mfu: expected.*less than or equal to 1",
    ),
    (
        "--model gpt2 --task train --gpu 'RTX 4090' --tokens 0",
        r"--tokens: expected.*greater than 0",
    ),
    ("--model gpt2 --task finetune --gpu 'RTX 4090'", r"'finetune' is not one of"),
    (
        "--model gpt2 --task train --gpu 'RTX 4090' --quant int4",
        r"--quant int4 with --task train: stores inference weights",
    ),
    (
        "--model llama-3-8b --task qlora --gpu 'RTX 4090' --quant int8",
        r"--quant int8 with --task qlora: stores inference weights; .* is --base-quant",
    ),
    ("--model resnet50 --task qlora --gpu 'RTX 4090'", r"LoRA needs a transformer"),
    (
        "--model gpt2 --task train --gpu 'RTX 4090' --memory-format nchw",
        r"--memory-format nchw: is a CNN's layout; gpt2 is a decoder",
    ),
    (
        "--model llama-3-8b --task infer --gpu 'RTX 4090' --lora-rank 8",
        r"--lora-rank 8 with --task infer: applies to LoRA and QLoRA only",
    ),
    (
        "--model llama-3-8b --task train --gpu 'RTX 4090' --lora-targets qv",
        r"--lora-targets qv with --task train: applies to LoRA and QLoRA only",
    ),
    (
        "--model llama-3-8b --task train --gpu 'RTX 4090' --engine hf",
        r"--engine transformers with --task train: applies to inference only",
    ),
    (
        f"--config {HF / 'tokenizer_config.json'} --task infer --gpu 'RTX 4090'",
        r"tokenizer_config\.json: num_hidden_layers: missing: not a Hugging Face model config",
    ),
    (
        f"--config {HF / 'truncated.config.json'} --task infer --gpu 'RTX 4090'",
        r"truncated\.config\.json: not valid JSON",
    ),
    (f"--config {HF} --task infer --gpu 'RTX 4090'", r"is a directory"),
    (
        "--model llama-3-8b --task infer --gpu 'RTX 4090' --seq-len 2048",
        r"--seq-len 2048 with --task infer: is a training or encoder input length; a "
        r"generation's is --context",
    ),
    (
        "--model bert-large --task infer --gpu 'RTX 4090' --gpus 2 --tp 2",
        r"--tp 2: splits a generation's model; bert-large generates nothing",
    ),
    (
        "--model resnet50 --task infer --gpu 'RTX 4090' --engine vllm",
        r"--engine vllm: is a generation's setting; resnet50 generates nothing",
    ),
    (
        "--model bert-base --task infer --gpu 'RTX 4090' --kv-dtype fp8",
        r"--kv-dtype fp8: is a generation's setting; bert-base generates nothing",
    ),
    (
        "--model resnet50 --task infer --gpu 'RTX 4090' --context 100",
        r"--context 100: is a text length; resnet50's input is an image",
    ),
    (
        "--model vit-b16 --task infer --gpu 'RTX 4090' --seq-len 384",
        r"--seq-len 384 with --task infer: is a text input length; an image model's input",
    ),
    (
        "--model llama-3-8b --task infer --gpu 'RTX 4090' --host-link-gbs 20",
        r"--host-link-gbs 20\.0 with --task infer: applies to training only",
    ),
    (
        "--model llama-3-8b --task train --gpu 'RTX 4090' --host-link-gbs 0",
        r"--host-link-gbs: .*greater than 0",
    ),
    (
        "--model llama-3-8b --task train --gpu 'RTX 4090' --host-link-gbs 2e6",
        r"--host-link-gbs: .*less than or equal to 1000",
    ),
    (
        "--model llama-3-8b --task infer --gpu 'RTX 4090' --checkpointing-mode selective",
        r"--checkpointing-mode selective with --task infer: applies to training only",
    ),
    (
        "--model resnet50 --task train --gpu 'RTX 4090' --checkpointing-mode selective",
        r"--checkpointing-mode selective: is a transformer block's policy; resnet50 is a cnn",
    ),
    (
        "--model mixtral-8x7b --task infer --gpu 'H100 SXM' --gpus 2 --ep 2 --etp 1",
        r"--etp 1 with --task infer: applies to training only",
    ),
    (
        "--model mixtral-8x7b --task train --gpu 'H100 SXM' --gpus 8 --tp 2 --ep 8",
        r"--ep 8 does not divide the 4 GPUs it is spread over .*Megatron folds experts with --etp",
    ),
    (
        "--model llama-3-8b --task infer --gpu 'RTX 4090' --grad-buffers persistent",
        r"--grad-buffers persistent with --task infer: applies to training only",
    ),
    (
        "--model llama-3-8b --task train --gpu 'RTX 4090' --grad-buffers zeroed",
        r"--grad-buffers",
    ),
    (
        "--config /no/such/config.json --task infer --gpu 'RTX 4090'",
        r"/no/such/config\.json: file not found",
    ),
]


@pytest.mark.parametrize(("line", "message"), BAD)
def test_bad_input_is_one_line_and_exit_2(line, message, capsys):
    import re

    assert run(args(line)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("dlrig: error: ")
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_offload_names_the_host_link_it_moves_over(capsys):
    base = "--model llama-3-8b --task train --gpu 'RTX 4090' --offload optimizer --seq-len 512"
    assert run([*args(base + " --host-link-gbs 3.1"), "--no-color"]) == 0
    measured = " ".join(capsys.readouterr().out.split())
    assert "moved over the measured host link at 3.1 GB/s" in measured
    assert run([*args(base), "--no-color"]) == 0
    # RTX 4090: PCIe 4.0 x16, 31.5 GB/s line rate, host copies at 0.8 of it
    assert "moved over PCIe 4.0 x16 host copies at 25.2 GB/s" in " ".join(
        capsys.readouterr().out.split()
    )


def test_nemo_is_a_16bit_lora_base_only(capsys):
    line = "--model llama-2-7b --gpu 'A100 80GB SXM' --framework nemo --task"
    assert run([*args(f"{line} qlora"), "--no-color"]) == 2
    err = capsys.readouterr().err
    assert "--framework nemo with --task qlora" in err and "give --task lora" in err
    assert run([*args(f"{line} lora"), "--no-color"]) == 0


def test_a_model_without_a_preset_is_told_how_to_describe_it(capsys):
    from dlrig.cli import run

    argv = ["estimate", "--model", "gemma-2-27b", "--gpu", "RTX 4090", "--task", "infer"]
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown model 'gemma-2-27b'" in err and "'gemma-2-9b'" in err
    assert "--config" in err and "--params" in err
