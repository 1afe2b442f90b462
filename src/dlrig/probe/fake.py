"""`FakeNvml`: an object shaped like the pynvml module that replays NVML replies stored as JSON.

`NvmlBackend(FakeNvml(...))` is the fake `GpuBackend`: the same decoding code as on a real
machine runs over recorded values, so tests cover the real path. Scenario files
(`tests/data/nvml/*.json`) look like::

    {"scenario": "x4-link", "description": "...",
     "init_error": null,                               # or an NVML error code (12: no library)
     "system": {"nvmlSystemGetDriverVersion": "550.54.15", ...},
     "devices": [{"nvmlDeviceGetName": "NVIDIA GeForce RTX 4090",
                  "nvmlDeviceGetClockInfo": {"1": 2520, "2": 10501},   # keyed by argument
                  "nvmlDeviceGetPowerUsage": {"error": 3}, ...}],       # NVML_ERROR_NOT_SUPPORTED
     "p2p_read": [[0, 5], [5, 0]], "topology": [[0, 50], [50, 0]]}

A function missing from a device's record answers Not Supported, as NVML does for counters a
card lacks. Setting `DLRIG_FAKE_NVML=<file.json>` makes `dlrig probe` use a scenario.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

# NVML return codes (nvml.h) and the text nvidia-ml-py gives them.
NVML_MESSAGES = {
    1: "Uninitialized",
    2: "Invalid Argument",
    3: "Not Supported",
    4: "Insufficient Permissions",
    9: "Driver Not Loaded",
    12: "NVML Shared Library Not Found",
    15: "GPU is lost",
    999: "Unknown Error",
}
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_INVALID_ARGUMENT = 2
# What json.loads returns -> what the JSON is called, for messages about a scenario file.
JSON_KINDS = {
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


class FakeNvmlError(Exception):
    """Stands in for pynvml.NVMLError: carries the code in `.value`."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return NVML_MESSAGES.get(self.value, f"NVML error {self.value}")


def _reply(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"error"}:
        raise FakeNvmlError(int(value["error"]))
    if isinstance(value, dict):
        return SimpleNamespace(**value)
    if isinstance(value, list):
        return tuple(value)
    return value


class FakeNvml:
    """The parts of the pynvml module dlrig calls, answered from a scenario dict."""

    NVMLError = FakeNvmlError
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED

    def __init__(self, scenario: dict[str, Any]) -> None:
        self.scenario = scenario
        self.devices: list[dict[str, Any]] = scenario.get("devices", [])
        self.initialised = False
        self.shutdowns = 0

    @classmethod
    def from_file(cls, path: str | Path) -> FakeNvml:
        """The scenario stored in `path`: OSError if it cannot be read, ValueError (starting
        'not an NVML scenario:') if it is not JSON or its top level is not an object."""
        try:
            scenario = json.loads(Path(path).read_text(encoding="utf-8"))
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise ValueError(f"not an NVML scenario: not valid JSON ({exc})") from None
        if not isinstance(scenario, dict):
            got = JSON_KINDS.get(type(scenario), type(scenario).__name__)
            raise ValueError(f"not an NVML scenario: expected a JSON object, got {got}")
        return cls(scenario)

    def __getattr__(self, name: str) -> Any:
        """Device functions `nvmlDeviceGet*(handle, *args)` replayed from the record."""
        if not name.startswith("nvmlDevice"):
            raise AttributeError(name)

        def call(handle: int, *args: Any) -> Any:
            self._need_init()
            value = self.devices[handle].get(name, {"error": NVML_ERROR_NOT_SUPPORTED})
            if isinstance(value, dict) and args and str(args[0]) in value:
                return _reply(value[str(args[0])])
            if isinstance(value, list) and name == "nvmlDeviceGetNvLinkState":
                if args[0] >= len(value):
                    raise FakeNvmlError(NVML_ERROR_INVALID_ARGUMENT)
                return _reply(value[args[0]])
            return _reply(value)

        return call

    def _need_init(self) -> None:
        if not self.initialised:
            raise FakeNvmlError(1)

    def nvmlInit(self) -> None:
        code = self.scenario.get("init_error")
        if code is not None:
            raise FakeNvmlError(int(code))
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1
        self.initialised = False

    def nvmlSystemGetDriverVersion(self) -> Any:
        self._need_init()
        return _reply(self.scenario.get("system", {}).get("nvmlSystemGetDriverVersion"))

    def nvmlSystemGetCudaDriverVersion(self) -> Any:
        self._need_init()
        return _reply(self.scenario.get("system", {}).get("nvmlSystemGetCudaDriverVersion"))

    def nvmlDeviceGetCount(self) -> int:
        self._need_init()
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self._need_init()
        if not 0 <= index < len(self.devices):
            raise FakeNvmlError(NVML_ERROR_INVALID_ARGUMENT)
        _reply(self.devices[index].get("nvmlDeviceGetHandleByIndex", index))
        return index

    def nvmlDeviceGetP2PStatus(self, a: int, b: int, _caps: int) -> Any:
        self._need_init()
        return _reply(self.scenario["p2p_read"][a][b])

    def nvmlDeviceGetTopologyCommonAncestor(self, a: int, b: int) -> Any:
        self._need_init()
        return _reply(self.scenario["topology"][a][b])
