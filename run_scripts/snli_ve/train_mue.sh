#!/usr/bin/env bash
# Fine-tune an official OFA checkpoint on SNLI-VE with MuE.
#
# The fairseq-train flags are those of OFA's base recipe (run_scripts/snli_ve/
# train_snli_ve_base.sh in OFA-Sys/OFA), with its values (those all of
# OFA's base recipes share: ofa_finetune in ../lib.sh), plus MuE's options:
#   --decompose-modalities, and --criterion layerwise_label_smoothed_cross_entropy (the task
#   loss on every decoder layer) in place of OFA's adjust_label_smoothed_cross_entropy.
# Deliberate deviations from OFA's recipe:
#   - launch: one process per GPU, started by torchrun (OFA: torch.distributed.launch over
#     8 GPUs) or srun, or GPUS=N on one node (see README, "Many GPUs and many machines");
#     --ddp-backend legacy_ddp, which also runs CPU processes (OFA: fairseq's default
#     pytorch_ddp with --find-unused-parameters, which works too on GPUs);
#   - the MuE paper's 64 rows per update and lr 3e-5 (OFA's script: 256 rows, 8 GPUs x 4 x 8,
#     and lr 5e-5, its loop overriding its lr=3e-5 line), at any number of GPUs: BATCH_SIZE
#     per GPU and --update-freq computed (TOTAL_BATCH to change the total; OFA's own
#     setting: TOTAL_BATCH=256 LR=5e-5);
#   - --freeze-resnet (FREEZE_RESNET=1): the ResNet's BatchNorm keeps the checkpoint's
#     statistics, the same on every GPU;
#   - --finetune-from-model instead of --restore-file with --reset-*: the same start; run
#     again into a SAVE_DIR that holds checkpoint_last.pt, the recipe stops unless RESUME=1,
#     which continues that run (OFA's recipes would start afresh);
#   - OFA's --warmup-ratio 0.06 (a flag of OFA's fairseq fork) becomes --warmup-updates, 6%
#     of --total-num-update, both computed here from the data (fairseq's polynomial_decay);
#   - data: DATA_DIR holds train.tsv and valid.tsv (OFA passes "train.tsv,dev.tsv");
#   - FP16=0 trains in float32 instead of OFA's --fp16 --fp16-scale-window 512.
# Environment: OFA_CHECKPOINT (required: e.g. ofa_base.pt), DATA_DIR (required: train.tsv and
# valid.tsv in OFA's SNLI-VE format), ARCH [ofa_base], SAVE_DIR [checkpoints/snli_ve_mue],
# GPUS [1], TOTAL_BATCH [64], BATCH_SIZE per GPU [4, or less], LR [3e-5 x sqrt(TOTAL_BATCH / 64)],
# EPOCHS [5], IMAGE_SIZE [480], FP16 [1], FREEZE_RESNET [1], DIST_BACKEND [nccl], BPE_DIR [OFA's
# files shipped with ofa_mue], RESUME [0]. Extra arguments go to fairseq-train.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
: "${OFA_CHECKPOINT:?set OFA_CHECKPOINT to an OFA checkpoint (e.g. ofa_base.pt)}"
: "${DATA_DIR:?set DATA_DIR to a folder with train.tsv and valid.tsv}"
need_file "$OFA_CHECKPOINT" "OFA checkpoint"; need_file "$DATA_DIR/train.tsv" "training data"
start_processes "$@"
plan_training 64 4 3e-5 5 "$DATA_DIR/train.tsv"
ofa_finetune "$OFA_CHECKPOINT" "${SAVE_DIR:-checkpoints/snli_ve_mue}" --task snli_ve --selected-cols 0,2,3,4,5 \
  --decompose-modalities --criterion layerwise_label_smoothed_cross_entropy --label-smoothing 0.0 \
  --encoder-drop-path-rate 0.1 --decoder-drop-path-rate 0.1 --dropout 0.1 --lr "$LR" \
  --best-checkpoint-metric snli_score --maximize-best-checkpoint-metric --prompt-type prev_output --add-caption \
  $(half_precision fp16) "$@"
