#!/usr/bin/env bash
# The main job, end to end on the demo data (CPU, 2 cores):
#   1. set up .venv
#   2. generate the demo data (synthetic scenes; python -m ofa_mue.demo.generate --help)
#   then, for each training seed:
#   3. pretrain the image embedding (python -m ofa_mue.demo.pretrain: the demo's stand-in for
#      OFA's pretrained backbone)
#   4. fine-tune ofa_demo with MuE (decomposed encoder, layer-wise loss) on captioning from
#      it, then on SNLI-VE from the caption model after DEMO_QUESTION_UPDATES updates of
#      grounding questions (python -m ofa_mue.demo.question_stage, the stand-in for OFA's
#      pretraining on VQA and grounding; 0: straight from the caption model)
#   5. captioning (while SNLI-VE trains): calibrate on valid (uncertified, keeping a share of
#      the full model's quality, and certified, Learn-then-Test), python -m ofa_mue.reproduce on
#      test (the paper's tables and figures, the sweep, MuE vs static truncation) without
#      timing; SNLI-VE (alone): the same with timing, and the full model with every test
#      image replaced by another test image or a blank one (evaluate --replace-images), and
#      with every hypothesis replaced by another test row's (evaluate --replace-text)
#   6. summarize every seed and check issue 15's targets (python -m ofa_mue.demo.summary):
#      $DEMO_RESULTS/summary.{json,md}
#
#   bash run_scripts/demo.sh [--seeds N]     # N training seeds (1, 2, ..., N) [DEMO_SEEDS or 1]
#   bash run_scripts/demo.sh --ablations     # also fine-tune Table 4's variants [DEMO_ABLATIONS=1]:
#       each task again without modality decomposition and again without the layer-wise loss
#       (OFA's final-layer loss), from the same checkpoint with the same updates and seed; the
#       reproduce runs calibrate and evaluate them (seed*/{caption,snli_ve}/reproduce/table4_ablation.*);
#       about 15 minutes more a seed
#   bash run_scripts/demo.sh --seed-list 2,3 # exactly these seeds [DEMO_SEED_LIST], e.g. to add
#       seeds beside a seed 1 run already in DEMO_RESULTS; the summary covers the listed seeds,
#       python -m ofa_mue.demo.summary --results-dir DIR --seeds 1,2,3 then covers all three
#
# A seed's folders, DEMO_CHECKPOINTS/seedN and DEMO_RESULTS/seedN, are deleted and made
# afresh when the seed runs (a rerun never resumes or reuses a previous run's models or
# calibration tables); other seeds' folders are kept.
# One seed takes about 19-21 minutes on 2 cores after set-up (machines differ: 15-31 without
# the question stage); conclusions must hold for every seed (3 for the committed results).
# Environment variables [defaults]: DEMO_SEEDS [1],
# DEMO_DATA [demo_data], DEMO_CHECKPOINTS [checkpoints/demo], DEMO_RESULTS [results/demo],
# DEMO_TRAIN_ROWS [12000], DEMO_VALID_ROWS [500] (the calibration split, both tasks),
# DEMO_TEST_ROWS [300], DEMO_CAPTION_OBJECTS [1,2,3] (the numbers of objects a caption scene may
# hold), DEMO_CAPTION_WORDS [15] (the longest caption reference; captions train and generate
# with one token more), DEMO_PRETRAIN_UPDATES [800], DEMO_CAPTION_UPDATES [400],
# DEMO_SNLI_UPDATES [700], DEMO_SNLI_LR [5e-4] and DEMO_SNLI_LABEL_SMOOTHING [0.1] (SNLI-VE's
# fine-tuning; captions keep 5e-4 and 0.1), DEMO_QUESTION_UPDATES [2000; 0: no question stage; its
# held-out accuracies go to $DEMO_RESULTS/seed*/questions.json and the summary],
# DEMO_QUESTION_KINDS [where,what,exists,region,count,relation: python -m
# ofa_mue.demo.question_stage --help], DEMO_EASY_LOOKUP_UPDATES [0] (the question stage's first N
# updates ask their lookups about two-object scenes: --easy-lookup-updates), DEMO_FOCUS_WEIGHT [0]
# and DEMO_FOCUS_LR [the stage's] (the question stage's loss on where the decoder looks and the
# learning rate of its cross-attention queries and keys: --focus-weight, --focus-lr),
# DEMO_FREEZE_ENCODER [0] (1: the question stage trains the decoder only: --freeze-encoder), DEMO_TIMING_REPETITIONS [5]
# (SNLI-VE's reproduce; 0: no timing),
# DEMO_SNLI_RETENTION [0.99], DEMO_CAPTION_RETENTION [0.96] (the uncertified calibration,
# reproduce's MuE), DEMO_RISK_EPSILON [0.05], DEMO_RISK_DELTA [0.1] (the certified one),
# DEMO_SNLI_FAMILIES [all] (comma-separated SNLI-VE hypothesis families to generate, a
# diagnostic, e.g. exists; give it its own DEMO_DATA, DEMO_CHECKPOINTS and DEMO_RESULTS).
set -euo pipefail
SEEDS="${DEMO_SEEDS:-1}"
SEED_LIST="${DEMO_SEED_LIST:-}"
ABLATIONS="${DEMO_ABLATIONS:-0}"
usage="usage: bash run_scripts/demo.sh [--seeds N | --seed-list S1,S2,...] [--ablations]"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seeds) SEEDS="${2:?--seeds needs a number}"; SEEDS_GIVEN=1; shift 2 ;;
    --seeds=*) SEEDS="${1#--seeds=}"; SEEDS_GIVEN=1; shift ;;
    --seed-list) SEED_LIST="${2:?--seed-list needs seeds, e.g. 2,3}"; shift 2 ;;
    --seed-list=*) SEED_LIST="${1#--seed-list=}"; shift ;;
    --ablations) ABLATIONS=1; shift ;;
    *) echo "error: unknown argument $1 ($usage)" >&2; exit 2 ;;
  esac
