"""What each /api/ route does, as plain functions of parsed JSON: no web framework here, so each
is tested on its own and the routes (serve/app.py) only move bytes.

Every function returns the same text the command line prints with `--format json` (the same
schema: dlrig.check/1, dlrig.estimate/2, dlrig.recommend/1, the parts listings), or raises a
DlrigError whose one line is the command line's.
"""

from __future__ import annotations

import json
import threading
from datetime import date
from functools import lru_cache
from typing import Any, get_args

from dlrig.errors import BuildFileError, DlrigError

# What the page calls a build it sent (error lines start with it, as a file's name would).
PAGE_BUILD = "build"
# matplotlib's pyplot keeps global state (the current figure, rc settings): one chart at a time.
_CHART_LOCK = threading.Lock()
_REPORT_LOCK = threading.Lock()
REPORTS_KEPT = 16  # the last few edits' reports (undo, the charts request of the same edit)


def _build(data: Any, shown: str = PAGE_BUILD) -> Any:
    """The resolved Build for a build file's content sent as a JSON object."""
    from dlrig.catalog.resolve import resolve
    from dlrig.model.load import parse_build

    if not isinstance(data, dict):
        raise BuildFileError(shown, "", "expected a JSON object with the build file's tables")
    if "cluster" in data:
        raise BuildFileError(
            shown, "cluster", "cluster files are checked with 'dlrig check CLUSTER.toml'"
        )
    return resolve(parse_build(data, shown), shown)


def check_report(data: Any) -> Any:
    """The check of the build `data`. The page asks for the findings and the charts of each
    edit at once: the second request waits for the first and reuses its report (a pure
    function of the build), so one edit runs the rules once."""
    try:
        key = json.dumps(data, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        key = None  # not plain JSON: _build refuses it below, uncached
    if key is None:
        return _check(data)
    with _REPORT_LOCK:
        return _cached_check(key)


def _check(data: Any) -> Any:
    from dlrig.rules import check

    return check(_build(data))


@lru_cache(maxsize=REPORTS_KEPT)
def _cached_check(key: str) -> Any:
    return _check(json.loads(key))


def check_json(data: Any) -> str:
    """`dlrig check --format json` of the build `data`."""
    from dlrig.report.json import render

    return render(check_report(data))


def check_markdown(data: Any) -> str:
    from dlrig.report.markdown import render

    return render(check_report(data))


def check_charts(data: Any) -> list[str]:
    """The HTML report's charts of the build (power, data chain, memory against the workload)
    as inline SVG."""
    from dlrig.report.html import check_charts as charts

    report = check_report(data)
    with _CHART_LOCK:
        return [str(c) for c in charts.all_charts(report)]


def build_toml(data: Any) -> str:
    """The build as a TOML file that `dlrig check` reads: validated first, so the page never
    exports a file the command line would refuse."""
    import tomli_w

    _build(data)
    return tomli_w.dumps(data)


def parse_toml(text: Any) -> dict[str, Any]:
    """A pasted TOML build file as the JSON object the page edits (validated)."""
    from dlrig.model.load import parse_toml_text

    if not isinstance(text, str):
        raise BuildFileError(PAGE_BUILD, "toml", "expected the TOML file's text as a string")
    data = parse_toml_text(text, PAGE_BUILD)
    _build(data)
    return data


def _estimate(options: Any) -> Any:
    from dlrig.estimate import estimate
    from dlrig.estimate.request import job_from_options

    if not isinstance(options, dict):
        raise DlrigError('estimate: expected a JSON object of options, e.g. {"gpu": ...}')
    spec, job = job_from_options(options, allow_config=False)
    return estimate(spec, job)


def estimate_json(options: Any) -> str:
    """`dlrig estimate --format json` for `options` (the command line's names: gpu, task,
    model or params, seq_len, ...; a config.json path is not taken over the web)."""
    from dlrig.report.estimate import render_json

    return render_json(_estimate(options))


def estimate_charts(options: Any) -> list[str]:
    from dlrig.report.html import estimate_charts as charts

    result = _estimate(options)
    with _CHART_LOCK:
        return [str(c) for c in charts.all_charts(result)]


def _recommend(options: Any) -> Any:
    from dlrig.recommend.options import parse_options, recommend_for

    return recommend_for(parse_options(options, "recommend"), today=date.today())


def recommend_json(options: Any) -> str:
    """`dlrig recommend --format json` for `options` (budget, workload, currency, ...)."""
    from dlrig.report.recommend import render_json

    return render_json(_recommend(options))


def recommend_charts(options: Any) -> list[str]:
    from dlrig.report.html import recommend_page

    result = _recommend(options)
    with _CHART_LOCK:
        return [str(c) for c in recommend_page.charts(result)]


def parts_json(name: str, currency: str | None, region: str | None, vat: float | None) -> str:
    """`dlrig parts NAME --format json`."""
    from dlrig.report.parts_listing import LISTINGS, listing, price_context

    if name not in LISTINGS:
        from dlrig.errors import did_you_mean

        raise DlrigError(f"parts: unknown listing {name!r}{did_you_mean(name, sorted(LISTINGS))}")
    return listing(name, "json", price_context(currency, region, vat, date.today()))


def initial_build(path: Any) -> dict[str, Any]:
    """The build file given to `dlrig serve`, read as `dlrig check` reads it and validated."""
    from dlrig.model.load import read_toml

    data = read_toml(path, "a TOML build file")
    _build(data, str(path))
    return data


# The build-file keys the page offers as drop-downs: their allowed values come from the build
# file's own model (model/build.py), so the page never offers a value `dlrig check` refuses.
CHOICE_KEYS = (
    "psu.rating",
    "storage.kind",
    "workload.task",
    "workload.precision",
    "workload.quant",
    "workload.engine",
    "workload.checkpointing",
    "workload.framework",
    "workload.grad_buffers",
)


def choices() -> dict[str, list[Any]]:
    """{"psu.rating": ["none", "white", ...], ...} for CHOICE_KEYS."""
    from dlrig.model.build import BuildFile
    from dlrig.model.messages import _field_annotation

    out: dict[str, list[Any]] = {}
    for key in CHOICE_KEYS:
        literal = _field_annotation(tuple(key.split(".")), BuildFile)
        out[key] = [v for v in get_args(literal) if v is not None]
    return out


def workload_estimate_keys() -> list[str]:
    """The [workload] keys the page's estimate passes to /api/estimate: the ones `dlrig check`
    hands the estimator (rules/workload.py JOB_FIELDS) and the model, so the page estimates
    the build's workload as check does, engine and parallel plan included."""
    from dlrig.rules.workload import JOB_FIELDS

    return ["model", *JOB_FIELDS]
