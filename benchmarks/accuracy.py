"""Estimator accuracy as it was scored before the calibration (issue 15): prediction vs published
measurement for every row of measurements.csv, in-sample. Kept so the before/after comparison
can be rerun (its output at the start of that work is benchmarks/results/accuracy-before.txt);
the scorer now is benchmarks/calibrate.py (leave-one-source-out over calibration_points.csv).
The `cal` marks name the points the retired efficiencies.csv defaults were derived from.

Run: python benchmarks/accuracy.py [--csv]

Prints each point (prediction, measurement, error), then the median absolute error per category
against the issue's targets (memory within 10 %, throughput within 25 %). Points that a default
efficiency in efficiencies.csv was derived from are marked `cal` and the medians are given with
and without them, so a calibrated constant cannot pass for a prediction.

Measured memory is what PyTorch reports (torch.cuda.max_memory_*), which leaves out the CUDA
context; it is compared with the estimate minus `cuda_context_gb`.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass

from dlrig.catalog.load import read_rows
from dlrig.catalog.lookup import find_gpu, find_model
from dlrig.estimate import estimate
from dlrig.estimate import params as p
from dlrig.model.workload import Job

MEMORY_TARGET = 0.10
THROUGHPUT_TARGET = 0.25
# Rows a default in efficiencies.csv was derived from (see that file's notes column).
CALIBRATION = {
    "torchtune-l31-8b-full-4090-tps",
    "torchtune-l31-8b-lora-4090-tps",
    "torchtune-l31-8b-qlora-4090-tps",
    "dle-rn50-a100-1-amp",
    "llamacpp-7b-f16-4090-tg128",
    "llamacpp-7b-q8_0-4090-tg128",
    "llamacpp-7b-f16-4090-pp512",
    "qwen25-7b-bf16-vllm-tps",
    "qwen25-7b-bf16-hf-tps",
    "dle-rn50-v100-1-fp32",
}
# Precision as the sources name it → the estimator's.
PRECISION = {"fp16": "fp16", "bf16": "bf16", "fp32": "fp32", "tf32": "tf32", "fp8": "fp8"}
# torchtune's configs put LoRA on q, v and the output projection plus the MLP: close to "all".
LORA_TARGETS = "all"


@dataclass
class Point:
    id: str
    category: str
    predicted: float
    measured: float
    unit: str
    calibration: bool

    @property
    def error(self) -> float:
        return (self.predicted - self.measured) / self.measured


def _job(row: dict[str, str]) -> Job:
    task = row["task"]
    quant = row["quant"] if row["quant"] in ("int8", "int4") and task == "infer" else "none"
    fields = {
        "task": task,
        "gpu": find_gpu(row["gpu"]),
        "n_gpus": int(row["n_gpus"] or 1),
        "precision": PRECISION[row["precision"]],
        "quant": quant,
        "optimizer": row["optimizer"] or "adamw",
        "zero": int(row["zero"] or 0),
        "checkpointing": row["checkpointing"] == "true",
        "lora_rank": int(row["lora_rank"] or 8),
        "lora_targets": LORA_TARGETS,
        "engine": row["engine"] or "optimized",
        "master_weights": row["master_weights"] != "false",
        "offload": row["offload"] or "none",
        "optimizer_in_backward": row["optimizer_in_backward"] == "true",
        "loss": row["loss"] or "standard",
    }
    if row["batch_size"]:
        fields["batch_size"] = int(row["batch_size"])
    if row["seq_len"]:
        fields["seq_len"] = int(row["seq_len"])
    if row["context"]:
        fields["context"] = int(row["context"])
    if task == "train" and not row["batch_size"] and find_model(row["model"]).kind == "cnn":
        fields["batch_size"] = 256  # DeepLearningExamples' default for ResNet-50 v1.5
    return Job(**fields)


def predict(row: dict[str, str]) -> Point:
    model = find_model(row["model"])
    job = _job(row)
    est = estimate(model, job)
    measured = float(row["value"])
    kind = "prefill" if "-pp" in row["id"] else None
    if row["category"] == "memory":
        predicted = est.memory.per_gpu_gb - p.value("cuda_context_gb")
        category = f"memory/{job.task.value}"
    elif kind == "prefill":
        predicted = est.throughput.prefill_tokens_per_s or 0.0
        category = "throughput/prefill"
    elif row["unit"] == "samples_per_s":
        predicted = est.throughput.samples_per_s or 0.0
        category = "throughput/vision"
    else:
        predicted = est.throughput.tokens_per_s or 0.0
        category = (
            "throughput/decode" if job.task.value == "infer" else f"throughput/{job.task.value}"
        )
    return Point(row["id"], category, predicted, measured, row["unit"], row["id"] in CALIBRATION)


def main(argv: list[str]) -> int:
    points = [predict(row) for row in read_rows("measurements.csv")]
    if "--csv" in argv:
        print("id,category,predicted,measured,unit,error,calibration")
        for pt in points:
            print(
                f"{pt.id},{pt.category},{pt.predicted:.4g},{pt.measured:.4g},{pt.unit},"
                f"{pt.error:+.3f},{pt.calibration}"
            )
        return 0
    print(f"{'point':40} {'category':20} {'predicted':>11} {'measured':>11}  {'error':>7}")
    for pt in sorted(points, key=lambda x: (x.category, x.id)):
        mark = " cal" if pt.calibration else ""
        print(
            f"{pt.id:40} {pt.category:20} {pt.predicted:11.4g} {pt.measured:11.4g}  "
            f"{pt.error:+7.1%}{mark}"
        )
    print()
    print(
        f"{'category':22} {'n':>3} {'median |err|':>13} {'held-out n':>11} {'held-out':>9}  target"
    )
    for cat in sorted({pt.category for pt in points}):
        sel = [pt for pt in points if pt.category == cat]
        held = [pt for pt in sel if not pt.calibration]
        med = statistics.median(abs(pt.error) for pt in sel)
        med_held = statistics.median(abs(pt.error) for pt in held) if held else float("nan")
        target = MEMORY_TARGET if cat.startswith("memory") else THROUGHPUT_TARGET
        # Judged on the held-out points: a calibrated constant reproducing its own source
        # proves nothing. Categories with no held-out point are judged on all of them.
        judged = med_held if held else med
        ok = ("met" if judged <= target else "missed") + ("" if held else " (all calibration)")
        print(
            f"{cat:22} {len(sel):3} {med:13.1%} {len(held):11} {med_held:9.1%}  {target:.0%} {ok}"
        )
    for family, target in (("memory", MEMORY_TARGET), ("throughput", THROUGHPUT_TARGET)):
        sel = [abs(pt.error) for pt in points if pt.category.startswith(family)]
        held = [
            abs(pt.error) for pt in points if pt.category.startswith(family) and not pt.calibration
        ]
        print(
            f"ALL {family:18} {len(sel):3} {statistics.median(sel):13.1%} {len(held):11} "
            f"{statistics.median(held):9.1%}  {target:.0%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