done
[[ "$ABLATIONS" =~ ^[01]$ ]] || { echo "error: DEMO_ABLATIONS must be 0 or 1, got '$ABLATIONS'" >&2; exit 2; }
[[ "$SEEDS" =~ ^[1-9][0-9]*$ ]] || { echo "error: --seeds must be a positive integer, got '$SEEDS'" >&2; exit 2; }
if [[ -z "$SEED_LIST" ]]; then
  SEED_LIST=$(seq -s, 1 "$SEEDS")
else
  [[ -z "${SEEDS_GIVEN:-}" && -z "${DEMO_SEEDS:-}" ]] \
    || { echo "error: give --seeds (DEMO_SEEDS) or --seed-list (DEMO_SEED_LIST), not both" >&2; exit 2; }
  [[ "$SEED_LIST" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] \
    || { echo "error: --seed-list must be positive integers separated by commas, got '$SEED_LIST'" >&2; exit 2; }
  [[ $(tr , '\n' <<< "$SEED_LIST" | sort | uniq -d) == "" ]] \
    || { echo "error: --seed-list names a seed twice: '$SEED_LIST'" >&2; exit 2; }
fi

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO_ROOT/run_scripts/setup_env.sh"
cd "$REPO_ROOT"
PY="${OFA_MUE_VENV:-$REPO_ROOT/.venv}/bin/python"
DATA="${DEMO_DATA:-demo_data}"
CKPT="${DEMO_CHECKPOINTS:-checkpoints/demo}"
OUT="${DEMO_RESULTS:-results/demo}"
TRAIN_ROWS="${DEMO_TRAIN_ROWS:-12000}"
VALID_ROWS="${DEMO_VALID_ROWS:-500}"
TEST_ROWS="${DEMO_TEST_ROWS:-300}"
PRETRAIN_UPDATES="${DEMO_PRETRAIN_UPDATES:-800}"
SNLI_UPDATES="${DEMO_SNLI_UPDATES:-700}"
CAPTION_UPDATES="${DEMO_CAPTION_UPDATES:-400}"
CAPTION_OBJECTS="${DEMO_CAPTION_OBJECTS:-1,2,3}"
CAPTION_WORDS="${DEMO_CAPTION_WORDS:-15}"
[[ "$CAPTION_WORDS" =~ ^[1-9][0-9]*$ ]] || { echo "error: DEMO_CAPTION_WORDS must be a positive whole number, got '$CAPTION_WORDS'" >&2; exit 2; }
CAPTION_LENGTH=$((CAPTION_WORDS + 1))  # every demo word is one BPE token; one more than the longest reference (OFA's --max-len-b 16 for 15 words)
QUESTION_UPDATES="${DEMO_QUESTION_UPDATES:-2000}"
[[ "$QUESTION_UPDATES" =~ ^(0|[1-9][0-9]*)$ ]] || { echo "error: DEMO_QUESTION_UPDATES must be a whole number >= 0 (no leading zeros), got '$QUESTION_UPDATES'" >&2; exit 2; }
QUESTION_KINDS="${DEMO_QUESTION_KINDS:-where,what,exists,region,count,relation}"
EASY_LOOKUP_UPDATES="${DEMO_EASY_LOOKUP_UPDATES:-0}"
[[ "$EASY_LOOKUP_UPDATES" =~ ^(0|[1-9][0-9]*)$ ]] && (( EASY_LOOKUP_UPDATES <= QUESTION_UPDATES )) || { echo "error: DEMO_EASY_LOOKUP_UPDATES must be a whole number from 0 to DEMO_QUESTION_UPDATES ($QUESTION_UPDATES), got '$EASY_LOOKUP_UPDATES'" >&2; exit 2; }
SNLI_LR="${DEMO_SNLI_LR:-5e-4}"
SNLI_LABEL_SMOOTHING="${DEMO_SNLI_LABEL_SMOOTHING:-0.1}"
FREEZE_ENCODER="${DEMO_FREEZE_ENCODER:-0}"
[[ "$FREEZE_ENCODER" =~ ^[01]$ ]] || { echo "error: DEMO_FREEZE_ENCODER must be 0 or 1, got '$FREEZE_ENCODER'" >&2; exit 2; }
FOCUS_WEIGHT="${DEMO_FOCUS_WEIGHT:-0}"
FOCUS_LR="${DEMO_FOCUS_LR:-}"
NUMBER='^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$'
[[ "$FOCUS_WEIGHT" =~ $NUMBER ]] || { echo "error: DEMO_FOCUS_WEIGHT must be a number >= 0, got '$FOCUS_WEIGHT'" >&2; exit 2; }
[[ -z "$FOCUS_LR" ]] || { [[ "$FOCUS_LR" =~ $NUMBER ]] && "$PY" -c 'import sys; sys.exit(float(sys.argv[1]) <= 0)' "$FOCUS_LR"; } \
  || { echo "error: DEMO_FOCUS_LR must be a number > 0, got '$FOCUS_LR'" >&2; exit 2; }
{ [[ "$SNLI_LR" =~ $NUMBER ]] && "$PY" -c 'import sys; sys.exit(float(sys.argv[1]) <= 0)' "$SNLI_LR"; } \
  || { echo "error: DEMO_SNLI_LR must be a number > 0, got '$SNLI_LR'" >&2; exit 2; }
{ [[ "$SNLI_LABEL_SMOOTHING" =~ $NUMBER ]] && "$PY" -c 'import sys; sys.exit(float(sys.argv[1]) >= 1)' "$SNLI_LABEL_SMOOTHING"; } \
  || { echo "error: DEMO_SNLI_LABEL_SMOOTHING must be a number from 0 to below 1, got '$SNLI_LABEL_SMOOTHING'" >&2; exit 2; }
"$PY" -c 'import sys; from ofa_mue.demo.questions import KINDS
bad, known = [k for k in sys.argv[1].split(",") if k not in KINDS], " ".join(KINDS)
sys.exit(f"error: DEMO_QUESTION_KINDS: unknown kind(s) {bad}, known: {known}" if bad else 0)' "$QUESTION_KINDS" || exit 2
TIMING_REPETITIONS="${DEMO_TIMING_REPETITIONS:-5}"
IMAGE_SIZE=48  # one 16-pixel patch per cell of the scenes' 3x3 grid
# One thread per job: SNLI-VE trains beside the caption pipeline, one core each (alone, a
# second thread speeds the question stage up about 1.45 times: 100 updates in 20 s against 29 s).
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
START=$(date +%s)

step() { echo; echo "=== demo: $* ($(date +%H:%M:%S), $(( $(date +%s) - START )) s)"; }
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

# Run a job with its output in a log (as a job of its own, so that its first failure stops it),
# then show the log's tables; on failure show its end and stop.
logged() {
  local log=$1 job=$2
  "$job" > "$log" 2>&1 &
  wait $! || { echo "error: $job failed, see $log" >&2; tail -20 "$log" >&2; exit 1; }
  grep -E "^\||^\*\*" "$log" || true
}

step "demo data in $DATA"
# --reuse: data already in $DATA is kept if it was generated with these arguments, refused if not
"$PY" -m ofa_mue.demo.generate --out "$DATA" --reuse --train "$TRAIN_ROWS" --valid "$VALID_ROWS" --test "$TEST_ROWS" \
  --image-size "$IMAGE_SIZE" --caption-objects "$CAPTION_OBJECTS" --caption-words "$CAPTION_WORDS" \
  ${DEMO_SNLI_FAMILIES:+--snli-families "$DEMO_SNLI_FAMILIES"}

DATA_SECONDS=$(( $(date +%s) - START ))  # each seed's run_time.json counts it, as a one-seed run spends it

VOCAB=(--bpe-dir "$DATA/bpe" --code-dict-size 0 --num-bins 0)
# MuE fine-tuning: modality-decomposed encoder, task loss on every decoder layer. Captions
# start from the pretrained image embedding; SNLI-VE starts from the caption model (OFA's
# habit of fine-tuning every task from one pretrained model: from the image embedding
# alone, SNLI-VE learnt only to spot a covered cell in the demo's budget).
# The variant (Table 4's ablations): mue (the default: both), no_modality_decomposition (the
# encoder fused as OFA fine-tunes), no_layerwise_loss (OFA's loss on the last decoder layer);
# the variants' checkpoints go to $SEED_CKPT/ablations/<variant>/<task>.
train() {
  local task=$1 updates=$2 init=$3 variant=$4; shift 4
  local decompose=--decompose-modalities criterion=layerwise_label_smoothed_cross_entropy save="$SEED_CKPT/$task"
  local lr=5e-4 label_smoothing=0.1
  if [[ "$task" == snli_ve ]]; then lr=$SNLI_LR label_smoothing=$SNLI_LABEL_SMOOTHING; fi
  case "$variant" in
    mue) ;;
    no_modality_decomposition) decompose="" ;;
    no_layerwise_loss) criterion=adjust_label_smoothed_cross_entropy ;;
    *) echo "error: unknown variant $variant" >&2; return 2 ;;
  esac
  [[ "$variant" == mue ]] || save="$SEED_CKPT/ablations/$variant/$task"
  "$PY" -m fairseq_cli.train "$DATA/$task" --user-dir ofa_mue --task "$task" --arch ofa_demo "${VOCAB[@]}" \
    --patch-image-size "$IMAGE_SIZE" $decompose --finetune-from-model "$init" \
    --criterion "$criterion" --label-smoothing "$label_smoothing" \
    --optimizer adam --adam-betas "(0.9,0.999)" --adam-eps 1e-8 --clip-norm 1.0 \
    --lr-scheduler polynomial_decay --lr "$lr" --warmup-updates 50 \
    --total-num-update "$updates" --max-update "$updates" --batch-size 32 --batch-size-valid 100 \
    --save-dir "$save" --no-epoch-checkpoints --disable-validation --num-workers 0 --cpu \
    --seed "$SEED" --log-format simple --log-interval 100 "$@"
}
train_caption() { train caption "$CAPTION_UPDATES" "$SEED_CKPT/pretrained.pt" "${1:-mue}" --max-tgt-length "$CAPTION_LENGTH"; }
VARIANTS=(no_modality_decomposition no_layerwise_loss)
# The two caption variants at once (one thread each), the second one's log shown.
train_caption_variant_1() { train_caption "${VARIANTS[0]}"; }
train_caption_variant_2() { train_caption "${VARIANTS[1]}"; }
# reproduce's Table 4 options for task $1's variants, into the array ABLATION_ARGS (empty
# without --ablations)
set_ablation_args() {
  ABLATION_ARGS=()
  (( ABLATIONS )) || return 0
  ABLATION_ARGS=(--no-decomposition-checkpoint "$SEED_CKPT/ablations/${VARIANTS[0]}/$1/checkpoint_last.pt"
                 --no-layerwise-checkpoint "$SEED_CKPT/ablations/${VARIANTS[1]}/$1/checkpoint_last.pt")
}
# reproduce's --calibrate-args (one string, split as a shell would): retention $1, then the
# candidate options of array $2, then the calibration table $3 (quoted, so paths may hold spaces)
calibrate_args() {
  local retention=$1 table=$3
  local -n candidates=$2
  echo "--method retention --retention $retention ${candidates[*]} --table-path ${table@Q}"
}
train_snli() {
  local init="$SEED_CKPT/caption/checkpoint_last.pt"
  if (( QUESTION_UPDATES > 0 )); then
    "$PY" -m ofa_mue.demo.question_stage --data "$DATA" --init "$init" --out "$SEED_CKPT/questions.pt" \
      --updates "$QUESTION_UPDATES" --kinds "$QUESTION_KINDS" --easy-lookup-updates "$EASY_LOOKUP_UPDATES" \
      --focus-weight "$FOCUS_WEIGHT" ${FOCUS_LR:+--focus-lr "$FOCUS_LR"} $( (( FREEZE_ENCODER )) && echo --freeze-encoder) \
      --seed "$SEED" --image-size "$IMAGE_SIZE" --no-progress
    cp "$SEED_CKPT/questions.json" "$SEED_OUT/questions.json"
    init="$SEED_CKPT/questions.pt"
  fi
  train snli_ve "$SNLI_UPDATES" "$init" mue
  if (( ABLATIONS )); then
    for variant in "${VARIANTS[@]}"; do train snli_ve "$SNLI_UPDATES" "$init" "$variant"; done
  fi
}

