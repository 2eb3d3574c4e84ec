#!/usr/bin/env bash
# Calibrate MuE thresholds on the validation split for a target retention, then evaluate the
# full model and MuE on the test split, and sweep the trade-off.
# The checkpoint is evaluated as it was fine-tuned: one fine-tuned with MuE (modality-decomposed)
# as it is; one with a joint encoder (OFA's own) is refused unless DECOMPOSE=1, which evaluates
# it decomposed, the full model included (decomposition_overrides in ../lib.sh).
# Environment: CHECKPOINT (required), DATA_DIR (required: valid.tsv and test.tsv), DECOMPOSE [0],
# RESULTS_DIR [results/snli_ve], RETENTION [0.99], BATCH_SIZE [16], BPE_DIR, CALIBRATE_ARGS and
# SWEEP_ARGS [none: options for ofa_mue.calibrate and ofa_mue.sweep, split on whitespace and
# put after the recipe's own, e.g. SWEEP_ARGS="--depths 1,2,4 --timing-repetitions 0"].
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
: "${CHECKPOINT:?set CHECKPOINT to a fine-tuned SNLI-VE checkpoint}"
: "${DATA_DIR:?set DATA_DIR to a folder with valid.tsv and test.tsv}"
need_file "$CHECKPOINT" "checkpoint"
decomposition_overrides "$CHECKPOINT"
OUT="${RESULTS_DIR:-results/snli_ve}"
read -ra CALIBRATE_EXTRA <<< "${CALIBRATE_ARGS:-}"
read -ra SWEEP_EXTRA <<< "${SWEEP_ARGS:-}"
ARGS=("$DATA_DIR" --path "$CHECKPOINT" --task snli_ve --batch-size "${BATCH_SIZE:-16}" ${BPE_DIR:+--bpe-dir "$BPE_DIR"}
      "${DECOMPOSITION[@]}")
"$PY" -m ofa_mue.calibrate "${ARGS[@]}" --gen-subset valid --method retention --retention "${RETENTION:-0.99}" \
  --profile-path "$OUT/profile.json" "${CALIBRATE_EXTRA[@]}"
"$PY" -m ofa_mue.evaluate "${ARGS[@]}" --gen-subset test --results-path "$OUT/full"
"$PY" -m ofa_mue.evaluate "${ARGS[@]}" --gen-subset test --exit-profile "$OUT/profile.json" --results-path "$OUT/mue"
"$PY" -m ofa_mue.sweep "${ARGS[@]}" --gen-subset test --sweep-dir "$OUT/sweep" "${SWEEP_EXTRA[@]}"
mkdir -p "$OUT/report/snli_ve" && cp -r "$OUT/full" "$OUT/mue" "$OUT/report/snli_ve/"
"$PY" -m ofa_mue.report --results-dir "$OUT/report"
