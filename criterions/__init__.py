"""fairseq criterions: OFA's label-smoothed cross-entropy, MuE's layer-wise loss, SCST."""
from . import label_smoothed_cross_entropy, layerwise_cross_entropy, scst  # noqa: F401  (register the criterions)
