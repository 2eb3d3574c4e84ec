#!/usr/bin/env bash
# The main job, end to end on the bundled demo data (CPU, about 30 minutes on 2 cores
# including the first set-up):
#   1. set up .venv                      5. evaluate full vs MuE on the test splits
#   2. generate the demo data            6. sweep thresholds / static depths (trade-off PNGs)
#   3. fine-tune ofa_demo with MuE        7. print a table like the paper's Table 1 and write
#      (decomposed encoder, layer-wise       results/demo/summary.json
#      loss) on SNLI-VE and captioning
#   4. calibrate the exit thresholds on the validation splits
# Environment variables (defaults in brackets): DEMO_DATA [demo_data], DEMO_CHECKPOINTS
# [checkpoints/demo], DEMO_RESULTS [results/demo], DEMO_SNLI_UPDATES, DEMO_CAPTION_UPDATES,
# DEMO_SNLI_RETENTION [0.99], DEMO_CAPTION_RETENTION [0.96].
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO_ROOT/run_scripts/setup_env.sh"
cd "$REPO_ROOT"
PY="${OFA_MUE_VENV:-$REPO_ROOT/.venv}/bin/python"
DATA="${DEMO_DATA:-demo_data}"
CKPT="${DEMO_CHECKPOINTS:-checkpoints/demo}"
OUT="${DEMO_RESULTS:-results/demo}"
SNLI_UPDATES="${DEMO_SNLI_UPDATES:-400}"
CAPTION_UPDATES="${DEMO_CAPTION_UPDATES:-400}"
IMAGE_SIZE=64
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"

step() { echo; echo "=== demo: $* ($(date +%H:%M:%S))"; }

step "demo data in $DATA"
if [[ ! -f "$DATA/README.md" ]]; then
  "$PY" -m ofa_mue.data.demo_data --out "$DATA" --image-size "$IMAGE_SIZE"
else
  echo "reusing $DATA (delete it to regenerate)"
fi

# Fine-tuning with MuE: modality-decomposed encoder, task loss on every decoder layer.
train() {
  local task=$1 updates=$2; shift 2
  "$PY" -m fairseq_cli.train "$DATA/$task" --user-dir ofa_mue --task "$task" --arch ofa_demo \
    --bpe-dir "$DATA/bpe" --code-dict-size 0 --num-bins 0 --patch-image-size "$IMAGE_SIZE" \
    --decompose-modalities --criterion layerwise_label_smoothed_cross_entropy --label-smoothing 0.1 \
    --optimizer adam --adam-betas "(0.9,0.999)" --adam-eps 1e-8 --weight-decay 0.01 --clip-norm 1.0 \
    --lr-scheduler polynomial_decay --lr 1e-3 --warmup-updates $((updates / 16)) \
    --total-num-update "$updates" --max-update "$updates" --batch-size 32 --batch-size-valid 64 \
    --save-dir "$CKPT/$task" --no-epoch-checkpoints --validate-interval 1000 --validate-interval-updates "$updates" \
    --num-workers 0 --cpu --seed 1 --log-format simple --log-interval 50 "$@"
}
step "fine-tune SNLI-VE with MuE ($SNLI_UPDATES updates)"
train snli_ve "$SNLI_UPDATES"
step "fine-tune captioning with MuE ($CAPTION_UPDATES updates)"
train caption "$CAPTION_UPDATES" --max-tgt-length 16

common() {
  local task=$1; shift
  echo "$DATA/$task" --path "$CKPT/$task/checkpoint_last.pt" --task "$task" --bpe-dir "$DATA/bpe" \
    --code-dict-size 0 --num-bins 0 --batch-size 32 --cpu "$@"
}
# The paper's decaying decoder threshold for captions protects the first tokens.
CAPTION_DECAY=(--decoder-exit-beta 0.95 --decoder-exit-tau 1)

step "calibrate exit thresholds on the validation splits"
# shellcheck disable=SC2046
"$PY" -m ofa_mue.calibrate $(common snli_ve) --gen-subset valid \
  --retention "${DEMO_SNLI_RETENTION:-0.99}" --profile-path "$OUT/snli_ve/profile.json"
# shellcheck disable=SC2046
"$PY" -m ofa_mue.calibrate $(common caption) "${CAPTION_DECAY[@]}" --gen-subset valid \
  --retention "${DEMO_CAPTION_RETENTION:-0.96}" --profile-path "$OUT/caption/profile.json"

step "evaluate full model and MuE on the test splits"
for task in snli_ve caption; do
  # shellcheck disable=SC2046
  "$PY" -m ofa_mue.evaluate $(common "$task") --gen-subset test --results-path "$OUT/$task/full"
  # shellcheck disable=SC2046
  "$PY" -m ofa_mue.evaluate $(common "$task") --gen-subset test --exit-profile "$OUT/$task/profile.json" \
    --results-path "$OUT/$task/mue"
done

step "trade-off sweeps on the test splits"
# shellcheck disable=SC2046
"$PY" -m ofa_mue.sweep $(common snli_ve) --gen-subset test --sweep-dir "$OUT/snli_ve/sweep"
# shellcheck disable=SC2046
"$PY" -m ofa_mue.sweep $(common caption) "${CAPTION_DECAY[@]}" --gen-subset test \
  --thresholds 0.999,0.995,0.99,0.98,0.97,0.95,0.9 --sweep-dir "$OUT/caption/sweep"

step "summary"
"$PY" -m ofa_mue.report --results-dir "$OUT"
echo
echo "Written: $OUT/summary.json, $OUT/table.md, $OUT/{snli_ve,caption}/sweep/tradeoff.png"
