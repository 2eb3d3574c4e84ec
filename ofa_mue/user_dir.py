"""The folder to pass as fairseq's ``--user-dir``, for any install and from any folder.

    fairseq-train DATA --user-dir "$(python -m ofa_mue.user_dir)" --task snli_ve --arch ofa_base ...

It is the folder the ``ofa_mue`` package imports from: the installed package after
``pip install .`` (where the sub-packages ``models``, ``tasks``... sit inside it), or the
checkout's ``ofa_mue/`` after ``pip install -e .`` or when run from the checkout's root
(``ofa_mue/__init__.py`` then finds the sub-packages beside it).
"""
from __future__ import annotations

import argparse
import os

import ofa_mue


def user_dir() -> str:
    """Absolute path of the ``ofa_mue`` package folder that this Python imports."""
    return os.path.dirname(os.path.abspath(ofa_mue.__file__))


def main() -> None:
    """Print :func:`user_dir` (``--help`` says what it is for)."""
    argparse.ArgumentParser(prog="python -m ofa_mue.user_dir", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    print(user_dir())


if __name__ == "__main__":
    main()
