#!/usr/bin/env bash
# Caption stage 2: self-critical CIDEr-D optimisation from a stage-1 checkpoint, on every
# decoder layer (OFA's recipe: lr 1e-5, beam 5 samples per image, batch 64 in total at any
# number of GPUs).
# Run it as it is (GPUS processes on this node), under torchrun, or under SLURM's srun: see
# README, "Many GPUs and many machines". Rerun it to resume from SAVE_DIR/checkpoint_last.pt.
# Environment: STAGE1_CHECKPOINT (required), DATA_DIR (required: train.tsv with all references
# of an image joined by '&&', valid.tsv), ARCH [ofa_base], SAVE_DIR
# [checkpoints/caption_stage2_mue], GPUS [1], TOTAL_BATCH [64], BATCH_SIZE per GPU [2, or less],
# LR [1e-5 * sqrt(TOTAL_BATCH / 64)], EPOCHS [3], IMAGE_SIZE [480], FREEZE_RESNET [1],
# DIST_BACKEND [nccl], BPE_DIR. Extra arguments go to fairseq-train.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
: "${STAGE1_CHECKPOINT:?set STAGE1_CHECKPOINT to the stage-1 checkpoint}"
: "${DATA_DIR:?set DATA_DIR to a folder with train.tsv and valid.tsv}"
need_file "$STAGE1_CHECKPOINT" "stage-1 checkpoint"; need_file "$DATA_DIR/train.tsv" "training data"
start_processes "$@"
plan_training 64 2 1e-5 3 "$DATA_DIR/train.tsv"
exec "$PY" -m fairseq_cli.train "$DATA_DIR" --user-dir "$REPO_ROOT/ofa_mue" --task caption --arch "${ARCH:-ofa_base}" \
  ${BPE_DIR:+--bpe-dir "$BPE_DIR"} --finetune-from-model "$STAGE1_CHECKPOINT" \
  --save-dir "${SAVE_DIR:-checkpoints/caption_stage2_mue}" "${DISTRIBUTED[@]}" "${RESNET[@]}" \
  --decompose-modalities --scst --criterion scst_reward_criterion --layerwise-loss \
  --optimizer adam --adam-betas "(0.9,0.999)" --adam-eps 1e-08 --weight-decay 0.01 --clip-norm 1.0 \
  --lr-scheduler polynomial_decay --lr "$LR" --total-num-update "$TOTAL_UPDATES" --warmup-updates 0 \
  --max-epoch "$EPOCHS" --batch-size "$BATCH_SIZE" --update-freq "$UPDATE_FREQ" \
  --patch-image-size "${IMAGE_SIZE:-480}" --eval-cider \
  --best-checkpoint-metric cider --maximize-best-checkpoint-metric --num-workers 2 --log-format simple \
  --log-interval 10 --keep-last-epochs 1 "$@"
