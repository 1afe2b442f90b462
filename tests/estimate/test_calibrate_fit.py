"""The decode fit rules of benchmarks/calibrate.py on hand-computable points (the script
itself prints the LOSO table; here only what its rules must do)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("calibrate", ROOT / "benchmarks" / "calibrate.py")
calibrate = importlib.util.module_from_spec(_spec)
sys.modules["calibrate"] = calibrate  # dataclasses look their module up while the file runs
_spec.loader.exec_module(calibrate)

Times = calibrate.DecodeTimes


def test_the_per_layer_time_is_found_from_models_of_different_depth():
    # Three points at bandwidth efficiency 0.5 and 100 us per layer: read / 0.5 + layers * 1e-4.
    pts = [
        Times(read_s=1e-3, n_layers=10, comm_s=0.0, compute_s=0.0, measured_step_s=3e-3),
        Times(read_s=10e-3, n_layers=20, comm_s=0.0, compute_s=0.0, measured_step_s=22e-3),
        Times(read_s=4e-3, n_layers=40, comm_s=0.0, compute_s=0.0, measured_step_s=12e-3),
    ]
    assert calibrate.best_overhead(pts) == pytest.approx(1e-4)


def test_the_per_layer_time_never_asks_a_point_for_more_than_the_datasheet():
    # The second point leaves 0.2 ms for its 10 layers even at efficiency 1: at most 20 us.
    pts = [
        Times(read_s=1e-3, n_layers=10, comm_s=0.0, compute_s=0.0, measured_step_s=5e-3),
        Times(read_s=1e-3, n_layers=10, comm_s=0.0, compute_s=0.0, measured_step_s=1.2e-3),
    ]
    assert 0 <= calibrate.best_overhead(pts) <= 2e-5 + 1e-12


def test_communication_is_not_taken_for_per_layer_time():
    # Same as the first test with 1 ms of all-reduces on each point: the same 100 us.
    pts = [
        Times(read_s=1e-3, n_layers=10, comm_s=1e-3, compute_s=0.0, measured_step_s=4e-3),
        Times(read_s=10e-3, n_layers=20, comm_s=1e-3, compute_s=0.0, measured_step_s=23e-3),
        Times(read_s=4e-3, n_layers=40, comm_s=1e-3, compute_s=0.0, measured_step_s=13e-3),
    ]
    assert calibrate.best_overhead(pts) == pytest.approx(1e-4)


def test_an_eager_engines_host_time_overlaps_the_read():
    # Host-bound points: 1 ms per layer whatever the model's size (the read is far shorter).
    pts = [
        Times(read_s=1e-3, n_layers=24, comm_s=0.0, compute_s=0.0, measured_step_s=24e-3),
        Times(read_s=7e-3, n_layers=28, comm_s=0.0, compute_s=0.0, measured_step_s=28e-3),
        Times(read_s=15e-3, n_layers=48, comm_s=0.0, compute_s=0.0, measured_step_s=48e-3),
    ]
    assert calibrate.best_overhead(pts, overlaps=True) == pytest.approx(1e-3)
    # Added to the read instead, the same points leave at most (24 - 1) / 24 ms per layer.
    assert calibrate.best_overhead(pts) <= 23e-3 / 24 + 1e-12


def test_an_eager_engines_host_time_is_fitted_against_a_given_read_efficiency():
    # Host-bound at 1 ms per layer, except a big model whose read at efficiency 0.5 (2 x 40 ms)
    # is longer than its host time (80 layers x 1 ms): the step is the longer of the two.
    pts = [
        Times(read_s=1e-3, n_layers=24, comm_s=0.0, compute_s=0.0, measured_step_s=24e-3),
        Times(read_s=7e-3, n_layers=28, comm_s=0.0, compute_s=0.0, measured_step_s=28e-3),
        Times(read_s=60e-3, n_layers=80, comm_s=0.0, compute_s=0.0, measured_step_s=120e-3),
    ]
    assert calibrate.best_overhead(pts, overlaps=True, eff=0.5) == pytest.approx(1e-3)
    # The given efficiency is not a bound on the search: hosts of different sources differ.
    slow = [*pts, Times(read_s=1e-3, n_layers=30, comm_s=0.0, compute_s=0.0, measured_step_s=6e-3)]
    assert calibrate.best_overhead(slow, overlaps=True, eff=0.5) == pytest.approx(1e-3)


def _decode_point(engine: str, gpu: str = "RTX 4090") -> calibrate.Point:
    row = {
        "id": f"t-{engine}",
        "category": "decode",
        "task": "infer",
        "model": "llama-2-7b",
        "gpu": gpu,
        "n_gpus": "1",
        "precision": "fp16",
        "batch_size": "1",
        "gen_tokens": "128",
        "engine": engine,
        "value": "30",
        "unit": "tokens_per_s",
        "semantics": "decode_only",
        "source_id": "s",
    }
    pt = calibrate.Point(
        row["id"], "decode", "decode_bw", "s", 30.0, "tokens_per_s", "decode_only", row
    )
    calibrate.build(pt)
    return pt


def test_eager_engines_inform_no_read_efficiency_and_read_at_the_roots():
    import dlrig.estimate.calibration as cal

    eager, graphed = _decode_point("hf"), _decode_point("llama.cpp")  # hf is transformers
    empty = cal.Constants({})
    assert calibrate.host_bound(eager, empty) and not calibrate.host_bound(graphed, empty)
    root = cal.Fitted("decode_bw", 0.77, "*", 9, 9, None, None, None, "r", "")
    rows = calibrate.eager_read_rows(
        [eager, graphed], cal.Constants({("decode_bw", "*"): root}), ""
    )
    assert list(rows) == [("decode_bw", "transformers")]
    assert rows[("decode_bw", "transformers")].value == 0.77


@pytest.mark.parametrize(
    "gpu, informs",
    [("Tesla P40", False), ("Tesla V100 PCIe 16GB", False), ("Tesla P100 PCIe 16GB", False),
     ("RTX 3090", True), ("A100 80GB SXM", True)],
)  # fmt: skip
def test_llama_cpp_without_cuda_graphs_informs_no_decode_constant(gpu, informs):
    """Below compute capability 8.0 ggml-cuda launches each kernel from the host: such a point
    is scored but informs neither the read efficiency nor the per-layer time of llama.cpp's
    groups, which describe graph-replayed steps."""
    import dlrig.estimate.calibration as cal

    pt = _decode_point("llama.cpp", gpu)
    assert pt.expressible
    assert calibrate.host_bound(pt, cal.Constants({})) is not informs
    # fit_overhead takes it (two points of a group) only where it informs
    other = _decode_point("llama.cpp", gpu)
    other.id, other.source_id = "t-2", "s2"
    consts = cal.Constants(
        {("decode_bw", "*"): cal.Fitted("decode_bw", 0.8, "*", 9, 9, None, None, None, "r", "")}
    )
    rows = calibrate.fit_overhead([pt, other], consts, "")
    assert bool(rows) is informs


def _mfu_point(gpu: str, precision: str) -> object:
    from dlrig.catalog.lookup import find_gpu, find_model
    from dlrig.model.workload import Job

    m = find_model("llama-2-7b")
    return calibrate.Point(
        id="p", category="throughput", key="mfu", source_id="s", measured=1.0,
        unit="tokens_per_s", semantics="per_job", row={}, model=m,
        job=Job(task="train", gpu=find_gpu(gpu), precision=precision),
    )  # fmt: skip


def test_an_mfu_point_may_reach_the_datasheet_peak_and_no_further():
    # mfu is fitted against the sustained GEMM rate: its bound is the datasheet on that scale.
    from dlrig.catalog.lookup import find_gpu
    from dlrig.estimate import compute as cp

    for gpu in ("A100 80GB SXM", "A10", "RTX 4090"):
        frac = cp.achievable_fraction(find_gpu(gpu), "bf16")  # measured (matmul_rates.csv)
        assert calibrate.bisect_hi(_mfu_point(gpu, "bf16")) == pytest.approx(1 / frac)
    assert calibrate.bisect_hi(_mfu_point("RTX 4090", "fp32")) == 1.0  # CUDA cores


def test_a_point_faster_than_the_datasheet_allows_is_out_of_reach_and_says_so():
    # A 7B full-training step on one A100 cannot run at 10^9 tokens/s at any efficiency.
    from dlrig.estimate import job as jobs

    pt = _mfu_point("A100 80GB SXM", "bf16")
    pt.measured = 1e9
    pt.shape = jobs.shape(pt.model, pt.job)
    consts = calibrate.cal.constants()
    pt.reason = calibrate.unreachable(pt, consts)
    assert pt.reason.startswith(calibrate.UNREACHABLE)
    assert calibrate.out_of_reach(pt) and not pt.expressible
    # a point the estimator could not even build is not "out of reach": it has no prediction
    pt.shape = None
    assert not calibrate.out_of_reach(pt)


def _implied(source: str, group: tuple[str, ...], value: float, i: int = 0):
    pt = calibrate.Point(
        id=f"{source}-{'/'.join(group)}-{i}", category="throughput", key="mfu",
        source_id=source, measured=1.0, unit="tokens_per_s", semantics="per_job", row={},
        group=group,
    )  # fmt: skip
    return pt, value


def _fit(*pairs):
    pts = [p for p, _ in pairs]
    values = {p.id: v for p, v in pairs}
    return calibrate.fit_key("mfu", pts, "2026-12-06", values)


def test_a_subgroup_that_predicts_its_next_source_keeps_its_own_constant():
    # Three Ampere sources agree at 0.5; three Hopper sources at 0.8: knowing the
    # architecture predicts each left-out source exactly, the family's median does not.
    rows = _fit(
        *(_implied(s, ("llm", "lora", "Ampere"), 0.5) for s in "abc"),
        *(_implied(s, ("llm", "lora", "Hopper"), 0.8) for s in "def"),
    )
    assert rows[("mfu", "llm/lora/Ampere")].value == pytest.approx(0.5)
    assert rows[("mfu", "llm/lora/Hopper")].value == pytest.approx(0.8)


def test_a_subgroup_whose_sources_disagree_takes_its_parents_constant():
    # Ampere's three sources scatter (0.5, 0.8, 1.1) around the family's: leaving any one out,
    # the other two's median is no better a guess than the parent's, so no Ampere constant.
    rows = _fit(
        _implied("a", ("llm", "lora", "Ampere"), 0.5),
        _implied("b", ("llm", "lora", "Ampere"), 0.8),
        _implied("c", ("llm", "lora", "Ampere"), 1.1),
        *(_implied(s, ("llm", "lora", "Hopper"), 0.8) for s in "def"),
    )
    assert ("mfu", "llm/lora/Ampere") not in rows
    # (llm/lora holds llm's very points: the family's constant is the one a job reads)
    ampere = calibrate.cal.Constants(rows).get("mfu", ("llm", "lora", "Ampere"))
    assert (ampere.group, ampere.value) == ("llm", pytest.approx(0.8))


def test_a_subgroup_with_its_parents_very_points_adds_no_constant():
    rows = _fit(
        *(
            _implied(s, ("cnn", "train", "Volta"), v)
            for s, v in zip("abc", (0.7, 0.8, 0.9), strict=True)
        )
    )
    assert ("mfu", "cnn") in rows
    assert ("mfu", "cnn/train") not in rows and ("mfu", "cnn/train/Volta") not in rows


def test_the_split_tests_estimates_count_each_source_once():
    # Source "a" has 50 points at 0.5, "b" and "c" one each at 0.8: over sources the median
    # is 0.8 (a point median would be a's 0.5); leaving "b" out, it is the median of 0.5, 0.8.
    pairs = [_implied("a", ("llm",), 0.5, i) for i in range(50)]
    pairs += [_implied("b", ("llm",), 0.8), _implied("c", ("llm",), 0.8)]
    values = {p.id: v for p, v in pairs}
    members = [p for p, _ in pairs]
    assert calibrate._median_of_sources(members, values, "") == pytest.approx(0.8)
    assert calibrate._median_of_sources(members, values, "b") == pytest.approx(0.65)


def _built(row: dict[str, str]) -> calibrate.Point:
    """A row as calibrate.py reads it: its point, with model, job and shape built."""
    pt = calibrate.point_of(row)
    calibrate.build(pt)
    return pt


def _prefill_point(engine: str, tokens_per_s: float) -> calibrate.Point:
    row = {
        "id": f"p-{engine}-{tokens_per_s:g}",
        "category": "prefill",
        "task": "infer",
        "model": "llama-2-7b",
        "gpu": "A100 80GB SXM",
        "n_gpus": "1",
        "precision": "fp16",
        "batch_size": "1",
        "prompt_tokens": "64",
        "engine": engine,
        "value": str(tokens_per_s),
        "unit": "tokens_per_s",
        "semantics": "per_job",
        "source_id": "s",
    }
    return _built(row)


def test_an_eager_prefill_its_host_time_explains_informs_no_prefill_efficiency():
    import dlrig.estimate.calibration as cal

    # One 64-token chunk through Llama-2-7B's 32 layers at 1 ms of host time each: 32 ms.
    rows = {
        ("decode_layer_s", "*"): cal.Fitted("decode_layer_s", 1e-3, "*", 9, 9, *[None] * 3, "r", "")
    }
    consts = cal.Constants(rows)
    fast = _prefill_point("hf", 64 / 0.033)  # 33 ms measured: 32 ms is 97 % of it
    slow = _prefill_point("hf", 64 / 0.040)  # 40 ms: 80 %, the GPU's time shows
    assert calibrate.prefill_host_s(fast, consts) == pytest.approx(32e-3)
    assert calibrate.measured_prefill_s(fast) == pytest.approx(33e-3)
    assert calibrate.host_bound(fast, consts) and not calibrate.host_bound(slow, consts)
    # A graph-launching engine's per-layer time adds to the GPU's: never host-bound.
    assert not calibrate.host_bound(_prefill_point("llama.cpp", 64 / 0.033), consts)
    # Before any per-layer time is fitted (the first pass) no point is host-bound.
    assert not calibrate.host_bound(fast, cal.Constants({}))
    values = calibrate.implied_all([fast, slow], "prefill_mfu", consts)
    assert list(values) == [slow.id]


def _train_point(pid: str, source: str, group: tuple[str, ...]) -> calibrate.Point:
    pt = calibrate.Point(pid, "throughput", "mfu", source, 1.0, "tokens_per_s", "per_job", {})
    pt.group = group
    return pt


def test_the_trainers_host_time_is_the_fixed_part_of_one_sources_rows():
    # One source, two lengths at efficiency 0.5 with 1 ms per layer-pass (100 layer-passes per
    # step): 1.0 s and 4.0 s of GEMMs at e = 1, so 2.1 s and 8.1 s measured. Only c = 1 ms
    # makes one efficiency fit both.
    T = calibrate.TrainTimes
    g = ("llm", "qlora")
    pts = [
        (_train_point("a", "s", g), T(gemm_s=1.0, rest_s=0.0, host_per_c=100, measured_step_s=2.1)),
        (_train_point("b", "s", g), T(gemm_s=4.0, rest_s=0.0, host_per_c=100, measured_step_s=8.1)),
    ]
    assert calibrate.best_train_host(pts) == pytest.approx(1e-3)
    assert pts[0][1].implied_eff(1e-3) == pytest.approx(0.5)


def test_another_sources_efficiency_is_not_taken_for_host_time():
    # Two sources in one efficiency group, each one row: a slower source (e = 0.25) is not
    # explained by a host time; each source's own median absorbs its level.
    T = calibrate.TrainTimes
    g = ("llm", "lora")
    pts = [
        (
            _train_point("a", "s1", g),
            T(gemm_s=1.0, rest_s=0.0, host_per_c=100, measured_step_s=2.0),
        ),
        (
            _train_point("b", "s1", g),
            T(gemm_s=4.0, rest_s=0.0, host_per_c=100, measured_step_s=8.0),
        ),
        (
            _train_point("c", "s2", g),
            T(gemm_s=1.0, rest_s=0.0, host_per_c=100, measured_step_s=4.0),
        ),
        (
            _train_point("d", "s2", g),
            T(gemm_s=4.0, rest_s=0.0, host_per_c=100, measured_step_s=16.0),
        ),
    ]
    assert calibrate.best_train_host(pts) == 0.0


def _scored(pid: str, source: str, measured: float, loso: float) -> calibrate.Point:
    pt = calibrate.Point(pid, "decode", "decode_bw", source, measured, "tokens_per_s", "", {})
    pt.group = ("vllm",)
    pt.loso = loso
    pt.resolved = "decode_bw:vllm"
    return pt


def test_interval_coverage_judges_each_point_by_the_other_sources_errors():
    # Sources a, b, c err by 10 %; d by 50 %. Without d, the others' p80 is 10 %: d's point
    # lies outside. Each of a-c sees 10, 10, 50 (p80 of three: 10 + 0.6 * 40 = 34 %): inside.
    pts = [
        _scored("a1", "a", 100.0, 110.0),
        _scored("b1", "b", 100.0, 90.0),
        _scored("c1", "c", 100.0, 110.0),
        _scored("d1", "d", 100.0, 150.0),
    ]
    n, share, n_src, src_share = calibrate.interval_coverage(pts)["decode"]
    assert (n, n_src) == (4, 4)
    assert share == pytest.approx(0.75)
    assert src_share == pytest.approx(0.75)


def test_interval_coverage_weighs_each_source_once_in_its_second_share():
    # Source a has three points, all far off (outside the others' 10 %); b, c, d one each.
    pts = [_scored(f"a{i}", "a", 100.0, 200.0) for i in range(3)] + [
        _scored("b1", "b", 100.0, 110.0),
        _scored("c1", "c", 100.0, 110.0),
        _scored("d1", "d", 100.0, 110.0),
    ]
    n, share, n_src, src_share = calibrate.interval_coverage(pts)["decode"]
    assert (n, n_src) == (6, 4)
    # b, c and d each see a's 100 % three times and two 10 %: p80 of five is 100 %, inside.
    assert share == pytest.approx(3 / 6)
    assert src_share == pytest.approx(3 / 4)


def _encoder_point(batch: int, value: float) -> object:
    """An encoder forward-pass row as calibrate.py reads it (category throughput, task infer)."""
    row = {
        "id": f"bert-b{batch}",
        "category": "throughput",
        "task": "infer",
        "model": "bert-base",
        "gpu": "A100 40GB SXM",
        "n_gpus": "1",
        "precision": "fp16",
        "batch_size": str(batch),
        "seq_len": "128",
        "value": str(value),
        "unit": "samples_per_s",
        "semantics": "per_job",
        "source_id": "test",
    }
    return _built(row)


def test_an_encoder_pass_that_waits_on_the_host_informs_no_efficiency():
    """One BERT-base sequence: 12 layers of eager host time (transformers' per-layer time,
    before an encoder's own is fitted: 0.8 ms here, 9.6 ms a pass) against a measured 5.7 ms
    pass: host-bound, scored but no mfu to imply. 256 sequences at 4,500/s (57 ms a pass) are
    the GPU's work."""
    from dlrig.estimate import calibration as cal

    borrowed = cal.Fitted("decode_layer_s", 0.8e-3, "*", 1, 1, None, None, None, "test", "")
    consts = cal.Constants(_mfu_table(0.5).rows | {("decode_layer_s", "*"): borrowed})
    small, large = _encoder_point(1, 174.3), _encoder_point(256, 4544)
    assert small.key == "mfu" and small.label == "throughput/encoder-infer"
    assert calibrate.host_bound(small, consts)
    assert not calibrate.host_bound(large, consts)


def _framework_point(framework: str | None, source: str, implied: float, i: int = 0):
    from dlrig.catalog.lookup import find_gpu, find_model
    from dlrig.model.workload import Job

    job = Job(task="train", gpu=find_gpu("H100 SXM"), framework=framework)
    pt = calibrate.Point(
        id=f"{source}-{i}", category="throughput", key="mfu", source_id=source, measured=1.0,
        unit="tokens_per_s", semantics="per_job", row={}, model=find_model("llama-3-8b"),
        job=job, group=("llm", "train"),
    )  # fmt: skip
    pt.implied = implied
    return pt


def _mfu_table(value: float):
    fitted = calibrate.cal.Fitted("mfu", value, "*", 1, 1, None, None, None, "test", "")
    return calibrate.cal.Constants({("mfu", "*"): fitted})


def test_a_frameworks_factor_is_its_points_median_ratio_to_the_fit_over_all():
    # mfu 0.6 over every framework; torchtitan's runs imply 0.45, 0.48 and 0.51: 0.8 x.
    pts = [_framework_point("torchtitan", f"s{i}", v, i) for i, v in enumerate((0.45, 0.48, 0.51))]
    pts += [_framework_point("nemo", "n", 0.75, 9), _framework_point(None, "u", 0.3, 10)]
    rows = calibrate.fit_framework(pts, _mfu_table(0.6), "2026-12-07")
    key = calibrate.FRAMEWORK
    assert rows[(key, "torchtitan")].value == pytest.approx(0.8)
    assert rows[(key, "torchtitan")].n_sources == 3
    # NeMo is Megatron-core's layers: its factor is Megatron's; one source is enough for a root
    assert rows[(key, "megatron")].value == pytest.approx(1.25)
    # a run that names no framework informs none; the root (no framework named) is 1
    assert rows[(key, "*")].value == 1.0 and len(rows) == 3


def test_the_framework_factor_scales_full_training_only_and_only_when_named():
    from dlrig.catalog.lookup import find_gpu, find_model
    from dlrig.estimate import job as jobs
    from dlrig.estimate import perf
    from dlrig.model.workload import Job

    m, gpu = find_model("llama-3-8b"), find_gpu("H100 SXM")
    table = calibrate.cal.Constants(
        _mfu_table(0.6).rows
        | calibrate.fit_framework([_framework_point("torchtitan", "s", 0.3)], _mfu_table(0.6), "")
    )

    def tokens_per_s(**kw):
        job = Job(task=kw.pop("task", "train"), gpu=gpu, seq_len=2048, batch_size=4, **kw)
        return perf.throughput_of(jobs.shape(m, job), table).tokens_per_s

    plain = tokens_per_s()
    # half the efficiency: the step's GEMMs take twice as long (its optimizer step does not)
    assert 1.8 < plain / tokens_per_s(framework="torchtitan") <= 2.0
    assert tokens_per_s(framework="litgpt") == pytest.approx(plain)  # no run of it: factor 1
    assert tokens_per_s(framework="torchtitan", mfu=0.4) == tokens_per_s(mfu=0.4)  # given
    lora = Job(task="lora", gpu=gpu, seq_len=2048, framework="torchtune")
    assert perf.framework_group(lora) is None  # LoRA's trainer sets its host time instead


def _cnn_point(pid: str, batch: int, value: float, source: str) -> object:
    """A ResNet-50 forward-pass row (fp16, one A100) as calibrate.py reads it."""
    row = {
        "id": pid,
        "category": "throughput",
        "task": "infer",
        "model": "resnet50",
        "gpu": "A100 40GB SXM",
        "n_gpus": "1",
        "precision": "fp16",
        "batch_size": str(batch),
        "value": str(value),
        "unit": "images_per_s",
        "semantics": "per_job",
        "source_id": source,
    }
    return _built(row)


def test_the_time_per_convolution_is_what_the_host_bound_passes_show():
    """Two batch-1 passes of ResNet-50 (53 convolutions) at 8.48 ms (125 images/s): 160 us per
    convolution, far above their GPU time; a batch-1024 pass at 3,000 images/s (341 ms) is the
    GPU's and is not moved by it. The fitted value reproduces the small passes, and those
    passes then inform no mfu (host_bound), while the large one still does."""
    from dlrig.estimate import calibration as cal

    small = [_cnn_point(f"s{i}", 1, 1 / 8.48e-3, f"src{i}") for i in range(2)]
    large = _cnn_point("l", 1024, 3000.0, "src-large")
    consts = _mfu_table(0.7)
    rows = calibrate.fit_forward_host([*small, large], consts, "", calibrate.FORWARD_HOSTS[0])
    conv_s = rows[(calibrate.CNN_HOST, cal.ROOT)].value
    assert conv_s == pytest.approx(8.48e-3 / 53, abs=1e-6)
    table = calibrate.cal.Constants(consts.rows | rows)
    assert all(calibrate.host_bound(x, table) for x in small)
    assert not calibrate.host_bound(large, table)
    # without the fitted time, no CNN pass is taken for host-bound
    assert not any(calibrate.host_bound(x, consts) for x in small)


def test_the_time_per_encoder_layer_is_fitted_and_replaces_the_borrowed_one():
    """BERT-base has 12 layers. Two batch-1 passes at 6.0 ms (0.5 ms per layer, below the
    ~0.8 ms transformers' decode_layer_s would charge) and a batch-256 pass at 4,544
    sequences/s (the GPU's). The fitted time per layer is 0.5 ms; with it the small passes
    are host-bound and the large one is not."""
    from dlrig.estimate import calibration as cal
    from dlrig.estimate import perf

    small = [_encoder_point(1, 1 / 6.0e-3) for _ in range(2)]
    small[1].id, small[1].source_id = "bert-b1-other", "other"
    large = _encoder_point(256, 4544)
    borrowed = cal.Fitted("decode_layer_s", 0.8e-3, "*", 1, 1, None, None, None, "test", "")
    consts = cal.Constants(_mfu_table(0.5).rows | {("decode_layer_s", "*"): borrowed})
    assert perf.encoder_host_s(small[0].shape, consts) == pytest.approx(12 * 0.8e-3)
    fh = calibrate.FORWARD_HOSTS[1]
    assert fh.key == perf.ENCODER_LAYER_KEY
    rows = calibrate.fit_forward_host([*small, large], consts, "", fh)
    layer_s = rows[(fh.key, cal.ROOT)].value
    assert layer_s == pytest.approx(0.5e-3, abs=1e-6)
    table = calibrate.cal.Constants(consts.rows | rows)
    assert perf.encoder_host_s(small[0].shape, table) == pytest.approx(12 * layer_s)
    assert all(calibrate.host_bound(x, table) for x in small)
    assert not calibrate.host_bound(large, table)


def _tp_point(tp: int, pid: str, source: str) -> calibrate.Point:
    row = {
        "id": pid,
        "category": "decode",
        "task": "infer",
        "model": "llama-2-70b",
        "gpu": "A100 80GB SXM",
        "n_gpus": str(tp),
        "tp": str(tp),
        "interconnect": "nvlink",
        "precision": "fp16",
        "batch_size": "1",
        "gen_tokens": "128",
        "engine": "vllm",
        "value": "30",
        "unit": "tokens_per_s",
        "semantics": "decode_only",
        "source_id": source,
    }
    pt = calibrate.Point(
        pid, "decode", "decode_bw", source, 30.0, "tokens_per_s", "decode_only", row
    )
    calibrate.build(pt)
    return pt


def test_the_wait_per_tensor_parallel_meeting_is_what_the_tp_points_show():
    """Points made by the estimator itself with a 40 us wait at each of the 160 meetings of a
    70B model's step (80 layers, 2 all-reduces each): the fit finds 40 us back, and each
    point informs neither the read efficiency nor the per-layer time (host_bound,
    fit_overhead), while a single-GPU point does."""
    from dlrig.estimate import calibration as cal
    from dlrig.estimate import perf

    base = cal.constants()
    rows = {kg: r for kg, r in base.rows.items() if kg[0] != perf.TP_SYNC_KEY}
    without = cal.Constants(rows)
    sync = cal.Fitted(perf.TP_SYNC_KEY, 40e-6, cal.ROOT, 2, 2, None, None, None, "t", "")
    made = cal.Constants(rows | {(perf.TP_SYNC_KEY, cal.ROOT): sync})
    pts = [_tp_point(tp, f"tp{tp}", f"s{tp}") for tp in (2, 4, 8)]
    for pt in pts:
        pt.measured = calibrate.predict(pt, made)
        assert pt.measured < calibrate.predict(pt, without)  # the wait slows the step
    fitted = calibrate.fit_tp_sync(pts, without, "")
    assert fitted[(perf.TP_SYNC_KEY, cal.ROOT)].value == pytest.approx(40e-6, abs=1e-6)
    assert all(calibrate.tp_decode(pt) and calibrate.host_bound(pt, without) for pt in pts)
    assert calibrate.fit_overhead(pts, without, "") == {}
    single = _decode_point("vllm", "A100 80GB SXM")
    assert not calibrate.tp_decode(single) and not calibrate.host_bound(single, without)


def test_each_meeting_of_a_forward_pass_pays_the_wait_once():
    from dlrig.estimate import comm
    from dlrig.estimate import decode as dec

    link = comm.Link("t", 100.0, 10e-6)
    ring = dec.TpComm()
    waited = dec.TpComm(sync_s=30e-6)
    extra = dec.tp_comm_s(1, 8192, 4, 80, waited, link) - dec.tp_comm_s(1, 8192, 4, 80, ring, link)
    assert extra == pytest.approx(2 * 80 * 30e-6)  # two all-reduces per layer
    row = dec.TpComm(dec.TP_ROW, link, 7, 30e-6)
    no_wait = dec.TpComm(dec.TP_ROW, link, 7)
    extra = dec.tp_comm_s(1, 8192, 2, 80, row, link) - dec.tp_comm_s(1, 8192, 2, 80, no_wait, link)
    assert extra == pytest.approx(80 * 7 * 30e-6)  # llama.cpp's row split: every split matmul
    assert dec.tp_comm_s(1, 8192, 1, 80, waited, link) == 0.0  # one GPU meets no one