snli() {
  "$PY" -m "$1" "$DATA/snli_ve" --path "$SEED_CKPT/snli_ve/checkpoint_last.pt" --task snli_ve "${VOCAB[@]}" \
    --batch-size 100 --cpu "${@:2}"
}
# Captions: OFA's beam search, and the paper's decaying decoder threshold (beta 0.95, tau 1).
caption() {
  "$PY" -m "$1" "$DATA/caption" --path "$SEED_CKPT/caption/checkpoint_last.pt" --task caption "${VOCAB[@]}" \
    --batch-size 100 --cpu --beam 5 --max-len-b "$CAPTION_LENGTH" --no-repeat-ngram-size 3 \
    --decoder-exit-beta 0.95 --decoder-exit-tau 1 "${@:2}"
}
# Calibration on valid (a profile per seed), then on test: python -m ofa_mue.reproduce (full
# model, calibrated MuE, the baselines, static truncation at every depth combination, MuE
# against static truncation's envelope, the paper's tables and figures) and, for SNLI-VE, the
# full model with every image replaced by another test image or a blank one, and with every
# hypothesis replaced by another test row's (what it answers from the picture alone).
# Calibration evaluates every combination of the candidates (python -m ofa_mue.calibrate), so
# each knob gets the few values that matter on this data: SNLI-VE 5 x 4 x 4 settings, captions
# (beam search) 3 x 2 x 5.
SNLI_CANDIDATES=(--image-candidates 0.99,0.98,0.95,0.9 --text-candidates 0.9,0.8,0.6 --decoder-candidates 0.98,0.96,0.9)
CAPTION_CANDIDATES=(--image-candidates 0.98,0.9 --text-candidates 0.9 --decoder-candidates 0.99,0.95,0.9,0.8)
# The certified calibration (Learn-then-Test, python -m ofa_mue.calibrate's default: expected
# per-example loss <= DEMO_RISK_EPSILON with probability >= 1 - DEMO_RISK_DELTA) on the same
# calibration table as the uncertified one (no configuration is evaluated twice), then its
# profile on the test split, beside the uncertified MuE of the reproduce run.
certified() {
  local task=$1 out=$2
  "$task" ofa_mue.calibrate --gen-subset valid --profile-path "$out/certified/profile.json" \
    --table-path "$out/calibration_table.json.gz" --risk-epsilon "${DEMO_RISK_EPSILON:-0.05}" \
    --risk-delta "${DEMO_RISK_DELTA:-0.1}" "${@:3}"
  "$task" ofa_mue.evaluate --gen-subset test --exit-profile "$out/certified/profile.json" --results-path "$out/certified"
}
# DeeBERT's entropy at SNLI-VE's answer is over the three answers (at most ln 3 = 1.10 nats):
# its thresholds spread over that range.
snli_pipeline() {
  local out=$SEED_OUT/snli_ve ABLATION_ARGS
  set_ablation_args snli_ve
  snli ofa_mue.reproduce --results-dir "$out/reproduce" --timing-repetitions "$TIMING_REPETITIONS" \
    --calibrate-args "$(calibrate_args "${DEMO_SNLI_RETENTION:-0.99}" SNLI_CANDIDATES "$out/calibration_table.json.gz")" \
    --entropies 0.3,0.6,0.8,0.9,1.0,1.05 --depths 1,2,4 "${ABLATION_ARGS[@]}"
  certified snli "$out" "${SNLI_CANDIDATES[@]}"
  snli ofa_mue.evaluate --gen-subset test --replace-images other --results-path "$out/images_other"
  snli ofa_mue.evaluate --gen-subset test --replace-images blank --results-path "$out/images_blank"
  snli ofa_mue.evaluate --gen-subset test --replace-text other --results-path "$out/text_other"
}
caption_pipeline() {
  local out=$SEED_OUT/caption ABLATION_ARGS
  # timing needs the cores to itself, and SNLI-VE trains meanwhile
  set_ablation_args caption
  caption ofa_mue.reproduce --results-dir "$out/reproduce" --timing-repetitions 0 \
    --calibrate-args "$(calibrate_args "${DEMO_CAPTION_RETENTION:-0.96}" CAPTION_CANDIDATES "$out/calibration_table.json.gz")" \
    --thresholds 0.995,0.99,0.98,0.95,0.9 --entropies 0.5,1.5 --patiences 1,3 --depths 1,2,4 \
    "${ABLATION_ARGS[@]}"
  certified caption "$out" "${CAPTION_CANDIDATES[@]}"
}
caption_pipeline_logged() { logged "$SEED_OUT/caption.log" caption_pipeline; }

