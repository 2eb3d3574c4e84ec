"""``python -m ofa_mue COMMAND ...``: the ``ofa-mue`` command (see :mod:`ofa_mue.cli`)."""
from ofa_mue.cli import main

main()
