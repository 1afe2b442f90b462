"""The compute roof on a hand-made table (tests/data/matmul_rates_ok.csv, fractions in its
notes): measured cards by the median of their rows, unmeasured ones by their class's median."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrig.catalog import load
from dlrig.catalog import matmul_rates as mr
from dlrig.catalog.lookup import find_gpu, find_model
from dlrig.estimate import compute as cp
from dlrig.estimate import perf, roof
from dlrig.estimate.job import shape, throughput
from estimate_helpers import job

DATA = Path(__file__).parents[1] / "data"
TABLE = (DATA / "matmul_rates_ok.csv").read_text()


@pytest.fixture
def use_table(monkeypatch):
    def use(text: str) -> None:
        rows = mr.parse(text, load.gpus())
        monkeypatch.setattr(mr, "rates", lambda: rows)
        roof.class_fractions.cache_clear()

    yield use
    roof.class_fractions.cache_clear()


def frac(gpu: str, precision: str) -> float:
    return cp.achievable_fraction(find_gpu(gpu), precision)


def test_a_measured_card_takes_the_median_of_its_16_bit_rows(use_table):
    use_table(TABLE)
    # H100 PCIe: 378, 529.2, 453.6 of 756 (BF16 and FP16 rows pooled): median 453.6 = 0.6
    assert frac("H100 PCIe", "bf16") == pytest.approx(0.6)
    assert frac("H100 PCIe", "fp16") == pytest.approx(0.6)
    assert cp.sustained_tflops(find_gpu("H100 PCIe"), "bf16") == pytest.approx(453.6)
    assert cp.peak(find_gpu("H100 PCIe"), "bf16").tflops == 756  # the datasheet stays as it is


def test_other_precisions_use_their_own_rows_else_the_16_bit_fraction_at_most_1(use_table):
    use_table(TABLE)
    assert frac("H100 PCIe", "tf32") == pytest.approx(0.5)  # 189 of 378
    assert frac("H100 PCIe", "fp8") == pytest.approx(0.6)  # no FP8 row: the 16-bit fraction
    assert frac("RTX 4090", "bf16") == pytest.approx(1.05)  # 173.46 of 165.2
    assert frac("RTX 4090", "fp16-acc") == 1.0  # twice the measured rate: not above the sheet
    assert frac("H100 PCIe", "fp16-acc") == pytest.approx(0.6)  # the same rate on a datacenter card
    assert frac("H100 PCIe", "fp32") == 1.0  # CUDA cores: nobody measured, the datasheet


def test_an_unmeasured_card_takes_its_class_median_else_the_median_of_all(use_table):
    use_table(TABLE)
    # boards measured: H100 PCIe 0.6, L40S 0.7, A10 0.4, L4 0.8 -> median 0.65
    assert roof.card_class(find_gpu("RTX 6000 Ada")) == "board"
    assert frac("RTX 6000 Ada", "bf16") == pytest.approx(0.65)
    # one module (H100 SXM 0.8) and one half-rate card (RTX 4090 1.05) measured: too few, so
    # the median of all six cards, (0.7 + 0.8) / 2
    assert frac("B200", "bf16") == pytest.approx(0.75)
    assert roof.card_class(find_gpu("RTX 3090")) == "half-rate"
    assert frac("RTX 3090", "bf16") == pytest.approx(0.75)
    assert "not measured" in cp.roof_of(find_gpu("B200"), "bf16").basis


def test_a_precision_the_card_lacks_takes_the_rate_it_falls_back_to(use_table):
    use_table(TABLE)
    # Volta has no TF32 tensor cores: TF32 runs on the CUDA cores at the datasheet FP32 rate
    assert frac("Tesla V100 SXM2 16GB", "tf32") == 1.0
    # no FP8 on the A100: its FP8 job runs at the 16-bit rate, at the 16-bit fraction (board
    # class median 0.65, not capped: it is the 16-bit rate)
    assert frac("A100 80GB PCIe", "fp8") == pytest.approx(0.65)


def test_a_power_limited_cards_step_time_uses_its_measured_roof(use_table):
    m = find_model("gpt2")
    j = job("H100 PCIe", seq_len=1024, batch_size=8, precision="bf16")
    use_table(TABLE)
    at_06 = perf.train_work(shape(m, j), 0.5).micro_compute_s
    full = throughput(m, j)
    # the same card measured at half those rates: median 226.8 of 756 = 0.3
    use_table(TABLE.replace("453.6", "226.8").replace("529.2", "264.6").replace(",378,", ",189,"))
    assert frac("H100 PCIe", "bf16") == pytest.approx(0.3)
    at_03 = perf.train_work(shape(m, j), 0.5).micro_compute_s
    assert at_03 == pytest.approx(2 * at_06)  # GEMM time over the roof, not the datasheet
    slow = throughput(m, j)
    assert slow.tokens_per_s < full.tokens_per_s
    assert slow.peak_tflops == full.peak_tflops == 756  # the datasheet is what is shown


def test_prefill_runs_at_the_roof(use_table):
    m = find_model("llama-2-7b")
    j = job("H100 PCIe", task="infer", precision="bf16", prompt_tokens=4096, context=4224)
    use_table(TABLE)
    fast = throughput(m, j)
    use_table(TABLE.replace("453.6", "226.8").replace("529.2", "264.6").replace(",378,", ",189,"))
    slow = throughput(m, j)
    assert slow.prefill_tokens_per_s < fast.prefill_tokens_per_s
    assert slow.peak_tflops == fast.peak_tflops == 756


def test_shipped_table_puts_power_limited_boards_below_their_datasheet():
    # behaviour of the shipped data, not a number: a 150 W A10 and a 350 W H100 PCIe sustain
    # less of their datasheet than the 700 W H100 SXM, and an RTX 4090 reaches its own
    assert frac("A10", "bf16") < frac("H100 PCIe", "bf16") < frac("H100 SXM", "bf16") < 1
    assert frac("RTX 4090", "bf16") >= 1


def test_an_estimate_cites_its_roof_and_where_the_fraction_comes_from(use_table):
    from dlrig.estimate import estimate

    use_table(TABLE)
    e = estimate(find_model("gpt2"), job("H100 PCIe", seq_len=1024, batch_size=8))
    (line,) = [x for x in e.sources if x.startswith("compute roof")]
    assert line.startswith("compute roof = 453.6 TFLOPS per GPU, 0.60 of the datasheet 756 at bf16")
    assert "median of 3 measured 16-bit" in line
