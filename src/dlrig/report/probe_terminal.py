"""`dlrig probe` in the terminal: one table per device class (value and the command that
cross-checks it), then the findings grouped by severity; and the progress bars drawn while
measuring (on stderr, so stdout holds only the report)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dlrig.model.finding import Severity
from dlrig.probe.models import Section
from dlrig.probe.result import ProbeResult
from dlrig.report.common import HEADINGS, counts_line
from dlrig.report.terminal import STYLES, print_finding, text_console

WIDTH = 110
# Field-name suffix -> unit shown after the value (names carry their units).
UNITS = (
    ("_tflops", "TFLOPS"),
    ("_of_peak", "%"),
    ("_gbs", "GB/s"),
    ("_mbs", "MB/s"),
    ("_gb", "GB"),
    ("_tb", "TB"),
    ("_mb", "MB"),
    ("_kb", "KB"),
    ("_mhz", "MHz"),
    ("_mts", "MT/s"),
    ("_pct", "%"),
    ("_c", "°C"),
    ("_w", "W"),
    ("_s", "s"),
)
SKIP = {"unavailable", "index", "path"}
CHECK = re.compile(r"\(cross-check: (.+)\)$")


def _unit(name: str) -> str:
    return next((u for suffix, u in UNITS if name.endswith(suffix)), "")


def value_text(name: str, value: Any, reason: str | None) -> Text:
    """A field's value with its unit, or `unavailable: <reason>` dimmed."""
    if value is None or value == {} or value == []:
        if reason and reason.startswith("no limit"):
            return Text(reason, style="dim")
        if reason:
            return Text(f"unavailable: {reason}", style="yellow")
        return Text("none" if value == [] else "—", style="dim")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, float):
        shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
        return Text(f"{shown} {_unit(name)}".rstrip())
    if isinstance(value, dict):
        return Text(", ".join(f"{k} {v:g}" for k, v in value.items()) + f" {_unit(name)}".rstrip())
    if isinstance(value, list):
        return Text(", ".join(map(str, value)))
    return Text(f"{value} {_unit(name)}".rstrip())


def _check(model: type[BaseModel], name: str) -> str:
    m = CHECK.search(model.model_fields[name].description or "")
    return m.group(1) if m else ""


def section_table(title: str, section: Section, skip: set[str] = SKIP) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", box=None, pad_edge=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("")
    table.add_column("cross-check", style="dim")
    for name in type(section).model_fields:
        if name in skip:
            continue
        value = getattr(section, name)
        table.add_row(
            name, value_text(name, value, section.reason(name)), _check(type(section), name)
        )
    return table


def gpu_table(result: ProbeResult) -> Table:
    from dlrig.probe.models import GpuInfo

    table = Table(title="GPUs (NVML)", title_justify="left", title_style="bold", box=None)
    table.add_column("", style="bold", no_wrap=True)
    for g in result.gpus:
        table.add_column(f"GPU {g.index}")
    table.add_column("cross-check", style="dim")
    for name in GpuInfo.model_fields:
        if name in SKIP:
            continue
        cells = [value_text(name, getattr(g, name), g.reason(name)) for g in result.gpus]
        table.add_row(name, *cells, _check(GpuInfo, name))
    return table


def _matrix(rows: list[list[str]]) -> Table:
    table = Table(box=None)
    table.add_column("")
    for j in range(len(rows)):
        table.add_column(f"GPU{j}")
    for i, row in enumerate(rows):
        table.add_row(f"GPU{i}", *[c.removeprefix("unavailable: ")[:24] for c in row])
    return table


def render(result: ProbeResult, *, color: bool = True, host: str = "") -> str:
    buf = io.StringIO()
    console = text_console(buf, color, WIDTH)
    mode = "quick" if result.quick else "full"
    import platform

    host = host or platform.node() or "this machine"
    head = f"dlrig probe — {host} ({mode}, {result.duration_s:g} s)"
    console.print(Text(head, style="bold"))
    for title, section in (("CPU", result.cpu), ("Memory", result.memory), ("Disk", result.disk)):
        console.print()
        if section is result.disk:
            title = f"Disk under {result.disk.path}"
        console.print(section_table(title, section))
    console.print()
    if result.gpu_status != "ok":
        console.print(Text("GPUs", style="bold"))
        console.print(Text(f"  {result.gpu_status}", style="yellow"))
    elif not result.gpus:
        console.print(Text("GPUs: NVML lists none", style="bold"))
    else:
        console.print(gpu_table(result))
        system = result.gpu_system
        if system is not None:
            console.print()
            console.print(section_table("Driver", system, SKIP | {"p2p_read", "topology"}))
            if len(system.p2p_read) > 1:
                for title, rows in (
                    ("P2P read (cross-check: nvidia-smi topo -p2p r)", system.p2p_read),
                    ("Topology (cross-check: nvidia-smi topo -m)", system.topology),
                ):
                    console.print(Text(title, style="bold"))
                    console.print(_matrix(rows))
        console.print()
        _torch(result, console)
    _findings(result, console)
    return buf.getvalue()


def _torch(result: ProbeResult, console: Console) -> None:
    bench = result.torch
    reasons = set(bench.unavailable.values())
    if bench.h2d_pinned_gbs is None and not bench.matmul_tflops and len(reasons) == 1:
        console.print(Text("GPU benchmarks (PyTorch)", style="bold"))
        console.print(Text(f"  unavailable: {reasons.pop()}", style="yellow"))
        return
    console.print(section_table("GPU benchmarks (PyTorch)", bench))


def _findings(result: ProbeResult, console: Console) -> None:
    for severity in Severity:
        items = [f for f in result.findings if f.severity == severity]
        if not items:
            continue
        console.print()
        console.rule(Text(f"{HEADINGS[severity]} ({len(items)})", style=STYLES[severity]))
        for f in items:
            print_finding(f, console)
    counts = {s: sum(f.severity == s for f in result.findings) for s in Severity}
    console.print()
    console.print(
        counts_line(
            counts[Severity.ERROR],
            counts[Severity.WARNING],
            counts[Severity.INFO],
            counts[Severity.OK],
        )
    )


@contextmanager
def progress_bars(enabled: bool = True) -> Iterator[Callable[[str, float], None]]:
    """A `(step, fraction)` callback drawing one bar per step on stderr while measuring."""
    if not enabled:
        yield lambda _step, _fraction: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bars:
        tasks: dict[str, Any] = {}

        def update(step: str, fraction: float) -> None:
            if step not in tasks:
                tasks[step] = bars.add_task(step, total=1.0)
            bars.update(tasks[step], completed=min(1.0, fraction))

        yield update
