"""The validation metric OFA's SNLI-VE recipe selects checkpoints on (``--best-checkpoint-metric
snli_score --maximize-best-checkpoint-metric``, run_scripts/snli_ve/train_snli_ve*.sh): as OFA's
``SnliVeTask.valid_step`` and ``reduce_metrics`` compute it, the share of all validation rows whose
best answer among the three candidates is the row's label, however the rows fall into batches."""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import torch
from fairseq import metrics

from ofa_mue.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropy
from ofa_mue.tasks.snli_ve import SnliVeConfig, SnliVeTask
from tiny_ofa import IMAGE_SIZE, tiny_model

ANSWER_IDS = {"no": 117, "yes": 4420, "maybe": 2085}
"""OFA's SNLI-VE answers with their ids in OFA's dict.txt."""
LABELS = {"no": "contradiction", "yes": "entailment", "maybe": "neutral"}
HYPOTHESES = ("two dogs play", "a cat sleeps on a red sofa", "a man rides a horse", "nobody is outside")


def write_rows(folder: Path, image_b64, labels: Sequence[str]) -> SnliVeTask:
    """The SNLI-VE task on a valid split of one row per hypothesis, labelled ``labels``."""
    rows = [[f"u{i}", f"i{i}", image_b64(5 + i, 7, (40 * i, 90, 200)), hypothesis, "a picture", label]
            for i, (hypothesis, label) in enumerate(zip(HYPOTHESES, labels))]
    (folder / "valid.tsv").write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    task = SnliVeTask.setup_task(SnliVeConfig(data=str(folder), patch_image_size=IMAGE_SIZE))
    task.load_dataset("valid")
    return task


def ofa_answers(task: SnliVeTask, model) -> List[str]:
    """Each row's answer as OFA's valid_step picks it: the highest log-probability among the three
    answers after the decoder prompt (the eos after an answer, the only token its trie allows, adds 0)."""
    dataset = task.dataset("valid")
    answers = []
    for index in range(len(dataset)):
        net = dataset.collater([dataset[index]])["net_input"]
        prompt = dataset[index]["decoder_prompt"].unsqueeze(0)
        with torch.no_grad():
            logits, _ = model(net["src_tokens"], net["src_lengths"], prompt, patch_images=net["patch_images"],
                              patch_masks=net["patch_masks"])
        answers.append(list(ANSWER_IDS)[int(logits[0, -1, list(ANSWER_IDS.values())].argmax())])
    return answers


def logged_snli_score(task: SnliVeTask, model, batches: Sequence[Sequence[int]]) -> float:
    """``snli_score`` as fairseq-train's validation logs it: each batch's valid_step, reduced
    batch by batch into one aggregate."""
    dataset, criterion = task.dataset("valid"), LabelSmoothedCrossEntropy(task)
    with metrics.aggregate(new_root=True) as aggregate:
        for rows in batches:
            _, _, logging_output = task.valid_step(dataset.collater([dataset[i] for i in rows]), model, criterion)
            task.reduce_metrics([logging_output], criterion)
    return aggregate.get_smoothed_values()["snli_score"]


def test_snli_score_is_the_share_of_all_validation_rows_answered_right_as_ofa_scores_them(tmp_path, image_b64):
    """Three rows answered right in a batch of three and one answered wrong alone: OFA logs 3/4
    (its score and count summed over batches), not the mean of the batches' accuracies (1/2)."""
    model = tiny_model(write_rows(tmp_path, image_b64, ["entailment"] * 4).vocab.dictionary).eval()
    predicted = ofa_answers(write_rows(tmp_path, image_b64, ["entailment"] * 4), model)
    wrong = next(answer for answer in LABELS if answer != predicted[3])
    task = write_rows(tmp_path, image_b64, [LABELS[a] for a in predicted[:3]] + [LABELS[wrong]])
    assert logged_snli_score(task, model, [[0, 1, 2], [3]]) == 0.75
    assert logged_snli_score(task, model, [[3], [0, 1, 2]]) == 0.75


def test_validation_cider_is_the_mean_over_all_rows_however_they_are_batched(tmp_path, image_b64):
    """OFA's caption reduce_metrics logs the summed CIDEr-D and the row count (_cider_score_sum,
    _cider_cnt) and derives cider = sum / count over the whole validation: a batch of three rows
    scoring 1.0 each and a batch of one scoring 0.0 log 0.75, not the batches' mean 0.5."""
    from test_ofa_eval_habits import make_caption_task

    task = make_caption_task(tmp_path, image_b64)
    criterion = LabelSmoothedCrossEntropy(task)
    plain = {"loss": 0.0, "nll_loss": 0.0, "ntokens": 1, "nsentences": 1, "sample_size": 1}
    with metrics.aggregate(new_root=True) as aggregate:
        for total, count in ((3.0, 3), (0.0, 1)):
            task.reduce_metrics([{**plain, "_cider_sum": total, "_cider_count": count}], criterion)
    assert aggregate.get_smoothed_values()["cider"] == 0.75
