"""Any mix of missing NVML fields gives findings or nothing, never an exception."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dlrig.probe import thresholds as t
from dlrig.probe.gpu_findings import pcie_link, persistence, power_limit, throttling
from dlrig.probe.models import GpuInfo
from dlrig.probe.result import TorchBench


def _strategy(annotation: object) -> st.SearchStrategy:
    args = set(getattr(annotation, "__args__", ()))
    if int in args:
        return st.none() | st.integers(0, 64)
    if float in args:
        return st.none() | st.floats(0, 1000, allow_nan=False)
    if bool in args:
        return st.none() | st.booleans()
    if list[str] in args:
        return st.none() | st.lists(st.sampled_from([*t.THERMAL_REASONS, "sw_power_cap"]))
    return st.none() | st.text(max_size=8)


FIELDS = {
    name: _strategy(f.annotation)
    for name, f in GpuInfo.model_fields.items()
    if name not in ("index", "unavailable")
}
gpus = st.fixed_dictionaries({}, optional=FIELDS).map(lambda kw: GpuInfo(index=0, **kw))
benches = st.none() | st.builds(
    TorchBench,
    loaded_gpu_index=st.just(0),
    sustained_pcie_gen=st.none() | st.integers(1, 5),
    sustained_pcie_width=st.none() | st.sampled_from([1, 4, 8, 16]),
    sustained_sm_clock_min_mhz=st.none() | st.floats(0, 3000),
    sustained_sm_clock_max_mhz=st.none() | st.floats(0, 3000),
)


@settings(max_examples=300, deadline=None)
@given(gpus, benches)
def test_gpu_findings_never_raise(gpu, bench):
    for finding in (
        pcie_link(gpu, bench),
        throttling(gpu, bench),
        power_limit(gpu),
        persistence([gpu]),
    ):
        assert finding is None or finding.message
