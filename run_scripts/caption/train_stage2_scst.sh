#!/usr/bin/env bash
# Caption stage 2: self-critical CIDEr-D optimisation from a stage-1 checkpoint, with MuE.
#
# The fairseq-train flags are those of OFA's base recipe (run_scripts/caption/
# train_caption_stage2_base.sh in OFA-Sys/OFA), with its values (those all of
# OFA's base recipes share: ofa_finetune in ../lib.sh), plus MuE's options:
#   --decompose-modalities, and --layerwise-loss (the SCST loss on every decoder layer).
# Deliberate deviations from OFA's recipe:
#   - launch: one fairseq-train with --distributed-world-size $GPUS and --ddp-backend
#     legacy_ddp (the SCST criterion calls encoder and decoder directly, which torch's DDP
#     cannot sync), not torch.distributed.launch over 8 GPUs;
#   - OFA's --warmup-ratio 0.06 (a flag of OFA's fairseq fork) becomes --warmup-updates, 6%
#     of --total-num-update, both computed here from the data (fairseq's polynomial_decay);
#   - no --scst-cider-cached-tokens: the reward's CIDEr-D document frequencies come from the
#     training split's references (--scst-cider-df train, the default), as OFA's cached file
#     does; no --eval-cider-cached-tokens: validation CIDEr takes them from the validation
#     references of each batch;
#   - data: DATA_DIR holds train.tsv (all references of an image joined by '&&') and
#     valid.tsv (OFA passes "train.tsv,val.tsv");
#   - FP16=0 trains in float32 instead of OFA's --memory-efficient-fp16 --fp16-scale-window 512.
# OFA's script uses 8 GPUs x 2 x 4 = 64 rows per update.
# Environment: STAGE1_CHECKPOINT (required), DATA_DIR (required), ARCH [ofa_base], SAVE_DIR
# [checkpoints/caption_stage2_mue], GPUS [1], BATCH_SIZE per GPU [2], UPDATE_FREQ [4],
# LR [1e-5], EPOCHS [5], IMAGE_SIZE [480], FP16 [1], BPE_DIR. Extra arguments go to fairseq-train.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
: "${STAGE1_CHECKPOINT:?set STAGE1_CHECKPOINT to the stage-1 checkpoint}"
: "${DATA_DIR:?set DATA_DIR to a folder with train.tsv and valid.tsv}"
need_file "$STAGE1_CHECKPOINT" "stage-1 checkpoint"; need_file "$DATA_DIR/train.tsv" "training data"
BATCH_SIZE="${BATCH_SIZE:-2}"; UPDATE_FREQ="${UPDATE_FREQ:-4}"; EPOCHS="${EPOCHS:-5}"
ofa_finetune "$STAGE1_CHECKPOINT" "${SAVE_DIR:-checkpoints/caption_stage2_mue}" --task caption --selected-cols 1,4,2 \
  --decompose-modalities --criterion scst_reward_criterion --layerwise-loss \
  --encoder-drop-path-rate 0.0 --decoder-drop-path-rate 0.0 --dropout 0.0 --lr "${LR:-1e-5}" \
  --no-epoch-checkpoints --eval-cider --eval-args '{"beam":5,"max_len_b":16,"no_repeat_ngram_size":3}' \
  --best-checkpoint-metric cider --maximize-best-checkpoint-metric --freeze-encoder-embedding \
  --freeze-decoder-embedding --scst --scst-args '{"beam":5,"max_len_b":16,"no_repeat_ngram_size":3}' \
  $(half_precision memory-efficient-fp16) "$@"
