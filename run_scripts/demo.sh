#!/usr/bin/env bash
# The main job, end to end on the demo data (CPU; about 30 minutes on 2 cores including the
# first set-up):
#   1. set up .venv
#   2. generate the demo data (synthetic scenes; python -m ofa_mue.demo.generate --help)
#   3. fine-tune ofa_demo with MuE (decomposed encoder, layer-wise loss) on SNLI-VE and on
#      captioning, the two at once with one thread each
#   4. calibrate the exit thresholds on the validation splits
#   5. evaluate the full model and MuE on the test splits
#   6. sweep MuE, entropy, patience and static truncation (trade-off PNGs)
#   7. print a table like the paper's Table 1; write results/demo/summary.json
# Environment variables [defaults]: DEMO_DATA [demo_data], DEMO_CHECKPOINTS [checkpoints/demo],
# DEMO_RESULTS [results/demo], DEMO_SNLI_UPDATES [500], DEMO_CAPTION_UPDATES [1200],
# DEMO_SNLI_RETENTION [0.99], DEMO_CAPTION_RETENTION [0.96], DEMO_EVAL_ROWS [150].
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO_ROOT/run_scripts/setup_env.sh"
cd "$REPO_ROOT"
PY="${OFA_MUE_VENV:-$REPO_ROOT/.venv}/bin/python"
DATA="${DEMO_DATA:-demo_data}"
CKPT="${DEMO_CHECKPOINTS:-checkpoints/demo}"
OUT="${DEMO_RESULTS:-results/demo}"
SNLI_UPDATES="${DEMO_SNLI_UPDATES:-500}"
CAPTION_UPDATES="${DEMO_CAPTION_UPDATES:-1200}"
EVAL_ROWS="${DEMO_EVAL_ROWS:-150}"
IMAGE_SIZE=64
# A model this small gains nothing from a second thread, and two jobs share the 2 cores.
export OMP_NUM_THREADS=1
mkdir -p "$OUT"

step() { echo; echo "=== demo: $* ($(date +%H:%M:%S))"; }
# Run two jobs at once, the second one's output shown; stop at the first failure of either.
both() {
  local log=$1 first=$2 second=$3
  "$first" > "$log" 2>&1 &
  BACKGROUND=$!
  trap 'kill "$BACKGROUND" 2>/dev/null || true' EXIT
  "$second"
  wait "$BACKGROUND" || { echo "error: $first failed, see $log" >&2; tail -20 "$log" >&2; exit 1; }
  trap - EXIT
}

step "demo data in $DATA"
if [[ ! -f "$DATA/README.md" ]]; then
  "$PY" -m ofa_mue.demo.generate --out "$DATA" --valid "$EVAL_ROWS" --test "$EVAL_ROWS"
else
  echo "reusing $DATA (delete it to regenerate)"
fi

VOCAB=(--bpe-dir "$DATA/bpe" --code-dict-size 0 --num-bins 0)
# MuE fine-tuning: modality-decomposed encoder, task loss on every decoder layer.
train() {
  local task=$1 updates=$2; shift 2
  "$PY" -m fairseq_cli.train "$DATA/$task" --user-dir ofa_mue --task "$task" --arch ofa_demo "${VOCAB[@]}" \
    --patch-image-size "$IMAGE_SIZE" --decompose-modalities \
    --criterion layerwise_label_smoothed_cross_entropy --label-smoothing 0.1 \
    --optimizer adam --adam-betas "(0.9,0.999)" --adam-eps 1e-8 --clip-norm 1.0 \
    --lr-scheduler polynomial_decay --lr 5e-4 --warmup-updates 50 \
    --total-num-update "$updates" --max-update "$updates" --batch-size 32 --batch-size-valid 64 \
    --save-dir "$CKPT/$task" --no-epoch-checkpoints --validate-interval 1000 \
    --validate-interval-updates "$updates" --num-workers 0 --cpu --seed 1 \
    --log-format simple --log-interval 50 "$@"
}
train_snli() { train snli_ve "$SNLI_UPDATES"; }
train_caption() { train caption "$CAPTION_UPDATES" --max-tgt-length 16; }
step "fine-tune with MuE: captioning ($CAPTION_UPDATES updates, shown) and SNLI-VE ($SNLI_UPDATES updates, log in $OUT/train_snli_ve.log)"
both "$OUT/train_snli_ve.log" train_snli train_caption
grep -E "\| valid \|" "$OUT/train_snli_ve.log" | tail -1

snli() {
  "$PY" -m "$1" "$DATA/snli_ve" --path "$CKPT/snli_ve/checkpoint_last.pt" --task snli_ve "${VOCAB[@]}" \
    --batch-size 150 --cpu "${@:2}"
}
# Captions: OFA's beam search, and the paper's decaying decoder threshold (beta 0.95, tau 1).
caption() {
  "$PY" -m "$1" "$DATA/caption" --path "$CKPT/caption/checkpoint_last.pt" --task caption "${VOCAB[@]}" \
    --batch-size 150 --cpu --beam 5 --max-len-b 16 --no-repeat-ngram-size 3 \
    --decoder-exit-beta 0.95 --decoder-exit-tau 1 "${@:2}"
}

snli_pipeline() {
  snli ofa_mue.calibrate --gen-subset valid --retention "${DEMO_SNLI_RETENTION:-0.99}" \
    --profile-path "$OUT/snli_ve/profile.json"
  snli ofa_mue.evaluate --gen-subset test --results-path "$OUT/snli_ve/full"
  snli ofa_mue.evaluate --gen-subset test --exit-profile "$OUT/snli_ve/profile.json" --results-path "$OUT/snli_ve/mue"
  snli ofa_mue.sweep --gen-subset test --sweep-dir "$OUT/snli_ve/sweep"
}
caption_pipeline() {
  caption ofa_mue.calibrate --gen-subset valid --retention "${DEMO_CAPTION_RETENTION:-0.96}" \
    --candidates 0.995,0.99,0.98,0.97,0.95,0.9,0.8 --profile-path "$OUT/caption/profile.json"
  caption ofa_mue.evaluate --gen-subset test --results-path "$OUT/caption/full"
  caption ofa_mue.evaluate --gen-subset test --exit-profile "$OUT/caption/profile.json" \
    --results-path "$OUT/caption/mue"
  caption ofa_mue.sweep --gen-subset test --sweep-dir "$OUT/caption/sweep" --thresholds 0.995,0.99,0.98,0.95,0.9 \
    --entropies 0.5,1.5 --patiences 1,3 --depths 2,4
}
step "calibrate on valid, evaluate full vs MuE on test, sweep: captioning (shown) and SNLI-VE (log in $OUT/snli_ve.log)"
both "$OUT/snli_ve.log" snli_pipeline caption_pipeline
grep "^|" "$OUT/snli_ve.log" || true

step "summary"
"$PY" -m ofa_mue.report --results-dir "$OUT"
echo
echo "Written: $OUT/summary.json, $OUT/table.md, $OUT/{snli_ve,caption}/sweep/{tradeoff.png,sweep.md}"
