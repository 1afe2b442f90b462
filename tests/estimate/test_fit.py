"""The cheapest changes that make a job fit, as `dlrig estimate` flags and [workload] lines."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate import estimate
from dlrig.estimate.fit import candidates, fixes, model_states_gb
from dlrig.estimate.job import memory
from estimate_helpers import job


def test_fitting_job_has_no_fixes():
    assert estimate(find_model("gpt2"), job(batch_size=8)).fixes == []


def test_every_fix_offered_really_fits():
    m = find_model("llama-3-8b")
    j = job(task="lora", batch_size=4, seq_len=2048)
    assert not memory(m, j).fits
    found = fixes(m, j, style="flag")
    assert found[0] == "--checkpointing and --loss chunked (torchtune, or Liger's fused loss)"
    assert memory(m, j.model_copy(update={"checkpointing": True, "loss": "chunked"})).fits
    assert estimate(m, j).fixes == found


def test_toml_style_names_the_workload_keys():
    m = find_model("llama-3-8b")
    found = fixes(m, job(task="lora", batch_size=4, seq_len=2048), style="toml")
    assert found[0].startswith('checkpointing = true and loss = "chunked"')


def test_cnn_fixes_do_not_offer_checkpointing_or_a_loss():
    m = find_model("resnet50")
    j = job("GTX 680", batch_size=256, precision="fp32")
    texts = [c.flag for c in candidates(m, j)]
    assert not any("checkpointing" in t or "--loss" in t for t in texts)
    assert fixes(m, j)[0].startswith("--batch-size 1")


def test_nothing_fits_reports_model_state_size():
    m = find_model("llama-3.1-405b")
    j = job(seq_len=8192)
    assert fixes(m, j) == []
    # 16 bytes per parameter for mixed-precision Adam (ZeRO paper): 16 x 405.9e9 = 6.5 TB.
    assert model_states_gb(m, j) == pytest.approx(16 * m.params_total / 1e9)
