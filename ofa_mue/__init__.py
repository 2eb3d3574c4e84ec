"""ofa-mue: MuE early-exit inference and fine-tuning for OFA, as a fairseq user dir.

``fairseq-train --user-dir ofa_mue`` (or ``import ofa_mue``) registers the model, tasks and
criterions. Importing also lets fairseq load its own checkpoints on torch >= 2.6 (see
:mod:`ofa_mue.checkpoint_loading`).
"""
from . import checkpoint_loading  # noqa: F401
from . import criterions, models, tasks  # noqa: F401  (register with fairseq)
