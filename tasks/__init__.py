"""fairseq tasks of OFA fine-tuning: ``snli_ve`` and ``caption``."""
from . import caption, snli_ve  # noqa: F401  (registers the tasks)
