#!/usr/bin/env bash
# Caption stage 2: self-critical CIDEr-D optimisation from a stage-1 checkpoint, with MuE.
#
# The fairseq-train flags are those of OFA's base recipe (run_scripts/caption/
# train_caption_stage2_base.sh in OFA-Sys/OFA), with its values (those all of
# OFA's base recipes share: ofa_finetune in ../lib.sh), plus MuE's options:
#   --decompose-modalities, and --layerwise-loss (the SCST loss on every decoder layer).
# Deliberate deviations from OFA's recipe:
#   - launch: one process per GPU, started by torchrun (OFA: torch.distributed.launch over
#     8 GPUs) or srun, or GPUS=N on one node (see README, "Many GPUs and many machines");
#     --ddp-backend legacy_ddp, which also runs CPU processes (OFA: fairseq's default
#     pytorch_ddp with --find-unused-parameters, which works too on GPUs);
#   - OFA's 64 rows per update (8 GPUs x 2 x 4) at any number of GPUs: BATCH_SIZE
#     per GPU and --update-freq computed (TOTAL_BATCH to change the total);
#   - --freeze-resnet (FREEZE_RESNET=1): the ResNet's BatchNorm keeps the checkpoint's
#     statistics, the same on every GPU;
#   - --finetune-from-model instead of --restore-file with --reset-*: the same start; run
#     again into a SAVE_DIR that holds checkpoint_last.pt, the recipe stops unless RESUME=1,
#     which continues that run (OFA's recipes would start afresh);
#   - OFA's --warmup-ratio 0.06 (a flag of OFA's fairseq fork) becomes --warmup-updates, 6%
#     of --total-num-update, both computed here from the data (fairseq's polynomial_decay);
#   - no --scst-cider-cached-tokens: the reward's CIDEr-D document frequencies come from the
#     training split's references (--scst-cider-df train, the default), as OFA's cached file
#     does; no --eval-cider-cached-tokens: validation CIDEr takes them from the validation
#     split's references, all of them, as OFA's cached validation file;
#   - data: DATA_DIR holds train.tsv (all references of an image joined by '&&') and
#     valid.tsv (OFA passes "train.tsv,val.tsv");
#   - FP16=0 trains in float32 instead of OFA's --memory-efficient-fp16 --fp16-scale-window 512.
# Environment: STAGE1_CHECKPOINT (required), DATA_DIR (required), ARCH [ofa_base], SAVE_DIR
# [checkpoints/caption_stage2_mue], GPUS [1], TOTAL_BATCH [64], BATCH_SIZE per GPU [2, or less],
# LR [1e-5 x sqrt(TOTAL_BATCH / 64)], EPOCHS [3], IMAGE_SIZE [480], FP16 [1], FREEZE_RESNET [1],
# DIST_BACKEND [nccl], BPE_DIR, RESUME [0]. Extra arguments go to fairseq-train.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
: "${STAGE1_CHECKPOINT:?set STAGE1_CHECKPOINT to the stage-1 checkpoint}"
: "${DATA_DIR:?set DATA_DIR to a folder with train.tsv and valid.tsv}"
need_file "$STAGE1_CHECKPOINT" "stage-1 checkpoint"; need_file "$DATA_DIR/train.tsv" "training data"
start_processes "$@"
plan_training 64 2 1e-5 3 "$DATA_DIR/train.tsv"
ofa_finetune "$STAGE1_CHECKPOINT" "${SAVE_DIR:-checkpoints/caption_stage2_mue}" --task caption --selected-cols 1,4,2 \
  --decompose-modalities --criterion scst_reward_criterion --layerwise-loss \
  --encoder-drop-path-rate 0.0 --decoder-drop-path-rate 0.0 --dropout 0.0 --lr "$LR" \
  --no-epoch-checkpoints --eval-cider --eval-args '{"beam":5,"max_len_b":16,"no_repeat_ngram_size":3}' \
  --best-checkpoint-metric cider --maximize-best-checkpoint-metric --freeze-encoder-embedding \
  --freeze-decoder-embedding --scst --scst-args '{"beam":5,"max_len_b":16,"no_repeat_ngram_size":3}' \
  $(half_precision memory-efficient-fp16) "$@"
