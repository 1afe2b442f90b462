"""The CUDA code paths against the REAL torch module (skipped without torch; no GPU needed).

The prefetcher, the CUDA clock, the profiler and the probe's torch benchmarks only ever ran over
stand-ins here. These tests read those modules with `ast`, take every attribute chain hung off the
torch module (`torch.cuda.Event`, `tc.backends.cuda.matmul.allow_tf32`, ...) and every method the
code calls on a tensor, event or stream, and check each against the installed torch: the name
resolves, and every keyword the code passes is one the real callable takes. The CPU build carries
the whole `torch.cuda` Python surface, so a misspelt name or keyword fails here, not on a GPU.

The stand-ins are held to the same API: a fake may not offer a method, or an optional keyword, the
real torch lacks, and defaults both spell out must agree.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "dlrig"
MODULES = {
    "pipeline/cuda.py": SRC / "pipeline" / "cuda.py",
    "pipeline/prefetch.py": SRC / "pipeline" / "prefetch.py",
    "pipeline/clock.py": SRC / "pipeline" / "clock.py",
    "pipeline/profile.py": SRC / "pipeline" / "profile.py",
    "probe/torch_bench.py": SRC / "probe" / "torch_bench.py",
}
TORCH_NAMES = {"torch", "tc"}  # names the modules give the torch module (plus `self.torch`)
# Chains the code reads only where torch has them (it catches the AttributeError), by the torch
# release that added them; dlrig supports torch >= 2.1.
SINCE = {("backends", "cuda", "matmul", "fp32_precision"): "2.9"}

# Methods the modules call on objects torch hands out, and the real class that must have them.
OWNERS: dict[str, Any] = {
    "pin_memory": torch.Tensor,
    "is_pinned": torch.Tensor,
    "copy_": torch.Tensor,
    "to": torch.Tensor,
    "record": torch.cuda.Event,
    "query": torch.cuda.Event,
    "synchronize": torch.cuda.Event,
    "elapsed_time": torch.cuda.Event,
    "wait_event": torch.cuda.Stream,
}
# Method calls that are not torch: containers, strings, queues, threads, dlrig's own objects.
NOT_TORCH = {
    "append", "popleft", "put", "get", "get_nowait", "empty", "is_set", "set", "is_alive",
    "join", "start", "close", "isdigit", "lower", "partition", "startswith", "strip",
    "removeprefix", "splitlines", "items", "setdefault", "missing", "gpu",
    "deliver", "mark", "sync", "seconds",  # CudaStage (cuda.py), the clocks (clock.py)
}  # fmt: skip


# -- reading the modules ----------------------------------------------------------------------


def _chain(node: ast.AST, aliases: dict[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    """('cuda', 'Event') for `torch.cuda.Event`; None when `node` does not hang off torch."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        if node.attr == "torch" and isinstance(node.value, ast.Name) and node.value.id == "self":
            return tuple(reversed(attrs))
        attrs.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        if node.id in TORCH_NAMES:
            return tuple(reversed(attrs))
        if node.id in aliases:
            return aliases[node.id] + tuple(reversed(attrs))
    return None


