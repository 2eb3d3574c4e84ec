#!/usr/bin/env bash
# Caption stage 1: fine-tune an official OFA checkpoint with cross-entropy on every decoder
# layer and a modality-decomposed encoder (OFA's base recipe: lr 1e-5, label smoothing 0.1,
# 5 epochs; the MuE paper's batch of 64 in total at any number of GPUs).
# Run it as it is (GPUS processes on this node), under torchrun, or under SLURM's srun: see
# README, "Many GPUs and many machines". Rerun it to resume from SAVE_DIR/checkpoint_last.pt.
# Environment: OFA_CHECKPOINT (required), DATA_DIR (required: train.tsv, valid.tsv in OFA's
# caption format), ARCH [ofa_base], SAVE_DIR [checkpoints/caption_stage1_mue], GPUS [1],
# TOTAL_BATCH [64], BATCH_SIZE per GPU [8, or less], LR [1e-5 * sqrt(TOTAL_BATCH / 64)],
# EPOCHS [5], IMAGE_SIZE [480], FREEZE_RESNET [1], DIST_BACKEND [nccl], BPE_DIR.
# Extra arguments go to fairseq-train.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
: "${OFA_CHECKPOINT:?set OFA_CHECKPOINT to an OFA checkpoint (e.g. ofa_base.pt)}"
: "${DATA_DIR:?set DATA_DIR to a folder with train.tsv and valid.tsv}"
need_file "$OFA_CHECKPOINT" "OFA checkpoint"; need_file "$DATA_DIR/train.tsv" "training data"
start_processes "$@"
plan_training 64 8 1e-5 5 "$DATA_DIR/train.tsv"
exec "$PY" -m fairseq_cli.train "$DATA_DIR" --user-dir "$REPO_ROOT/ofa_mue" --task caption --arch "${ARCH:-ofa_base}" \
  ${BPE_DIR:+--bpe-dir "$BPE_DIR"} --finetune-from-model "$OFA_CHECKPOINT" \
  --save-dir "${SAVE_DIR:-checkpoints/caption_stage1_mue}" "${DISTRIBUTED[@]}" "${RESNET[@]}" \
  --decompose-modalities --criterion layerwise_label_smoothed_cross_entropy --label-smoothing 0.1 \
  --optimizer adam --adam-betas "(0.9,0.999)" --adam-eps 1e-08 --weight-decay 0.01 --clip-norm 1.0 \
  --lr-scheduler polynomial_decay --lr "$LR" --total-num-update "$TOTAL_UPDATES" \
  --warmup-updates $(( TOTAL_UPDATES * 6 / 100 )) --max-epoch "$EPOCHS" --batch-size "$BATCH_SIZE" \
  --update-freq "$UPDATE_FREQ" --dropout 0.1 --encoder-drop-path-rate 0.1 --decoder-drop-path-rate 0.1 \
  --max-tgt-length 20 --patch-image-size "${IMAGE_SIZE:-480}" --eval-cider \
  --best-checkpoint-metric cider --maximize-best-checkpoint-metric --num-workers 2 --log-format simple \
  --log-interval 10 --keep-last-epochs 1 "$@"
