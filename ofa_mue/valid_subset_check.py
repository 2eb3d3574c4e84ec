"""``fairseq-train`` on OFA's comma-separated ``--data train.tsv,valid.tsv`` with validation on.

Before loading the validation split, fairseq-train looks for numbered validation subsets
(``valid1.*``) that would go unused, by listing the folders of ``--data`` split on ':'. OFA's
``--data`` is a comma-separated list of TSV files, which fairseq took for one folder to list:
every OFA script layout ended in a ``FileNotFoundError`` unless ``--ignore-unused-valid-subsets``
was added (OFA's own train.py skips the check). Importing ``ofa_mue`` makes the check pass over
``--data`` that names files rather than folders (there are no subsets to find in a file); a
folder is checked as before.
"""
from __future__ import annotations

import os
from typing import Set

from fairseq import utils
from fairseq.data import data_utils

_fairseq_find_extra_valid_paths = data_utils._find_extra_valid_paths


def _find_extra_valid_paths(dataset_path: str) -> Set[str]:
    """fairseq's search for unused validation subsets, over folders only (OFA's TSV files hold none)."""
    if not all(os.path.isdir(path) for path in utils.split_paths(dataset_path)):
        return set()
    return _fairseq_find_extra_valid_paths(dataset_path)


data_utils._find_extra_valid_paths = _find_extra_valid_paths
