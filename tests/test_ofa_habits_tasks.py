"""Exit options in fairseq-train: training runs every layer, so the options that would make its
validation captions and SCST's sampled captions come from an exiting model are refused."""
from __future__ import annotations

import pytest

from demo_training import train_in_process
from ofa_mue.demo.generate import generate_demo_data
from ofa_mue.errors import ConfigError
from test_training_and_evaluation_cli import plain_train_argv


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("train_exit_options")
    generate_demo_data(out, seed=5, train=8, valid=2, test=2, image_size=64)
    return out


@pytest.mark.parametrize("task, flags, named", [
    ("caption", ("--decoder-exit-threshold", "0.9", "--eval-cider"), "exits in decoder"),
    ("caption", ("--exit-policy", "static", "--static-decoder-layers", "1"), "exits in decoder"),
    ("snli_ve", ("--image-exit-threshold", "0.9"), "exits in image"),
    pytest.param("caption", ("--exit-verify",), "--exit-verify", id="exit-verify"),
])
def test_fairseq_train_refuses_exit_options(demo, tmp_path, task, flags, named):
    with pytest.raises(ConfigError, match=f"exit options are for inference .* got {named}"):
        train_in_process(plain_train_argv(demo, task, tmp_path / "save", 1, *flags))


def test_fairseq_train_takes_an_exit_option_that_stops_nothing(demo, tmp_path):
    """A threshold above 1 disables its exit (and --exit-granularity alone exits nothing)."""
    train_in_process(plain_train_argv(demo, "caption", tmp_path / "save", 1, "--decoder-exit-threshold", "2",
                                      "--exit-granularity", "step"))
    assert (tmp_path / "save" / "checkpoint_last.pt").is_file()
