"""How much of a ResNet forward pass is memory-bound work, measured rather than modelled.

For each card and layout with published inference rows (calibration_points.csv: timm's
benchmark files, ResNet-18/34/50/101/152 at one batch), a least-squares fit of

    seconds per image = FLOPs per image / R + element-wise bytes per image / B

over the five depths, with the FLOPs and bytes dlrig counts for each (estimate/convnet.py,
eval mode) and R (TFLOPS) and B (GB/s) free. The five nets mix the two kinds of work in
different proportions (basic blocks are convolution-heavy, bottlenecks move more bytes per
FLOP), so R and B are identified by the measurements alone, and B/R say what share of
ResNet-50's time is memory-bound. Printed next to it: what the estimator says for the same
run (perf.throughput_of, with the fitted constants). Nothing here is fitted into the model.

    python benchmarks/cnn_share.py
"""

from __future__ import annotations

from collections import defaultdict

from dlrig.catalog.load import read_rows
from dlrig.catalog.lookup import find_gpu, find_model
from dlrig.estimate import convnet as cn
from dlrig.estimate import job as jobs
from dlrig.estimate import perf
from dlrig.model.workload import Job

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
HALF = 2


def per_image(model: str, nchw: bool, task: str) -> tuple[float, float]:
    """(TFLOPs, GB) one image's eval-mode forward (task infer) or training step runs and
    streams, as dlrig counts them with no cache."""
    net = cn.net_of(find_model(model))
    assert net is not None
    if task == "infer":
        step = cn.infer_step(net, 1, HALF, 1.0, 1.0, 1.0, 1.0, nchw)
    else:
        step = cn.train_step(net, 1, HALF, 1.0, 1.0, 1.0, 1.0, nchw, False)
    return step.flops / 1e12, step.elementwise_bytes / 1e9


def least_squares(xs: list[tuple[float, float]], ys: list[float]) -> tuple[float, float]:
    """(a, b) minimising sum (a x1 + b x2 - y)^2: the 2x2 normal equations."""
    s11 = sum(x1 * x1 for x1, _ in xs)
    s12 = sum(x1 * x2 for x1, x2 in xs)
    s22 = sum(x2 * x2 for _, x2 in xs)
    t1 = sum(x1 * y for (x1, _), y in zip(xs, ys, strict=True))
    t2 = sum(x2 * y for (_, x2), y in zip(xs, ys, strict=True))
    det = s11 * s22 - s12 * s12
    return (t1 * s22 - t2 * s12) / det, (s11 * t2 - s12 * t1) / det


def model_share(task: str, gpu: str, layout: str, batch: int) -> float:
    """The share of ResNet-50's step the estimator puts in memory-bound work."""
    spec = Job(gpu=find_gpu(gpu), task=task, precision="fp16", batch_size=batch,
               memory_format=layout)  # fmt: skip
    s = jobs.shape(find_model("resnet50"), spec)
    if task == "infer":
        t = perf.throughput_of(s)
        return 1 - t.step_parts_s[cn.CONV_PART] / t.step_time_s
    eff = perf.rate("mfu", perf.train_group(s.model, spec)).efficiency
    precision = perf.compute_precision(s.model, spec)
    sustained = perf.cp.sustained_tflops(spec.gpu, precision)
    step = perf.cnn_step(s, sustained, eff, layout == "nchw")
    assert step is not None
    return step.elementwise_s / (step.conv_s + step.elementwise_s)


def main() -> None:
    runs: dict[tuple[str, str, str, str], dict[str, float]] = defaultdict(dict)
    batches: dict[tuple[str, str, str, str], dict[str, int]] = defaultdict(dict)
    for row in read_rows("calibration_points.csv"):
        fp16 = row["precision"] == "fp16" and row["checkpointing"] not in ("true", "full")
        if row["unit"] == "images_per_s" and row["model"] in RESNETS and fp16:
            task = "infer" if row["task"] == "infer" else "train"
            key = (task, row["gpu"], row["memory_format"] or "nchw", row["source"])
            runs[key][row["model"]] = float(row["value"]) / int(row["n_gpus"] or 1)
            batches[key][row["model"]] = int(row["batch_size"])
    print(f"{'task':5} {'card':16} {'layout':13} {'R TFLOPS':>9} {'B GB/s':>7} {'max err':>7} "
          f"{'ResNet-50 memory-bound share: measured':>39} {'dlrig':>6}")  # fmt: skip
    for key, rates in sorted(runs.items()):
        task, gpu, layout, _source = key
        if set(rates) != set(RESNETS):
            continue
        nchw = layout == "nchw"
        xs = [per_image(m, nchw, task) for m in RESNETS]
        ys = [1 / rates[m] for m in RESNETS]
        a, b = least_squares(xs, ys)
        card = gpu.replace("GeForce ", "").replace(" Workstation Edition", "")[:16]
        if a <= 0 or b <= 0:
            print(f"{task:5} {card:16} {layout:13}  no positive fit")
            continue
        worst = max(abs((a * x1 + b * x2) / y - 1) for (x1, x2), y in zip(xs, ys, strict=True))
        f50, b50 = per_image("resnet50", nchw, task)
        share = b * b50 / (a * f50 + b * b50)
        ours = model_share(task, gpu, layout, batches[key]["resnet50"])
        print(f"{task:5} {card:16} {layout:13} {1 / a:9.1f} {1 / b:7.0f} {worst:7.1%} "
              f"{share:39.0%} {ours:6.0%}")  # fmt: skip


if __name__ == "__main__":
    main()
