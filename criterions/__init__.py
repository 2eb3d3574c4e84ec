"""fairseq criterions: OFA's label-smoothed cross-entropy."""
from . import label_smoothed_cross_entropy  # noqa: F401  (registers the criterion)
