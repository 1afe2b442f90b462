"""dlrig: check, estimate, probe and recommend deep-learning machines.

Tim Dettmers' *A Full Hardware Guide to Deep Learning* made executable. The core (model,
catalog, rules) is pure; `cli.py` and `report/` do the I/O.
"""

__version__ = "0.1.0"
