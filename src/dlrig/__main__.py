"""`python -m dlrig`."""

from dlrig.cli import main

main()
