"""benchmarks/fixed_depth_chosen_on_valid.py evaluates a demo run as demo.sh did: captions are
generated up to the run's own caption length, which follows the data's longest reference
(demo.sh's DEMO_CAPTION_WORDS), so the committed sweep's rows can be matched exactly."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ofa_mue.demo.generate import ARGUMENTS_FILE, generate_demo_data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from fixed_depth_chosen_on_valid import evaluation_args  # noqa: E402


def _length(args: list) -> list:
    return [args[i + 1] for i, flag in enumerate(args) if flag == "--max-len-b"]


def test_caption_length_follows_the_datas_longest_reference(tmp_path):
    data = tmp_path / "data"
    generate_demo_data(data, seed=0, train=20, valid=3, test=3, caption_objects=(4, 5), caption_words=22)
    run = argparse.Namespace(data=str(data), checkpoints=str(tmp_path / "checkpoints"))
    assert _length(evaluation_args(run, 1, "caption")) == ["23"]  # 22 words, then </s>
    assert _length(evaluation_args(run, 1, "snli_ve")) == []
    (data / ARGUMENTS_FILE).unlink()  # data from before the generator recorded its arguments
    assert _length(evaluation_args(run, 1, "caption")) == ["16"]  # the generator's default then: 15 words


def test_a_runs_profile_is_found_under_the_committed_results_whatever_its_results_folder():
    from fixed_depth_chosen_on_valid import committed_file

    for recorded in ("results/demo/seed2/caption/reproduce/profiles/main.json",
                     "/scratch/results_capx/seed2/caption/reproduce/profiles/main.json"):
        assert committed_file(recorded, "docs/results/demo") == \
            "docs/results/demo/seed2/caption/reproduce/profiles/main.json"
