"""`dlrig probe --cluster`: the node probe on one rank per node, per-rank figures and collective
benchmarks over torch.distributed, gathered on rank 0 (launched by torchrun; see run.py).

Only `run.py`, `bench.py` and `control.py` import torch; `aggregate.py` is pure and takes the
per-node results (it is what the 512-node tests drive).
"""
