#!/usr/bin/env bash
# Fine-tune an official OFA checkpoint on SNLI-VE with MuE: modality-decomposed encoder and
# the task loss on every decoder layer. Settings follow OFA's base recipe and the MuE paper
# (lr 3e-5, 5 epochs, batch 64 in total).
# Environment: OFA_CHECKPOINT (required: e.g. ofa_base.pt), DATA_DIR (required: folder with
# train.tsv and valid.tsv in OFA's SNLI-VE format), ARCH [ofa_base], SAVE_DIR
# [checkpoints/snli_ve_mue], GPUS [1], BATCH_SIZE per GPU [8], UPDATE_FREQ [64/(GPUS*BATCH_SIZE)],
# LR [3e-5], EPOCHS [5], IMAGE_SIZE [480], BPE_DIR [OFA's files shipped with ofa_mue].
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
: "${OFA_CHECKPOINT:?set OFA_CHECKPOINT to an OFA checkpoint (e.g. ofa_base.pt)}"
: "${DATA_DIR:?set DATA_DIR to a folder with train.tsv and valid.tsv}"
need_file "$OFA_CHECKPOINT" "OFA checkpoint"; need_file "$DATA_DIR/train.tsv" "training data"
BATCH_SIZE="${BATCH_SIZE:-8}"; EPOCHS="${EPOCHS:-5}"
UPDATE_FREQ="${UPDATE_FREQ:-$(( 64 / (GPUS * BATCH_SIZE) > 0 ? 64 / (GPUS * BATCH_SIZE) : 1 ))}"
TOTAL=$(( $(total_updates "$DATA_DIR/train.tsv" "$BATCH_SIZE" "$EPOCHS") / UPDATE_FREQ ))
"$PY" -m fairseq_cli.train "$DATA_DIR" --user-dir "$REPO_ROOT/ofa_mue" --task snli_ve --arch "${ARCH:-ofa_base}" \
  ${BPE_DIR:+--bpe-dir "$BPE_DIR"} --restore-file "$OFA_CHECKPOINT" --reset-optimizer --reset-dataloader \
  --reset-meters --save-dir "${SAVE_DIR:-checkpoints/snli_ve_mue}" "${DISTRIBUTED[@]}" \
  --decompose-modalities --criterion layerwise_label_smoothed_cross_entropy --label-smoothing 0.0 \
  --optimizer adam --adam-betas "(0.9,0.999)" --adam-eps 1e-08 --weight-decay 0.01 --clip-norm 1.0 \
  --lr-scheduler polynomial_decay --lr "${LR:-3e-5}" --total-num-update "$TOTAL" \
  --warmup-updates $(( TOTAL * 6 / 100 )) --max-epoch "$EPOCHS" --batch-size "$BATCH_SIZE" \
  --update-freq "$UPDATE_FREQ" --dropout 0.1 --attention-dropout 0.0 --encoder-drop-path-rate 0.1 \
  --decoder-drop-path-rate 0.1 --max-src-length 80 --patch-image-size "${IMAGE_SIZE:-480}" \
  --num-workers 2 --log-format simple --log-interval 10 \
  --keep-last-epochs 1 "$@"
