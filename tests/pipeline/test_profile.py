"""profile(): measured shares and verdicts on sleep-based loops, GPU utilisation sampling,
the report's JSON and table."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dlrig.pipeline import Loop, Prefetcher, Verdict, profile
from dlrig.pipeline.gpu_util import UtilizationSampler, nvml_utilization_fn
from dlrig.pipeline.profile import detect_loop
from dlrig.pipeline.synthetic import SyntheticLoader


def sleeper(seconds: float):
    return lambda batch: time.sleep(seconds)


class VirtualTime:
    """A clock that moves only when slept on: a serial loop's stage times come out exact, so the
    verdicts below follow from the numbers given, not from how busy the machine is."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


@pytest.fixture
def vtime(monkeypatch: pytest.MonkeyPatch) -> VirtualTime:
    import importlib

    from dlrig.pipeline import clock, synthetic

    profile_mod = importlib.import_module("dlrig.pipeline.profile")  # the package re-exports a
    vt = VirtualTime()  # function of the same name
    for mod in (clock, synthetic, profile_mod):
        monkeypatch.setattr(mod, "time", vt)
    return vt


def vsleeper(vt: VirtualTime, seconds: float):
    return lambda batch: vt.sleep(seconds)


def test_input_bound_loop(vtime):
    loader = SyntheticLoader(steps=30, load_s=0.008, batch_bytes=16)
    r = profile(loader, vsleeper(vtime, 0.001), steps=20, device="cpu", cores_available=2)
    assert r.verdict == Verdict.INPUT_BOUND
    assert r.input_fraction == pytest.approx(8 / 9)
    assert r.wait_s == pytest.approx(0.008) and r.compute_s == pytest.approx(0.001)
    assert r.h2d_s == 0.0
    assert r.loop == "serial" and r.steps == 20
    # 8 ms load + 1 ms compute: halving decode (5 ms) beats overlapping (8 ms)
    assert r.top is not None and r.top.fix == "decode"
    prefetch = next(p for p in r.predictions if p.fix == "prefetch")
    assert prefetch.step_s == pytest.approx(0.008)
    assert r.bottleneck == "loader"


def test_compute_bound_loop(vtime):
    r = profile([{"x": i} for i in range(30)], vsleeper(vtime, 0.004), steps=20, device="cpu")
    assert r.verdict == Verdict.COMPUTE_BOUND
    assert r.input_fraction == 0.0 and r.compute_s == pytest.approx(0.004)
    assert r.bottleneck == "compute"


def test_prefetched_loader_is_recognised():
    loader = Prefetcher(SyntheticLoader(steps=30, load_s=0.001, batch_bytes=16))
    r = profile(loader, sleeper(0.003), steps=10, device="cpu")
    assert r.loop == "prefetched"
    prefetch = next(p for p in r.predictions if p.fix == "prefetch")
    assert not prefetch.applicable


def test_default_device_follows_torch():
    from dlrig.pipeline.profile import default_device

    r = profile(range(10), sleeper(0), steps=3)
    assert r.device == default_device()
    torch = pytest.importorskip("torch")
    assert default_device() == ("cuda" if torch.cuda.is_available() else "cpu")


def test_detect_loop_reads_num_workers():
    assert detect_loop(SyntheticLoader(steps=1, load_s=0, workers=3)) == (Loop.ASYNC_LOAD, 3)
    assert detect_loop([1, 2]) == (Loop.SERIAL, 0)
    assert detect_loop(Prefetcher(SyntheticLoader(1, 0, workers=2))) == (Loop.PREFETCHED, 2)


def test_one_shot_iterator_uses_the_loop_waits_and_says_so():
    r = profile(iter(range(40)), sleeper(0), steps=10, device="cpu")
    assert r.stages is not None
    assert any("one-shot" in n for n in r.notes)


def test_short_loader_measures_what_there_is():
    r = profile(range(5), sleeper(0), steps=100, device="cpu", warmup_steps=1)
    assert r.steps == 4


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        profile(range(5), sleeper(0), steps=0, device="cpu")
    with pytest.raises(ValueError, match="warmup_steps"):
        profile(range(5), sleeper(0), steps=1, warmup_steps=-1, device="cpu")
    with pytest.raises(ValueError, match="unknown device"):
        profile(range(5), sleeper(0), steps=1, device="tpu")
    with pytest.raises(ValueError, match="no batches"):
        profile([], sleeper(0), steps=1, device="cpu")


