#!/usr/bin/env bash
# Caption stage 1: fine-tune an official OFA checkpoint with cross-entropy, with MuE.
#
# The fairseq-train flags are those of OFA's base recipe (run_scripts/caption/
# train_caption_stage1_base.sh in OFA-Sys/OFA), with its values (those all of
# OFA's base recipes share: ofa_finetune in ../lib.sh), plus MuE's options:
#   --decompose-modalities, and --criterion layerwise_label_smoothed_cross_entropy (the task
#   loss on every decoder layer) in place of OFA's adjust_label_smoothed_cross_entropy.
# Deliberate deviations from OFA's recipe:
#   - launch: one process per GPU, started by torchrun (OFA: torch.distributed.launch over
#     4 GPUs) or srun, or GPUS=N on one node (see README, "Many GPUs and many machines");
#     --ddp-backend legacy_ddp, which also runs CPU processes (OFA: fairseq's default
#     pytorch_ddp with --find-unused-parameters, which works too on GPUs);
#   - the MuE paper's 64 rows per update and lr 3e-5 (OFA's script: 128 rows, 4 GPUs x 8 x 4,
#     and lr 1e-5), at any number of GPUs: BATCH_SIZE per GPU and --update-freq computed
#     (TOTAL_BATCH to change the total; OFA's own setting: TOTAL_BATCH=128 LR=1e-5);
#   - OFA's --drop-worst-after 6000 counts updates of 128 rows: the recipe starts dropping
#     after the same 768,000 rows at any total batch, 6000 x 128 / TOTAL_BATCH updates
#     (12,000 at 64);
#   - --freeze-resnet (FREEZE_RESNET=1): the ResNet's BatchNorm keeps the checkpoint's
#     statistics, the same on every GPU;
#   - --finetune-from-model instead of --restore-file with --reset-*: the same start; run
#     again into a SAVE_DIR that holds checkpoint_last.pt, the recipe stops unless RESUME=1,
#     which continues that run (OFA's recipes would start afresh);
#   - OFA's --warmup-ratio 0.06 (a flag of OFA's fairseq fork) becomes --warmup-updates, 6%
#     of --total-num-update, both computed here from the data (fairseq's polynomial_decay);
#   - no --eval-cider-cached-tokens: validation CIDEr takes its document frequencies from the
#     validation split's references, all of them, as OFA's cached validation file;
#   - data: DATA_DIR holds train.tsv and valid.tsv (OFA passes "train.tsv,val.tsv");
#   - FP16=0 trains in float32 instead of OFA's --fp16 --fp16-scale-window 512.
# Environment: OFA_CHECKPOINT (required), DATA_DIR (required: train.tsv, valid.tsv in OFA's
# caption format), ARCH [ofa_base], SAVE_DIR [checkpoints/caption_stage1_mue], GPUS [1],
# TOTAL_BATCH [64], BATCH_SIZE per GPU [8, or less], LR [3e-5 x sqrt(TOTAL_BATCH / 64)],
# EPOCHS [5], IMAGE_SIZE [480], FP16 [1], FREEZE_RESNET [1], DIST_BACKEND [nccl], BPE_DIR,
# RESUME [0]. Extra arguments go to fairseq-train.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
: "${OFA_CHECKPOINT:?set OFA_CHECKPOINT to an OFA checkpoint (e.g. ofa_base.pt)}"
: "${DATA_DIR:?set DATA_DIR to a folder with train.tsv and valid.tsv}"
need_file "$OFA_CHECKPOINT" "OFA checkpoint"; need_file "$DATA_DIR/train.tsv" "training data"
start_processes "$@"
plan_training 64 8 3e-5 5 "$DATA_DIR/train.tsv"
ofa_finetune "$OFA_CHECKPOINT" "${SAVE_DIR:-checkpoints/caption_stage1_mue}" --task caption --selected-cols 0,4,2 \
  --decompose-modalities --criterion layerwise_label_smoothed_cross_entropy --label-smoothing 0.1 \
  --encoder-drop-path-rate 0.1 --decoder-drop-path-rate 0.1 --dropout 0.1 --lr "$LR" \
  --no-epoch-checkpoints --eval-cider --eval-args '{"beam":5,"max_len_b":16,"no_repeat_ngram_size":3}' \
  --best-checkpoint-metric cider --maximize-best-checkpoint-metric \
  --freeze-encoder-embedding --freeze-decoder-embedding --drop-worst-ratio 0.2 \
  --drop-worst-after $(( 6000 * 128 / TOTAL_BATCH )) \
  $(half_precision fp16) "$@"
