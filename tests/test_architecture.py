"""The dependency arrow: the core never imports UI, hardware or ML libraries."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "dlrig.model.load",
    "dlrig.catalog.resolve",
    "dlrig.rules",
    "dlrig.estimate",
    "dlrig.estimate.request",
    "dlrig.model.architecture",
    "dlrig.report.json",
    "dlrig.report.markdown",
]
FORBIDDEN = ["typer", "rich", "pynvml", "psutil", "torch", "click"]


def test_core_imports_no_ui_hardware_or_ml_library():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_estimate_and_rules_import_in_either_order():
    # rules.workload uses the estimator and the estimator uses rules.thresholds: no cycle.
    for first in ("dlrig.estimate", "dlrig.rules", "dlrig.estimate.job", "dlrig.rules.workload"):
        code = f"import {first}\nimport dlrig.estimate, dlrig.rules\nprint('ok')"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.stdout.strip() == "ok", out.stderr


# The layers, lowest first; a module may import its own layer and those below, never above.
LAYERS = [
    {"errors", "model"},
    {"catalog"},
    {"estimate"},
    {"rules"},
    {"probe", "recommend", "pipeline"},
    {"report"},
    {"serve"},
    {"cli", "__main__", "__init__"},
]


def _layer(part: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if part in names)


def _imports(path, package: list[str]):
    """Every dlrig module `path` imports, at any depth (functions, TYPE_CHECKING included)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package[: len(package) - node.level + 1]
                names = [".".join([*base, node.module] if node.module else base)]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            if name == "dlrig" or name.startswith("dlrig."):
                yield node.lineno, name


def upward_imports(src) -> list[str]:
    bad = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src.parent).with_suffix("").parts  # ("dlrig", "rules", "gpu")
        mine = _layer(rel[1])
        for line, name in sorted(_imports(path, list(rel[:-1]))):
            parts = name.split(".")
            if len(parts) < 2:
                continue  # `import dlrig`
            theirs = _layer(parts[1])
            if theirs > mine:
                bad.append(f"{'/'.join(rel)}.py:{line} imports {name}")
    return bad


def test_no_layer_imports_a_higher_one():
    """model -> catalog -> estimate -> rules -> probe/recommend/pipeline -> report -> cli."""
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "dlrig"
    assert upward_imports(src) == []


def test_the_layer_walk_sees_lazy_and_relative_imports(tmp_path):
    pkg = tmp_path / "dlrig"
    (pkg / "pipeline").mkdir(parents=True)
    (pkg / "pipeline" / "result.py").write_text(
        "def f():\n    from dlrig.report.pipeline import x\nfrom ..report import y\n"
    )
    (pkg / "report").mkdir()
    (pkg / "report" / "pipeline.py").write_text("from dlrig.pipeline.result import f\n")
    assert upward_imports(pkg) == [
        "dlrig/pipeline/result.py:2 imports dlrig.report.pipeline",
        "dlrig/pipeline/result.py:3 imports dlrig.report",
    ]
