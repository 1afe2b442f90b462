"""The guide's worked numbers, reproduced through the public functions."""

from __future__ import annotations

import pytest

from dlrig.model.thresholds import GUIDE_EXAMPLE_TRANSFER_GBS
from dlrig.rules.cpu import batch_mb, cores_needed
from dlrig.rules.energy import circuit_limit_w, energy_kwh, psu_efficiency
from dlrig.rules.memory import ram_bandwidth_gbs
from dlrig.rules.pcie import dma_gbs, link_gbs, link_width, transfer_time_s
from dlrig.rules.power import guide_2018_psu_w, required_psu_w
from dlrig.rules.storage import required_read_mbs

IMAGENET_SAMPLE_BYTES = 3 * 224 * 224 * 4  # float32 tensor, 602,112 B
JPEG_BYTES = 110_000


def test_pcie_x16_rates_match_the_guide():
    assert link_gbs(2, 16) == pytest.approx(8.0)
    assert link_gbs(3, 16) == pytest.approx(15.75, abs=0.01)
    assert link_gbs(4, 16) == pytest.approx(31.5, abs=0.05)
    assert link_gbs(5, 16) == pytest.approx(63.0, abs=0.05)


def test_effective_dma_rate_is_about_12_gbs_on_pcie3_x16():
    assert dma_gbs(3, 16) == pytest.approx(12.0, abs=0.05)


def test_link_width_rounds_down_to_a_standard_width():
    assert [link_width(x) for x in (40 / 4, 40 / 3, 16, 20, 3.9, 0.5)] == [8, 8, 16, 16, 2, 0]


def test_ram_bandwidth_1600_mts_quad_channel_is_51_2_gbs():
    assert ram_bandwidth_gbs(1600, 4) == pytest.approx(51.2)


def test_imagenet_batch_is_0_077_gb_and_75_batches_per_second_at_6_4_gbs():
    batch_bytes = 128 * IMAGENET_SAMPLE_BYTES
    assert batch_bytes / 1e9 == pytest.approx(0.077, abs=0.0005)
    assert batch_mb(128, IMAGENET_SAMPLE_BYTES) == pytest.approx(77.07, abs=0.01)
    # The guide's own figure: 0.085 GB at 6.4 GB/s ≈ 13 ms ≈ 75 batches/s.
    t = transfer_time_s(0.085e9, GUIDE_EXAMPLE_TRANSFER_GBS)
    assert t == pytest.approx(0.0133, abs=0.0001)
    assert 1 / t == pytest.approx(75, abs=0.5)


def test_disk_rate_uncompressed_vs_jpeg():
    # 128 x 3 x 224 x 224 x 4 B / 0.3 s = 257 MB/s; the guide rounds 0.085 GB / 0.3 s to 290.
    assert required_read_mbs(128, IMAGENET_SAMPLE_BYTES, 0.3, 1) == pytest.approx(257, abs=0.5)
    assert required_read_mbs(128, 0.085e9 / 128, 0.3, 1) == pytest.approx(283, abs=1)
    # JPEG at ~110 KB: ≈ 47 MB/s, in the guide's "30-50 MB/s" band.
    jpeg = required_read_mbs(128, JPEG_BYTES, 0.3, 1)
    assert 30 <= jpeg <= 50
    assert jpeg == pytest.approx(46.9, abs=0.1)
    assert required_read_mbs(128, JPEG_BYTES, 0.3, 4) == pytest.approx(4 * jpeg)


def test_four_gpus_for_two_weeks_is_300_to_500_kwh_and_60_to_100_eur():
    hours = 14 * 24
    low, high = energy_kwh(1000, hours, 1.0), energy_kwh(1500, hours, 1.0)
    assert (low, high) == (pytest.approx(336), pytest.approx(504))
    assert 60 <= low * 0.20 <= 70 and 95 <= high * 0.20 <= 101
    # An 80 %-efficient PSU adds ≈ €17-25 on top (the guide says €18-26).
    extra = [
        energy_kwh(w, hours, 0.80) * 0.20 - energy_kwh(w, hours, 1.0) * 0.20 for w in (1000, 1500)
    ]
    assert extra == [pytest.approx(16.8), pytest.approx(25.2)]


def test_psu_2018_example_1250_w_becomes_1375_w():
    assert guide_2018_psu_w(150, [250, 250, 250, 250], 100) == pytest.approx(1375)
    assert required_psu_w(1250) == pytest.approx(1562.5)


def test_wall_circuit_continuous_limits():
    assert circuit_limit_w(120, 15) == pytest.approx(1440)
    assert circuit_limit_w(230, 16) == pytest.approx(2944)


def test_cpu_cores_formula():
    assert cores_needed(4, 4) == 24
    assert cores_needed(1, 2) == 7


def test_80_plus_gold_efficiency_points_and_interpolation():
    assert psu_efficiency("gold", 0.5) == pytest.approx(0.90)
    assert psu_efficiency("gold", 0.2) == pytest.approx(0.87)
    assert psu_efficiency("gold", 0.35) == pytest.approx(0.885)
    assert psu_efficiency("gold", 1.2) == pytest.approx(0.87)  # clamped
    assert psu_efficiency("gold", 0.5, mains_voltage=230) == pytest.approx(0.92)
    assert psu_efficiency("titanium", 0.1) == pytest.approx(0.90)
