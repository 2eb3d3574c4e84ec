"""OFA model family (fairseq model ``ofa`` and its architectures)."""
from .ofa import OFAModel  # noqa: F401  (registers the model and architectures)
