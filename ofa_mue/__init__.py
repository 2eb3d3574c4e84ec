"""ofa-mue: MuE early-exit inference and fine-tuning for OFA, as a fairseq user dir.

``fairseq-train --user-dir ofa_mue`` (or ``import ofa_mue``) registers the model, tasks and
criterions. Importing also lets fairseq load its own checkpoints on torch >= 2.6 (see
:mod:`ofa_mue.checkpoint_loading`), and ends fairseq's commands on ofa_mue's input errors
with one line instead of a traceback (:mod:`ofa_mue.one_line_errors`), and lets fairseq's
``--store-ema`` keep an EMA of OFA models, whose integer buffers it copies as OFA's fairseq does
(:mod:`ofa_mue.ema_buffers`), and lets fairseq-train validate with OFA's comma-separated
``--data`` (:mod:`ofa_mue.valid_subset_check`).
"""
import os as _os

# In a source checkout the sub-packages models/, criterions/, tasks/, data/ and demo/ sit
# beside this folder (setup.py maps them into ofa_mue when installing): let them import
# from there, so that the checkout itself is the package whatever is installed.
_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_checkout, "setup.py")) and _os.path.isdir(_os.path.join(_checkout, "models")):
    __path__.append(_checkout)

from . import checkpoint_loading, ema_buffers, one_line_errors, valid_subset_check  # noqa: E402,F401
from . import criterions, models, tasks  # noqa: E402,F401  (register with fairseq)
