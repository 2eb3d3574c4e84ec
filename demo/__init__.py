"""Synthetic demo data in OFA's TSV formats: scenes, captions, entailment hypotheses and a
small GPT-2-format BPE (``python -m ofa_mue.demo.generate --help``)."""