def test_gpu_utilisation_from_an_injected_reader():
    r = profile(range(20), sleeper(0.002), steps=10, device="cpu", utilization_fn=lambda: 42.0)
    assert r.gpu_util_pct == pytest.approx(42.0)
    assert r.gpu_util_unavailable is None


def test_gpu_utilisation_unavailable_is_a_reason_not_a_number():
    r = profile(range(20), sleeper(0), steps=5, device="cpu")
    assert r.gpu_util_pct is None and r.gpu_util_unavailable.startswith("unavailable")

    def broken() -> float:
        raise RuntimeError("driver gone")

    with UtilizationSampler(broken, interval_s=0.01) as s:
        time.sleep(0.03)
    assert s.mean_pct is None and "driver gone" in s.unavailable


def test_sampler_averages_samples():
    values = iter([10.0, 30.0] * 100)
    with UtilizationSampler(lambda: next(values), interval_s=0.005) as s:
        deadline = time.monotonic() + 30  # a bound for a stuck thread, not a speed expectation
        while len(s.samples) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
    assert len(s.samples) >= 2 and 10.0 <= s.mean_pct <= 30.0


def test_nvml_reader_degrades_without_a_gpu():
    fn, reason, close = nvml_utilization_fn(0)
    close()
    if fn is None:
        assert reason.startswith("unavailable")
    else:  # a machine with NVML and a GPU
        value = fn()
        assert value is None or 0 <= value <= 100


NVML_DATA = Path(__file__).resolve().parent.parent / "data" / "nvml"


def test_nvml_reader_over_recorded_replies():
    from dlrig.probe.fake import FakeNvml

    fn, reason, close = nvml_utilization_fn(0, FakeNvml.from_file(NVML_DATA / "healthy-4gpu.json"))
    assert fn is not None and reason == ""
    assert 0 <= fn() <= 100
    close()
    missing = FakeNvml.from_file(NVML_DATA / "nvml-missing.json")
    fn, reason, _ = nvml_utilization_fn(0, missing)
    assert fn is None and reason.startswith("unavailable: ")
    fn, reason, _ = nvml_utilization_fn(9, FakeNvml.from_file(NVML_DATA / "healthy-4gpu.json"))
    assert fn is None and "no GPU 9" in reason


def test_report_json_and_table(vtime):
    loader = SyntheticLoader(steps=20, load_s=0.004, read_s=0.002, batch_bytes=1000)
    r = profile(
        loader,
        vsleeper(vtime, 0.001),
        steps=10,
        device="cpu",
        cores_available=4,
        bytes_per_batch=1000,
        disk_read_mbs=0.5,  # 1000 B at 0.5 MB/s = 2 ms
        dataset_bytes=20_000,
        available_ram_bytes=1e9,
    )
    d = json.loads(json.dumps(r.to_dict()))
    assert d["schema"] == "dlrig.pipeline.profile/1"
    assert d["verdict"] == "input-bound"
    assert d["stages"]["read_s"] == pytest.approx(0.002)
    assert {p["fix"] for p in d["predictions"]} >= {"prefetch", "workers", "cache"}
    assert d["top"] in {p["fix"] for p in d["predictions"] if p["applicable"]}
    text = str(r)
    assert "verdict: input-bound" in text and "What if" in text and "Cache the dataset" in text
    from rich.console import Console

    console = Console(record=True, width=100)
    console.print(r)  # __rich__
    assert "Each stage alone" in console.export_text()  # plain text, no markup parsed


def test_nvml_reader_finds_the_cuda_device_by_uuid(tmp_path):
    import json

    from dlrig.probe.fake import FakeNvml

    # CUDA_VISIBLE_DEVICES=2 makes NVML's GPU 2 CUDA's device 0: the UUID finds the right row.
    data = json.loads((NVML_DATA / "healthy-4gpu.json").read_text())
    data["devices"][2]["nvmlDeviceGetUtilizationRates"] = {"gpu": 55, "memory": 20}
    path = tmp_path / "busy-gpu2.json"
    path.write_text(json.dumps(data))
    uuid = data["devices"][2]["nvmlDeviceGetUUID"].removeprefix("GPU-")
    by_uuid, _, close = nvml_utilization_fn(0, FakeNvml.from_file(path), cuda_uuid=uuid)
    assert by_uuid() == 55
    close()
    by_index, _, close = nvml_utilization_fn(0, FakeNvml.from_file(path))
    assert by_index() == 98  # without a UUID, CUDA's 0 is taken as NVML's 0
    close()
