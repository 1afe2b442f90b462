"""dlrig serve: how long the page waits after a change, per API call, in-process (no network).

Prints the median and slowest wall time of each call the page makes on a change (check, its
charts, the estimate and its charts) and of a recommend, over several runs of one example.
The page re-checks 300 ms after the last edit; a check under that keeps it feeling live.

    python benchmarks/serve_speed.py [--runs 10] [--example examples/llama3-8b-lora-4090.toml]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from fastapi.testclient import TestClient

from dlrig.model.load import read_toml
from dlrig.serve.app import create_app

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--example", type=Path, default=ROOT / "examples" / "llama3-8b-lora-4090.toml"
    )
    args = parser.parse_args()
    build = read_toml(args.example, "a TOML build file")
    client = TestClient(create_app(allowed_hosts=["127.0.0.1"]), base_url="http://127.0.0.1")
    w = build.get("workload", {})
    options = {"gpu": build["gpus"][0]["model"], "model": w.get("model"), "task": w.get("task")}
    calls = {
        "POST /api/check": ("/api/check", build),
        "POST /api/check/charts": ("/api/check/charts", build),
        "POST /api/estimate": ("/api/estimate", options),
        "POST /api/estimate/charts": ("/api/estimate/charts", options),
        "POST /api/recommend": ("/api/recommend", {"budget": 5000, "workload": "llama-3-8b:lora"}),
    }
    print(f"{args.example.name}, {args.runs} runs each (first run not counted: imports)")
    for name, (path, body) in calls.items():
        times = []
        for i in range(args.runs + 1):
            start = time.perf_counter()
            r = client.post(
                path, content=json.dumps(body), headers={"Content-Type": "application/json"}
            )
            if i:
                times.append((time.perf_counter() - start) * 1e3)
            assert r.status_code == 200, r.text
        print(f"{name:26} median {statistics.median(times):7.1f} ms   slowest {max(times):7.1f} ms")


if __name__ == "__main__":
    main()
