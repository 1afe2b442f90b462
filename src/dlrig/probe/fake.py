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
import math
from difflib import get_close_matches
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dlrig.errors import BuildFileError

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
# Scenario bounds. A recorded scenario is a few KB (healthy-4gpu.json: 7 KB); 1 MB leaves room
# for any real machine and stops `DLRIG_FAKE_NVML=/dev/zero`-like mistakes at once.
MAX_SCENARIO_BYTES = 1_000_000
# Devices a scenario may list: more than a node holds (16, model/thresholds.MAX_GPUS_PER_NODE),
# so a scenario can replay a driver that lies about its count (the backend then reports the
# count as out of range, see probe/nvml.py), yet bounded so validation stays instant.
MAX_SCENARIO_DEVICES = 1024
MAX_SCENARIO_TEXT = 4096  # characters in one string reply (NVML names are at most 96 bytes)
# NVML return codes are small positive ints (nvml.h: 1..28, 999 for NVML_ERROR_UNKNOWN).
NVML_ERROR_CODES = range(1, 1000)
# Largest magnitude a number in a scenario may have: any float fits, so decoding never
# overflows; whether the value is plausible is the backend's call (probe/nvml.py).
MAX_SCENARIO_NUMBER = 1e300
TOP_KEYS = (
    "scenario", "description", "provenance", "init_error", "system", "devices", "p2p_read",
    "topology",
)  # fmt: skip
# What json.loads returns -> what the JSON is called, for messages about a scenario file.
JSON_KINDS = {
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    return JSON_KINDS.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, dict | list) else _kind(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bad(shown: str, key: str, expected: str, value: Any) -> BuildFileError:
    return BuildFileError(shown, key, f"expected {expected}, got {_shown(value)}")


def _check_reply(value: Any, shown: str, key: str, depth: int = 0) -> None:
    """One recorded NVML reply: a number, a string, a boolean, null, `{"error": code}`, an
    array or an object (a struct, or replies keyed by argument) of replies, two levels deep."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | float):
        if not (math.isfinite(value) and abs(value) < MAX_SCENARIO_NUMBER):
            raise _bad(shown, key, f"a finite number below {MAX_SCENARIO_NUMBER:g}", value)
        return
    if isinstance(value, str):
        if len(value) > MAX_SCENARIO_TEXT:
            raise _bad(shown, key, f"a string of at most {MAX_SCENARIO_TEXT} characters", value)
        return
    if depth >= 2:
        raise _bad(shown, key, "a number, a string, true/false or null (nested too deeply)", value)
    if isinstance(value, dict) and "error" in value:
        code = value["error"]
        if set(value) != {"error"} or isinstance(code, bool) or code not in NVML_ERROR_CODES:
            raise _bad(
                shown, f"{key}.error", '{"error": CODE} with an NVML error code 1..999', code
            )
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _check_reply(v, shown, f"{key}.{k}", depth + 1)
        return
    for i, v in enumerate(value):
        _check_reply(v, shown, f"{key}[{i}]", depth + 1)


def _check_matrix(value: Any, n: int, shown: str, key: str) -> None:
    """p2p_read / topology: n x n NVML codes (or errors), one row per device."""
    if not isinstance(value, list) or len(value) != n:
        got = f"{len(value)} rows" if isinstance(value, list) else _shown(value)
        raise BuildFileError(shown, key, f"expected {n} rows (one per device), got {got}")
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != n:
            got = f"{len(row)} codes" if isinstance(row, list) else _shown(row)
            raise BuildFileError(shown, f"{key}[{i}]", f"expected {n} codes, got {got}")
        for j, cell in enumerate(row):
            if isinstance(cell, dict):
                _check_reply(cell, shown, f"{key}[{i}][{j}]", 1)
            elif isinstance(cell, bool) or not isinstance(cell, int) or not 0 <= cell < 2**31:
                raise _bad(shown, f"{key}[{i}][{j}]", "an NVML enum value (an integer)", cell)


def validate_scenario(scenario: Any, shown: str) -> None:
    """Raise a `BuildFileError` (file, key, expectation) unless `scenario` has the shape the
    module docstring shows. Values are not judged here: a real driver can answer nonsense too,
    and the backend reports implausible values as unavailable (probe/nvml.py)."""
    if not isinstance(scenario, dict):
        problem = f"not an NVML scenario: expected a JSON object, got {_kind(scenario)}"
        raise BuildFileError(shown, "", problem)
    for key in scenario:
        if key not in TOP_KEYS:
            close = get_close_matches(str(key), TOP_KEYS, n=1)
            hint = (
                f"did you mean '{close[0]}'?" if close else f"expected one of {', '.join(TOP_KEYS)}"
            )
            raise BuildFileError(shown, str(key)[:40], f"unknown key; {hint}")
    for key in ("scenario", "description", "provenance"):
        if not isinstance(scenario.get(key, ""), str):
            raise _bad(shown, key, "a string", scenario[key])
    code = scenario.get("init_error")
    if code is not None and (isinstance(code, bool) or code not in NVML_ERROR_CODES):
        raise _bad(shown, "init_error", "null or an NVML error code (an integer 1..999)", code)
    system = scenario.get("system", {})
    if not isinstance(system, dict):
        raise _bad(shown, "system", "an object of nvmlSystem* replies", system)
    for k, v in system.items():
        _check_reply(v, shown, f"system.{k}")
    devices = scenario.get("devices", [])
    if not isinstance(devices, list):
        raise _bad(shown, "devices", "an array of objects, one per GPU", devices)
    if len(devices) > MAX_SCENARIO_DEVICES:
        raise BuildFileError(
            shown, "devices", f"expected at most {MAX_SCENARIO_DEVICES} devices, got {len(devices)}"
        )
    for i, dev in enumerate(devices):
        if not isinstance(dev, dict):
            raise _bad(shown, f"devices[{i}]", "an object of nvmlDevice* replies", dev)
        for k, v in dev.items():
            if not str(k).startswith("nvmlDevice"):
                raise BuildFileError(
                    shown,
                    f"devices[{i}].{str(k)[:40]}",
                    "unknown key; expected an nvmlDevice* function",
                )
            _check_reply(v, shown, f"devices[{i}].{k}")
    for key in ("p2p_read", "topology"):
        if key in scenario:
            _check_matrix(scenario[key], len(devices), shown, key)


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
    def from_file(cls, path: str | Path, shown: str | None = None) -> FakeNvml:
        """The scenario stored in `path`, validated like a build file: a `BuildFileError`
        naming the file (as `shown`), the key and what was expected, for a file that cannot be
        read, is not a regular file, is too large, is not JSON or does not have the shape
        `validate_scenario` describes."""
        from dlrig.model.files import read_bounded

        shown = shown or str(path)
        raw = read_bounded(Path(path), shown, MAX_SCENARIO_BYTES, "an NVML scenario (JSON)")
        try:
            scenario = json.loads(raw.decode("utf-8"))
        except RecursionError:
            raise BuildFileError(shown, "", "not an NVML scenario: nested too deeply") from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a 5000-digit integer
            raise BuildFileError(
                shown, "", f"not an NVML scenario: not valid JSON ({exc})"
            ) from None
        validate_scenario(scenario, shown)
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
