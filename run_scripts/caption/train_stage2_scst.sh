#!/usr/bin/env bash
# Caption stage 2: self-critical CIDEr-D optimisation from a stage-1 checkpoint, on every
# decoder layer (OFA's recipe: lr 1e-5, beam 5 samples per image).
# Environment: STAGE1_CHECKPOINT (required), DATA_DIR (required: train.tsv with all references
# of an image joined by '&&', valid.tsv), ARCH [ofa_base], SAVE_DIR
# [checkpoints/caption_stage2_mue], GPUS [1], BATCH_SIZE per GPU [2], LR [1e-5], EPOCHS [3],
# IMAGE_SIZE [480], BPE_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
: "${STAGE1_CHECKPOINT:?set STAGE1_CHECKPOINT to the stage-1 checkpoint}"
: "${DATA_DIR:?set DATA_DIR to a folder with train.tsv and valid.tsv}"
need_file "$STAGE1_CHECKPOINT" "stage-1 checkpoint"; need_file "$DATA_DIR/train.tsv" "training data"
BATCH_SIZE="${BATCH_SIZE:-2}"; EPOCHS="${EPOCHS:-3}"
TOTAL=$(total_updates "$DATA_DIR/train.tsv" "$BATCH_SIZE" "$EPOCHS")
"$PY" -m fairseq_cli.train "$DATA_DIR" --user-dir "$REPO_ROOT/ofa_mue" --task caption --arch "${ARCH:-ofa_base}" \
  ${BPE_DIR:+--bpe-dir "$BPE_DIR"} --restore-file "$STAGE1_CHECKPOINT" --reset-optimizer --reset-dataloader \
  --reset-meters --save-dir "${SAVE_DIR:-checkpoints/caption_stage2_mue}" "${DISTRIBUTED[@]}" \
  --decompose-modalities --scst --criterion scst_reward_criterion --layerwise-loss \
  --optimizer adam --adam-betas "(0.9,0.999)" --adam-eps 1e-08 --weight-decay 0.01 --clip-norm 1.0 \
  --lr-scheduler polynomial_decay --lr "${LR:-1e-5}" --total-num-update "$TOTAL" --warmup-updates 0 \
  --max-epoch "$EPOCHS" --batch-size "$BATCH_SIZE" --patch-image-size "${IMAGE_SIZE:-480}" --eval-cider \
  --best-checkpoint-metric cider --maximize-best-checkpoint-metric --num-workers 2 --log-format simple \
  --log-interval 10 --keep-last-epochs 1 "$@"