def _aliases(tree: ast.Module) -> dict[str, tuple[str, ...]]:
    """Local names bound to a torch attribute chain (`matmul = tc.backends.cuda.matmul`)."""
    found: dict[str, tuple[str, ...]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            chain = _chain(node.value, {})
            if isinstance(target, ast.Name) and target.id not in TORCH_NAMES and chain:
                assert found.get(target.id, chain) == chain, f"{target.id} names two chains"
                found[target.id] = chain
    return found


def _uses(path: Path) -> tuple[dict[tuple[str, ...], set[str]], dict[str, set[str]], set[str]]:
    """(torch chains -> keywords passed when called, method name -> keywords, other methods)."""
    tree = ast.parse(path.read_text())
    aliases = _aliases(tree)
    own = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    modules = {
        a.asname or a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    } - TORCH_NAMES
    chains: dict[tuple[str, ...], set[str]] = {}
    methods: dict[str, set[str]] = {}
    other: set[str] = set()
    called = {id(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain = _chain(node, aliases)
        call = called.get(id(node))
        keywords = {k.arg for k in call.keywords if k.arg} if call else set()
        if chain is not None:
            # Only the longest chain counts: `torch.cuda` inside `torch.cuda.Event` is a prefix.
            chains.setdefault(chain, set()).update(keywords)
        elif call is not None:
            receiver = node.value
            while isinstance(receiver, ast.Attribute | ast.Subscript | ast.Call):
                receiver = receiver.func if isinstance(receiver, ast.Call) else receiver.value
            if isinstance(receiver, ast.Name) and receiver.id in modules:
                continue  # time.perf_counter, threading.Thread, ...
            if node.attr in OWNERS:
                methods.setdefault(node.attr, set()).update(keywords)
            elif node.attr not in own:
                other.add(node.attr)
    longest = {c: k for c, k in chains.items() if not any(d[: len(c)] == c != d for d in chains)}
    # A prefix that is itself called (`torch.cuda.stream(s)`) still counts.
    longest.update({c: k for c, k in chains.items() if k})
    return longest, methods, other


USES = {name: _uses(path) for name, path in MODULES.items()}


# -- what a real callable accepts -------------------------------------------------------------


def _doc_params(fn: Any, name: str) -> dict[str, str | None] | None:
    """Parameter name -> default text, from the `name(...)` lines of a builtin's docstring."""
    doc = getattr(fn, "__doc__", None) or ""
    pattern = re.compile(rf"^\s*(?:\.\. (?:method|function):: )?{re.escape(name)}\((.*)\)")
    overloads = []
    for line in doc.splitlines():
        if m := pattern.match(line):
            parts = [p.strip().lstrip("*") for p in m.group(1).split(",")]
            overloads.append([p.partition("=") for p in parts if p])
    generic = [("args", "", ""), ("kwargs", "", "")]
    if any(o != generic for o in overloads):  # `to(*args, **kwargs)` heads the real overloads
        overloads = [o for o in overloads if o != generic]
    found = {
        key.split(":")[0].strip(): default.strip() or None
        for overload in overloads
        for key, _, default in overload
    }
    return found or None


def params(fn: Any, name: str) -> tuple[dict[str, str | None], bool]:
    """(parameter name -> default as text or None, takes **kwargs) of a real torch callable."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        doc = _doc_params(fn, name)
        assert doc is not None, f"no signature and no `{name}(...)` line in its docstring"
        return doc, "kwargs" in doc
    out = {
        p.name: None if p.default is p.empty else repr(p.default)
        for p in sig.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"
    }
    return out, any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def resolve(root: Any, chain: tuple[str, ...]) -> Any:
    obj = root
    for attr in chain:
        obj = getattr(obj, attr)
    return obj


# -- the modules against the real torch --------------------------------------------------------


@pytest.mark.parametrize("module", sorted(USES))
def test_every_torch_attribute_chain_resolves_on_the_real_torch(module):
    chains, _, _ = USES[module]
    for chain in chains:
        if chain in SINCE and torch.__version__ < SINCE[chain]:
            continue
        try:
            resolve(torch, chain)
        except AttributeError as exc:
            pytest.fail(f"{module}: torch.{'.'.join(chain)} does not exist ({exc})")


@pytest.mark.parametrize("module", sorted(USES))
def test_every_keyword_passed_to_torch_is_one_the_real_callable_takes(module):
    chains, methods, _ = USES[module]
    calls = [
        (f"torch.{'.'.join(c)}", resolve(torch, c), c[-1], kw) for c, kw in chains.items() if kw
    ]
    calls += [
        (f"{OWNERS[m].__name__}.{m}", getattr(OWNERS[m], m), m, kw) for m, kw in methods.items()
    ]
    for label, fn, name, keywords in calls:
        if not keywords:
            continue
        accepted, var_kw = params(fn, name)
        unknown = keywords - set(accepted)
        assert not unknown or var_kw, f"{module}: {label} takes no {sorted(unknown)}"


@pytest.mark.parametrize("module", sorted(USES))
def test_methods_called_on_tensors_events_and_streams_exist_on_the_real_classes(module):
    _, methods, other = USES[module]
    for name in methods:
        assert callable(getattr(OWNERS[name], name, None)), f"{OWNERS[name].__name__}.{name}"
    # Anything else called must be known not to be torch, so a new torch call cannot slip past.
    assert other <= NOT_TORCH, f"{module}: unclassified method calls {sorted(other - NOT_TORCH)}"


def test_the_scan_sees_the_calls_that_matter():
    """Guards the scanner itself: a regression that finds nothing would pass every test above."""
    cuda_chains, cuda_methods, _ = USES["pipeline/cuda.py"]
    assert {("cuda", "Stream"), ("cuda", "Event"), ("cuda", "stream"), ("empty_like",)} <= set(
        cuda_chains
    )
    assert cuda_chains[("cuda", "Stream")] == {"device"}
    assert {"copy_", "wait_event", "record", "pin_memory", "query"} <= set(cuda_methods)
    assert cuda_methods["copy_"] == {"non_blocking"}
    clock_chains, clock_methods, _ = USES["pipeline/clock.py"]
    assert clock_chains[("cuda", "Event")] == {"enable_timing"}
    assert "elapsed_time" in clock_methods
    bench_chains, _, _ = USES["probe/torch_bench.py"]
    assert bench_chains[("empty",)] == {"dtype", "device", "pin_memory"}
    assert ("backends", "cuda", "matmul", "allow_tf32") in bench_chains
    assert ("cuda", "can_device_access_peer") in bench_chains


def test_semantics_the_modules_rely_on():
    # cuda.py: a bare "cuda" has no index (the current device is used), "cuda:1" has one.
    assert torch.device("cuda").index is None and torch.device("cuda:1").index == 1
    assert torch.device("cuda:1").type == "cuda"
    assert torch.empty(1).device.type == "cpu"  # leaf.device.type == "cpu" picks host tensors
    # clock.py divides by 1e3: elapsed_time is documented in milliseconds.
    assert "milliseconds" in torch.cuda.Event.elapsed_time.__doc__
    # A timing event must be asked for; the default event cannot be timed.
    assert params(torch.cuda.Event, "Event")[0]["enable_timing"] == "False"
    # Event.record() without a stream records on the current stream.
    assert "current_stream" in torch.cuda.Event.record.__doc__
    # torch_bench: the dtypes it measures exist under these names.
    from dlrig.probe.torch_bench import MATMUL_DTYPES

    for _, dtype_name, _ in MATMUL_DTYPES:
        assert isinstance(getattr(torch, dtype_name), torch.dtype), dtype_name
    assert torch.bfloat16.itemsize == 2 and torch.uint8.itemsize == 1
    # copy_ takes non_blocking; a CPU tensor reports pinned-ness without CUDA.
    assert params(torch.Tensor.copy_, "copy_")[0]["non_blocking"] == "False"
    assert torch.empty(4).is_pinned() is False
    # CUDA errors the probe turns into reasons are RuntimeErrors.
    assert issubclass(torch.cuda.OutOfMemoryError, RuntimeError)
    if hasattr(torch, "AcceleratorError"):
        assert issubclass(torch.AcceleratorError, RuntimeError)


# -- the stand-ins against the real torch ------------------------------------------------------


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_methods(cls: type) -> dict[str, Callable[..., Any]]:
    return {
        k: v
        for k, v in vars(cls).items()
        if callable(v) and not k.startswith("_") and not isinstance(v, type)
    }


def check_fake(label: str, fake: Callable[..., Any], real: Any, name: str) -> None:
    """The fake takes no optional keyword the real lacks, nor more required arguments, and
    defaults both spell out agree."""
    sig = inspect.signature(fake)
    ps = [p for p in sig.parameters.values() if p.name != "self"]
    if not ps:
        return  # takes nothing: offers nothing the real one lacks
    real_params, real_var_kw = params(real, name)
    for p in ps:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is p.empty:
            continue
        if p.name not in real_params:
            assert real_var_kw, f"{label}: the fake takes {p.name}=, the real one does not"
            continue
        real_default = real_params[p.name]
        if real_default is not None and not real_default.startswith("torch."):
            assert repr(p.default) == real_default, f"{label}: {p.name} default differs"
    required = [p for p in ps if p.default is p.empty and p.kind is not p.VAR_POSITIONAL]
    real_required = [k for k, d in real_params.items() if d is None]
    assert len(required) <= max(len(real_required), 1) or real_var_kw, f"{label}: arity"


@pytest.fixture(scope="module")
def pipeline_fake() -> Any:
    return _load(Path(__file__).with_name("conftest.py"), "_pipeline_fake_torch")


def test_pipeline_fake_offers_only_what_real_torch_has(pipeline_fake):
    fake = pipeline_fake.fake_torch()
    pairs = [
        (pipeline_fake.FakeCuda, torch.cuda),
        (pipeline_fake.FakeStream, torch.cuda.Stream),
        (pipeline_fake.FakeEvent, torch.cuda.Event),
        (pipeline_fake.FakeTensor, torch.Tensor),
    ]
    for cls, real in pairs:
        for name, method in _fake_methods(cls).items():
            assert hasattr(real, name), f"{cls.__name__}.{name}: real {real!r} has no {name}"
            check_fake(f"{cls.__name__}.{name}", method, getattr(real, name), name)
    check_fake("empty_like", fake.empty_like, torch.empty_like, "empty_like")
    instrumentation = {"log"}  # the fake's call log, not part of the torch surface
    for name in vars(fake):
        assert name in instrumentation or hasattr(torch, name), f"fake torch.{name}"


def test_pipeline_fake_covers_every_call_the_pipeline_makes(pipeline_fake):
    """What the CUDA path calls on torch, the fake offers too, so the fake tests exercise it."""
    fake = pipeline_fake.fake_torch()
    for module in ("pipeline/cuda.py", "pipeline/clock.py", "pipeline/profile.py"):
        chains, methods, _ = USES[module]
        for chain in chains:
            resolve(fake, chain)  # AttributeError names the missing piece
        for name in methods:
            owner = {
                torch.Tensor: fake.Tensor,
                torch.cuda.Event: pipeline_fake.FakeEvent,
                torch.cuda.Stream: pipeline_fake.FakeStream,
            }[OWNERS[name]]
            assert hasattr(owner, name), f"{owner.__name__}.{name}"


def test_probe_fake_offers_only_what_real_torch_has():
    bench = _load(ROOT / "tests" / "probe" / "test_torch_bench.py", "_probe_fake_torch")
    fake = bench.FakeTorch()
    chains, methods, _ = USES["probe/torch_bench.py"]
    for chain in chains:
        try:
            member = resolve(fake, chain)
        except AttributeError:
            continue  # the fake leaves it out (e.g. fp32_precision: a torch before 2.9)
        real = resolve(torch, chain)
        if callable(member) and not isinstance(member, type):
            check_fake(f"tc.{'.'.join(chain)}", member, real, chain[-1])
    for name in vars(fake.cuda):
        assert hasattr(torch.cuda, name), f"fake torch.cuda.{name}"
    for name in _fake_methods(bench.FakeTensor):
        assert name in methods and hasattr(torch.Tensor, name), f"FakeTensor.{name}"
        check_fake(f"FakeTensor.{name}", getattr(bench.FakeTensor, name), torch.Tensor.copy_, name)
