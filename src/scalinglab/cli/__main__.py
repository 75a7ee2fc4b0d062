"""``python -m scalinglab.cli ...``: the command without an installed console script (e.g. on a
GPU machine where the package is only on ``PYTHONPATH``)."""

from . import main

main()