for SEED in ${SEED_LIST//,/ }; do
  SEED_CKPT="$CKPT/seed$SEED"
  SEED_OUT="$OUT/seed$SEED"
  SEED_START=$(date +%s)
  # Each seed's models and results are made afresh: in a folder a previous run left,
  # fairseq-train would resume from its checkpoint_last.pt (ignoring --finetune-from-model and
  # whatever DEMO_* say now), and the calibration would refuse its tables (other checkpoints).
  rm -rf "$SEED_CKPT" "$SEED_OUT"
  mkdir -p "$SEED_OUT"
  step "seed $SEED (seeds $SEED_LIST): pretrain the image embedding ($PRETRAIN_UPDATES updates)"
  "$PY" -m ofa_mue.demo.pretrain --data "$DATA" --out "$SEED_CKPT/pretrained.pt" --seed "$SEED" \
    --updates "$PRETRAIN_UPDATES" --image-size "$IMAGE_SIZE"
  step "seed $SEED: fine-tune captioning with MuE ($CAPTION_UPDATES updates)"
  train_caption
  if (( ABLATIONS )); then
    step "seed $SEED: Table 4's caption variants: without modality decomposition, without the layer-wise loss (log of the first in $SEED_OUT/train_caption_ablation.log)"
    both "$SEED_OUT/train_caption_ablation.log" train_caption_variant_1 train_caption_variant_2
  fi
  step "seed $SEED: fine-tune SNLI-VE with MuE from the caption model ($QUESTION_UPDATES updates of grounding questions first; $SNLI_UPDATES updates$( (( ABLATIONS )) && echo ", then Table 4's two variants"), log in $SEED_OUT/train_snli_ve.log), meanwhile captioning: calibrate on valid, reproduce on test without timing (log in $SEED_OUT/caption.log)"
  both "$SEED_OUT/train_snli_ve.log" train_snli caption_pipeline_logged
  grep -E "train_inner" "$SEED_OUT/train_snli_ve.log" | tail -1 || true  # none under 100 updates (--log-interval)
  step "seed $SEED: SNLI-VE: calibrate on valid; on test: reproduce with timing, replaced images (log in $SEED_OUT/snli_ve.log)"
  logged "$SEED_OUT/snli_ve.log" snli_pipeline
  # cores: nproc without the OMP_NUM_THREADS=1 set above, which nproc would report instead
  echo "{\"seed_seconds\": $(( $(date +%s) - SEED_START )), \"data_seconds\": $DATA_SECONDS, \"cores\": $(env -u OMP_NUM_THREADS nproc)}" \
    > "$SEED_OUT/run_time.json"
done

step "summary over seeds $SEED_LIST"
"$PY" -m ofa_mue.demo.summary --results-dir "$OUT" --seeds "$SEED_LIST"
echo
echo "Written: $OUT/summary.json, $OUT/summary.md; per seed and task: $OUT/seed*/{snli_ve,caption}/reproduce/" \
  "(reproduce.md: the paper's tables; sweep/tradeoff.png) ($(( $(date +%s) - START )) s)"
