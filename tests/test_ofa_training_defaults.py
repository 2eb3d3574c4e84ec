"""fairseq-train without the task options OFA's scripts pass: the defaults are OFA's
(OFAConfig in tasks/ofa_task.py of OFA-Sys/OFA: --max-src-length 128, --max-tgt-length 30,
--patch-image-size 480), for every task."""
from __future__ import annotations

from fairseq import options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf

OFA_DEFAULTS = {"max_src_length": 128, "max_tgt_length": 30, "patch_image_size": 480}


def training_task(data, task: str):
    """The task fairseq-train sets up for ``fairseq-train data --task task`` with no other task option."""
    args = options.parse_args_and_arch(options.get_training_parser(), [
        str(data), "--user-dir", "ofa_mue", "--task", task, "--arch", "ofa_tiny"])
    return tasks.setup_task(convert_namespace_to_omegaconf(args).task)


def test_caption_training_keeps_30_words_of_a_caption_by_default(tmp_path, image_b64, ofa_vocab):
    words = [f"w{i}" for i in range(35)]
    (tmp_path / "train.tsv").write_text("\t".join(["u0", "1", " ".join(words), "", image_b64()]) + "\n")
    task = training_task(tmp_path, "caption")
    task.load_dataset("train")
    assert {name: getattr(task.cfg, name) for name in OFA_DEFAULTS} == OFA_DEFAULTS
    assert ofa_vocab.decode(task.datasets["train"][0]["target"]).split() == words[:30]


def test_snli_ve_training_takes_ofas_defaults(tmp_path):
    task = training_task(tmp_path, "snli_ve")
    assert {name: getattr(task.cfg, name) for name in OFA_DEFAULTS} == OFA_DEFAULTS
