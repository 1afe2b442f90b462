"""`configs.configure`: does the workload fit this GPU x count, with which memory savers.

The recommender may turn on checkpointing, a chunked loss or ZeRO (they leave the job the same)
but never changes the task, the quantisation or the batch the user asked for.
"""

from __future__ import annotations

import re
from typing import Any

from dlrig.catalog.lookup import find_gpu
from dlrig.estimate import job as jobs
from dlrig.model.workload import Job, Task
from dlrig.recommend import Request
from dlrig.recommend.configs import ADAPTABLE_SETTINGS, configure, configure_all
from dlrig.recommend.request import parse_workload

RTX4090 = find_gpu("RTX 4090")


def request(workload: str, **job: Any) -> Request:
    model, task = parse_workload(workload)
    return Request(workload=workload, model=model, task=task, budget=10_000, max_gpus=2, job=job)


def test_lora_8b_on_a_4090_needs_checkpointing():
    req = request("llama-3-8b:lora", seq_len=2048)
    # As given it does not fit 24 GB (README: ~31 GB per GPU at seq 2048, batch 1).
    base = jobs.memory(req.model, Job(gpu=RTX4090, n_gpus=1, task=Task.LORA, seq_len=2048))
    assert base.verdict != "fits" and base.per_gpu_gb > base.capacity_gb
    c = configure(req.model, RTX4090, 1, req)
    assert c.fits and c.reason is None
    assert c.settings["checkpointing"] is True  # with a chunked loss when that is roomier
    assert c.per_gpu_gb <= base.capacity_gb
    assert c.throughput > 0 and c.batch_size >= 1
    assert c.tokens_per_sample == 2048


def test_settings_it_fits_with_are_only_memory_savers():
    req = request("llama-3-8b:lora", seq_len=2048)
    configs = configure_all(req.model, [RTX4090, find_gpu("RTX 4060 Ti 16GB")], req)
    assert len(configs) == 4  # 2 GPUs x 1..2 cards
    for c in configs:
        assert set(c.settings) <= ADAPTABLE_SETTINGS
        assert {"task", "quant", "batch_size", "seq_len"}.isdisjoint(c.settings)


def test_fits_as_given_changes_nothing():
    req = request("llama-3-8b:infer", quant="int4")
    c = configure(req.model, RTX4090, 1, req)
    assert c.fits and c.settings == {}


def test_quantisation_is_never_turned_on():
    """70B at bf16 needs ~141 GB of weights: two 24 GB cards do not hold it, and the
    recommender does not quantise on its own to make them."""
    req = request("llama-3-70b:infer")
    c = configure(req.model, RTX4090, 2, req)
    assert not c.fits and c.settings == {}
    assert re.search(r"needs [\d.]+ GB per GPU; GeForce RTX 4090 has [\d.]+ GB", c.reason)
    # With int4 asked for, 2 x 24 GB is enough and 1 x 24 GB is not.
    req = request("llama-3-70b:infer", quant="int4")
    assert configure(req.model, RTX4090, 2, req).fits
    assert not configure(req.model, RTX4090, 1, req).fits


def test_fits_nowhere_gives_the_gb_in_the_reason():
    req = request("llama-3.1-405b:train")
    gpu = find_gpu("RTX 3060 12GB")
    c = configure(req.model, gpu, 1, req)
    assert not c.fits and c.throughput == 0.0
    assert re.search(
        r"needs [\d.]+ GB per GPU even with checkpointing, a chunked loss and ZeRO; "
        r"GeForce RTX 3060 12GB has [\d.]+ GB",
        c.reason,
    )
    # The reason gives the smallest need found, far above 12 GB.
    need = float(re.search(r"needs ([\d.]+) GB", c.reason).group(1))
    assert need > 1000


def test_full_training_on_two_cards_turns_on_zero():
    """8B full training (16 B/param of weights, gradients and Adam = 128 GB) fits no single
    32 GB card; on two it does not either, whatever is sharded: 128 / 2 = 64 GB > 32 GB."""
    req = request("llama-3-8b:train", seq_len=2048)
    gpu = find_gpu("RTX 5090")
    for n in (1, 2):
        c = configure(req.model, gpu, n, req)
        assert not c.fits and "GB" in c.reason


def test_two_16_gb_cards_shard_with_zero_3():
    """LoRA of 8B at 2048 needs 18.6 GB on one 16 GB RTX 5070 Ti even with every saver; on
    two the frozen weights are sharded (ZeRO-3) and it fits."""
    req = request("llama-3-8b:lora", seq_len=2048)
    gpu = find_gpu("RTX 5070 Ti")
    one = configure(req.model, gpu, 1, req)
    assert not one.fits
    assert one.per_gpu_gb > 16 and f"{one.per_gpu_gb:.1f} GB" in one.reason
    two = configure(req.model, gpu, 2, req)
    assert two.fits and two.settings["zero"] == 3 and two.settings["checkpointing"]
