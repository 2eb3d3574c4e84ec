"""fairseq-train without the task options OFA's scripts pass: the defaults are OFA's
(OFAConfig in tasks/ofa_task.py of OFA-Sys/OFA: --max-src-length 128, --max-tgt-length 30,
--patch-image-size 480), for every task."""
from __future__ import annotations

import torch
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
    # no premise in the prompt (OFA's --add-caption off); the answer after the decoder prompt, as OFA's recipes
    assert (task.cfg.add_caption, task.cfg.prompt_type) == (False, "prev_output")


def test_images_go_to_minus_one_one_and_the_vocabulary_has_ofas_codes_and_bins_by_default(tmp_path, image_b64):
    """OFA's defaults --imagenet-default-mean-and-std off (mean = std = 0.5: a white pixel is
    (1 - 0.5) / 0.5 = 1, a black one -1; ImageNet's would give (1 - 0.485) / 0.229 = 2.25),
    --code-dict-size 8192 and --num-bins 1000: OFA's 59457-symbol vocabulary (50265 of dict.txt
    and its specials, then <code_0>..<code_8191>, <bin_0>..<bin_999>) as its checkpoints' embeddings."""
    rows = [["u0", "1", "a dog", "", image_b64(4, 4, (255, 255, 255))],
            ["u1", "2", "a cat", "", image_b64(4, 4, (0, 0, 0))]]
    (tmp_path / "train.tsv").write_text("".join("\t".join(row) + "\n" for row in rows))
    task = training_task(tmp_path, "caption")
    task.load_dataset("train")
    white, black = (task.datasets["train"][i]["patch_image"] for i in (0, 1))
    assert torch.allclose(white, torch.ones_like(white), atol=1e-6)
    assert torch.allclose(black, -torch.ones_like(black), atol=1e-6)
    dictionary = task.vocab.dictionary
    assert len(dictionary) == 59457
    assert (dictionary[50265], dictionary[50265 + 8191], dictionary[50265 + 8192], dictionary[59456]) == (
        "<code_0>", "<code_8191>", "<bin_0>", "<bin_999>")
