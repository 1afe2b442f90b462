"""Heavy libraries load only on the paths that use them (issue 16: start-up). Which modules a
command imports, never how long it takes: `benchmarks/cli_start.py` prints the time ratio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "guide-2015-4gpu.toml")
HEAVY = ("numpy", "matplotlib", "jinja2", "pynvml", "psutil", "torch")
PROBE = (
    "import contextlib, io, sys\n"
    "from dlrig.cli import run\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    code = run(sys.argv[1:])\n"
    f"print(code, ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
)


def heavy_modules_after(*argv: str) -> tuple[int, set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    return int(out[0]), set(out[1].split(",")) if len(out) > 1 else set()


@pytest.mark.parametrize(
    "argv",
    [
        ["check", EXAMPLE],
        ["check", EXAMPLE, "--format", "json"],
        ["check", EXAMPLE, "--format", "markdown"],
        ["estimate", "--model", "llama-3-8b", "--task", "infer", "--gpu", "RTX 4090"],
    ],
    ids=["check", "check-json", "check-markdown", "estimate"],
)
def test_text_outputs_import_no_heavy_library(argv):
    code, heavy = heavy_modules_after(*argv)
    assert code in (0, 1)
    assert heavy == set()


def test_html_output_does_load_its_libraries(tmp_path):
    """The probe above sees imports: the HTML path really does load matplotlib and jinja2."""
    code, heavy = heavy_modules_after(
        "check", EXAMPLE, "--format", "html", "-o", str(tmp_path / "r.html")
    )
    assert code in (0, 1)
    assert {"matplotlib", "jinja2"} <= heavy


def test_a_training_script_printing_a_profile_loads_no_ui_library():
    """`print(profile(...))` in a training script: plain text from the pipeline layer, which
    imports neither the report layer nor rich (issue 16 broke the pipeline <-> report cycle)."""
    code = (
        "import sys\n"
        "from dlrig.pipeline import profile\n"
        "r = profile(range(30), lambda b: None, steps=10, device='cpu')\n"
        "text = str(r)\n"
        "assert 'verdict:' in text and 'bottleneck:' in text, text\n"
        "print(','.join(m for m in ('rich', 'dlrig.report', 'typer') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""


def dlrig_modules_after(*argv: str) -> set[str]:
    """The dlrig modules loaded once `dlrig ARGV` has run in a fresh interpreter."""
    code = (
        "import contextlib, io, sys\n"
        "from dlrig.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    run(sys.argv[1:])\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] == 'dlrig')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(out.stdout.split())


# What `check` of a build file needs, and nothing more: the CLI (every command module registers
# its command, for `dlrig --help`), the build and finding models, the catalog it looks parts up
# in, the rules, and the one renderer asked for.
def _package(name: str, modules: str) -> set[str]:
    return {name} | {f"{name}.{m}" for m in modules.split()}


CHECK_NEEDS = (
    {"dlrig", "dlrig.errors"}
    | _package("dlrig.cli", "app check parts estimate recommend probe pipeline serve")
    | _package("dlrig.model", "build choices files finding load messages parts price report")
    | _package("dlrig.model", "text thresholds workload")
    | _package("dlrig.catalog", "load lookup resolve stacks")
    | _package("dlrig.rules", "base board cpu energy gpu memory pcie physical placement")
    | _package("dlrig.rules", "platform power software storage thermal workload")
    | _package("dlrig.report", "interface common")
)


@pytest.mark.parametrize(
    ("fmt", "renderer"),
    [("terminal", "dlrig.report.terminal"), ("json", "dlrig.report.json")],
)
def test_check_imports_only_what_it_needs(fmt, renderer):
    """`check` of a build (no cluster, no model in its workload) loads no estimator, market,
    recommender, probe, pipeline, cluster or other renderer: each costs start-up time on every
    `check` (issue 16). A module that check starts to need is added to CHECK_NEEDS on purpose."""
    loaded = dlrig_modules_after("check", EXAMPLE, "--format", fmt)
    assert loaded - CHECK_NEEDS - {renderer} == set()
    assert renderer in loaded


def test_check_loads_no_market_cluster_or_recommend_models():
    """`check` of a build needs the parts catalog (and, for gpu-choice, today's GPU prices), not
    the rest of the market, the recommender or the cluster fabrics."""
    loaded = dlrig_modules_after("check", EXAMPLE)
    unwanted = ("dlrig.model.market", "dlrig.model.cluster", "dlrig.recommend")
    assert {m for m in loaded if m.startswith(unwanted)} == set()


def test_a_workload_with_a_model_loads_the_estimator_with_check():
    """The import-set probe sees lazy imports: a build whose workload names a model does load
    the estimator (the gpu-memory rule), so the assertion above is not vacuous."""
    loaded = dlrig_modules_after("check", str(ROOT / "examples" / "llama3-8b-lora-4090.toml"))
    assert "dlrig.estimate" in loaded


@pytest.mark.parametrize(
    ("argv", "commands"),
    [
        (["check", EXAMPLE], ["check"]),
        (["--debug", "check", EXAMPLE], ["check"]),
        (["parts", "gpus"], ["parts"]),
        (["estimate", "--help"], ["estimate"]),
    ],
)
def test_typer_builds_only_the_command_that_runs(argv, commands):
    """typer builds a click command, parameters and all, for every command the app holds before
    it reads the arguments: `app_for` hands it only the command argv names."""
    from dlrig.cli import app, app_for

    narrowed = app_for(argv)
    names = [c.callback.__name__ for c in narrowed.registered_commands]
    names += [g.name for g in narrowed.registered_groups]
    assert names == commands
    assert narrowed is not app
    assert len(app.registered_commands) + len(app.registered_groups) > 1  # app itself unchanged


@pytest.mark.parametrize(
    "argv",
    [[], ["--help"], ["--version"], ["--help", "check"], ["chek", EXAMPLE], ["--", "check"]],
)
def test_help_version_and_unknown_commands_get_the_whole_app(argv):
    """The command list, `--version` and the "did you mean" of a misspelt command need every
    command: nothing is narrowed unless argv starts with a command's name (after --debug)."""
    from dlrig.cli import app, app_for

    assert app_for(argv) is app
