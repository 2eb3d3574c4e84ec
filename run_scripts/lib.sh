# Shared by the task recipes in run_scripts/{snli_ve,caption}/: sourced, not run.
# PY: the Python to run [python3 if ofa_mue imports there, else the repository's .venv].
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PY:-}" ]]; then
  if python3 -c 'import ofa_mue' 2>/dev/null; then PY=python3; else PY="$REPO_ROOT/.venv/bin/python"; fi
fi
die() { echo "error: $*" >&2; exit 1; }
need_file() { [[ -f "$1" ]] || die "$2 not found: $1"; }

# --- Processes: one per GPU, started by torchrun or by SLURM's srun ---------------------------
# torchrun (and torch.distributed.launch) set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
# MASTER_PORT; srun sets SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID and
# SLURM_STEP_NODELIST (the first node hosts the rendezvous, on MASTER_PORT [20000 + job id
# mod 20000]). Without either, GPUS [1] processes run on this node: start_processes re-runs
# the recipe under `torchrun --standalone` when GPUS > 1.
if [[ -n "${RANK:-}" && -n "${WORLD_SIZE:-}" ]]; then
  WORLD="$WORLD_SIZE"; PROCESS_RANK="$RANK"; LOCAL_PROCESS="${LOCAL_RANK:-0}"; INIT_METHOD="env://"
elif [[ -n "${SLURM_STEP_NUM_TASKS:-}" && -n "${SLURM_PROCID:-}" ]]; then
  WORLD="$SLURM_STEP_NUM_TASKS"; PROCESS_RANK="$SLURM_PROCID"; LOCAL_PROCESS="${SLURM_LOCALID:-0}"
  MASTER_ADDR="${MASTER_ADDR:-$(scontrol show hostnames "$SLURM_STEP_NODELIST" | head -n 1)}"
  MASTER_PORT="${MASTER_PORT:-$(( 20000 + ${SLURM_JOB_ID:-0} % 20000 ))}"
  INIT_METHOD="tcp://$MASTER_ADDR:$MASTER_PORT"
else
  WORLD="${GPUS:-1}"; PROCESS_RANK=0; LOCAL_PROCESS=0; INIT_METHOD=""
fi
[[ "$WORLD" =~ ^[1-9][0-9]*$ ]] || die "the number of processes must be a positive integer, got '$WORLD'"

# start_processes "$@": with GPUS > 1 and no launcher, run the calling recipe once per GPU
# under torchrun (each copy then finds its rank in torchrun's environment); else return.
start_processes() {
  if [[ -z "$INIT_METHOD" && "$WORLD" -gt 1 ]]; then
    exec "$PY" -m torch.distributed.run --standalone --nproc_per_node "$WORLD" --no-python bash "$0" "$@"
  fi
}

# fairseq's flags for this process. fairseq's default torch DDP cannot sync the layer-wise
# criteria (they call encoder and decoder separately); legacy DDP can. The world size is
# always explicit: fairseq would otherwise start one process per visible GPU by itself.
# The device is the local rank (modulo the GPUs in CUDA_VISIBLE_DEVICES, for schedulers that
# give each task its own GPU). DIST_BACKEND [nccl]: gloo for CPU runs (with --cpu).
DISTRIBUTED=(--distributed-world-size "$WORLD" --ddp-backend legacy_ddp)
if [[ -n "$INIT_METHOD" ]]; then
  IFS=, read -ra VISIBLE_GPUS <<< "${CUDA_VISIBLE_DEVICES:-}"
  DEVICE_ID=$(( ${#VISIBLE_GPUS[@]} > 0 ? LOCAL_PROCESS % ${#VISIBLE_GPUS[@]} : LOCAL_PROCESS ))
  DISTRIBUTED+=(--distributed-rank "$PROCESS_RANK" --device-id "$DEVICE_ID" --distributed-no-spawn
                --distributed-init-method "$INIT_METHOD" --distributed-backend "${DIST_BACKEND:-nccl}")
fi

# --- Batch: the recipe's total batch at any number of processes ------------------------------
# split_batch TOTAL PER_GPU LR: the total batch (rows per update) is TOTAL_BATCH [TOTAL] at any
# number of processes; BATCH_SIZE [PER_GPU, or less when TOTAL_BATCH / processes is smaller] is
# the batch per process and UPDATE_FREQ = TOTAL_BATCH / (processes * BATCH_SIZE) the
# accumulation steps. Sets BATCH_SIZE, UPDATE_FREQ and LR: LR [the recipe's LR, scaled by
# sqrt(TOTAL_BATCH / TOTAL) when TOTAL_BATCH differs; the square-root rule for Adam].
split_batch() {
  local reference="$1" per_gpu="$2" base_lr="$3"
  [[ -z "${UPDATE_FREQ:-}" ]] || die "UPDATE_FREQ is computed from the total batch (TOTAL_BATCH [$reference])," \
    "the number of processes and BATCH_SIZE: set TOTAL_BATCH instead"
  TOTAL_BATCH="${TOTAL_BATCH:-$reference}"
  [[ "$TOTAL_BATCH" =~ ^[1-9][0-9]*$ ]] || die "TOTAL_BATCH must be a positive integer, got '$TOTAL_BATCH'"
  (( TOTAL_BATCH % WORLD == 0 )) || die "a total batch of $TOTAL_BATCH rows cannot be split evenly over $WORLD" \
    "processes: use a number of GPUs that divides $TOTAL_BATCH, or set TOTAL_BATCH to a multiple of $WORLD" \
    "(the learning rate then follows the square-root rule: LR = $base_lr * sqrt(TOTAL_BATCH / $reference))"
  local per_process=$(( TOTAL_BATCH / WORLD ))
  BATCH_SIZE="${BATCH_SIZE:-$(( per_process < per_gpu ? per_process : per_gpu ))}"
  [[ "$BATCH_SIZE" =~ ^[1-9][0-9]*$ ]] || die "BATCH_SIZE must be a positive integer, got '$BATCH_SIZE'"
  (( per_process % BATCH_SIZE == 0 )) || die "a total batch of $TOTAL_BATCH rows over $WORLD processes is" \
    "$per_process rows per process, not a multiple of BATCH_SIZE=$BATCH_SIZE: choose a BATCH_SIZE that divides $per_process"
  UPDATE_FREQ=$(( per_process / BATCH_SIZE ))
  if [[ -z "${LR:-}" ]]; then
    LR=$(awk -v lr="$base_lr" -v total="$TOTAL_BATCH" -v ref="$reference" \
      'BEGIN { if (total == ref) print lr; else printf "%.4g\n", lr * sqrt(total / ref) }')
  fi
}

# total_updates TRAIN_TSV EPOCHS: the updates fairseq makes in EPOCHS passes over TRAIN_TSV
# (batches of BATCH_SIZE rows dealt out to the processes, UPDATE_FREQ batches per update). Rows are
# counted as the reader counts them: a last row without a newline is a row (wc -l would miss it).
total_updates() {
  local batches=$(( ( $(awk 'END { print NR }' "$1") + BATCH_SIZE - 1 ) / BATCH_SIZE ))
  local per_process=$(( ( batches + WORLD - 1 ) / WORLD ))
  echo $(( ( per_process + UPDATE_FREQ - 1 ) / UPDATE_FREQ * $2 ))
}

# The frozen ResNet: FREEZE_RESNET [1] passes OFA's --freeze-resnet (BatchNorm statistics and
# affine parameters stay the checkpoint's), so every process normalises images the same way
# and the saved statistics are everyone's. FREEZE_RESNET=0 trains them as OFA's recipes do,
# which only one process can do consistently.
resnet_flags() {
  case "${FREEZE_RESNET:-1}" in
    1) RESNET=(--freeze-resnet) ;;
    0) (( WORLD == 1 )) || die "FREEZE_RESNET=0 with $WORLD processes: each would keep its own BatchNorm" \
         "statistics (and checkpoints only rank 0's); keep FREEZE_RESNET=1 when training on several GPUs"
       RESNET=() ;;
    *) die "FREEZE_RESNET must be 1 or 0, got '$FREEZE_RESNET'" ;;
  esac
}

# plan_training TOTAL PER_GPU LR EPOCHS TRAIN_TSV: what a recipe's fairseq-train needs beyond
# its own flags: BATCH_SIZE, UPDATE_FREQ and LR (split_batch), RESNET (resnet_flags), EPOCHS
# [EPOCHS] and TOTAL_UPDATES over TRAIN_TSV.
plan_training() {
  split_batch "$1" "$2" "$3"; resnet_flags
  EPOCHS="${EPOCHS:-$4}"; TOTAL_UPDATES=$(total_updates "$5" "$EPOCHS")
}

# OFA's half precision: --fp16 (or the given flag, e.g. memory-efficient-fp16) with a loss-scale
# window of 512; nothing with FP16=0 (float32).
half_precision() { [[ "${FP16:-1}" == 0 ]] || echo "--${1:-fp16} --fp16-scale-window 512"; }
# fairseq-train as OFA's base fine-tuning recipes run it, from checkpoint $1 into save dir $2,
# on DATA_DIR, with the flags (and values) all of OFA's base recipes pass; the recipe adds its
# own after. Runs after plan_training (BATCH_SIZE, UPDATE_FREQ, EPOCHS, TOTAL_UPDATES, RESNET);
# uses ARCH, IMAGE_SIZE, BPE_DIR. OFA's --warmup-ratio 0.06 becomes --warmup-updates: 6% of
# --total-num-update, computed from the data. OFA's --restore-file with --reset-optimizer,
# --reset-dataloader and --reset-meters becomes fairseq's --finetune-from-model, which does the
# same on the first launch and resumes from SAVE_DIR/checkpoint_last.pt when run again. OFA's
# recipes start afresh when run again, so a save dir that holds a checkpoint_last.pt is refused
# unless RESUME=1 asks to continue that run (e.g. in a job that may be requeued).
ofa_finetune() {
  local checkpoint=$1 save_dir=$2 total=$TOTAL_UPDATES; shift 2
  [[ "${RESUME:-0}" =~ ^[01]$ ]] || die "RESUME must be 0 or 1, got '${RESUME}'"
  if [[ -f "$save_dir/checkpoint_last.pt" && "${RESUME:-0}" == 0 ]]; then
    die "$save_dir/checkpoint_last.pt is left by an earlier run, which fairseq-train would continue (its weights, optimizer, schedule and progress, not $checkpoint, whatever the settings now say): RESUME=1 continues it; delete it or set SAVE_DIR to fine-tune afresh"
  fi
  exec "$PY" -m fairseq_cli.train "$DATA_DIR" ${BPE_DIR:+--bpe-dir "$BPE_DIR"} --user-dir "$REPO_ROOT/ofa_mue" \
    --finetune-from-model "$checkpoint" --save-dir "$save_dir" "${DISTRIBUTED[@]}" "${RESNET[@]}" \
    --arch "${ARCH:-ofa_base}" --batch-size "$BATCH_SIZE" --update-freq "$UPDATE_FREQ" \
    --encoder-normalize-before --decoder-normalize-before --share-decoder-input-output-embed \
    --share-all-embeddings --layernorm-embedding --patch-layernorm-embedding --code-layernorm-embedding \
    --add-type-embedding --scale-attn --scale-fc --scale-heads --disable-entangle \
    --resnet-drop-path-rate 0.0 --attention-dropout 0.0 \
    --weight-decay 0.01 --optimizer adam --adam-betas "(0.9,0.999)" --adam-eps 1e-08 --clip-norm 1.0 \
    --lr-scheduler polynomial_decay --total-num-update "$total" --warmup-updates $(( total * 6 / 100 )) \
    --max-epoch "$EPOCHS" --log-format simple --log-interval 10 --fixed-validation-seed 7 \
    --keep-best-checkpoints 1 --save-interval 1 --validate-interval 1 --save-interval-updates 500 \
    --validate-interval-updates 500 --max-src-length 80 --max-tgt-length 20 --find-unused-parameters \
    --num-bins 1000 --patch-image-size "${IMAGE_SIZE:-480}" --num-workers 0 "$@"
}

# --- Evaluation recipes ---------------------------------------------------------------------
# decomposition_overrides CHECKPOINT: MuE's encoder exits need a modality-decomposed encoder.
# A checkpoint fine-tuned decomposed (train_mue.sh, train_stage*_mue.sh / _scst.sh) is evaluated
# as it is (DECOMPOSITION empty). One fine-tuned joint, as OFA's own are, is a different model
# when decomposed, its full-model figures included: refused unless DECOMPOSE=1, which evaluates
# every run decomposed (DECOMPOSITION holds the --model-overrides that does it).
decomposition_overrides() {
  local decomposed
  [[ "${DECOMPOSE:-0}" =~ ^[01]$ ]] || die "DECOMPOSE must be 0 or 1, got '${DECOMPOSE}'"
  decomposed=$("$PY" - "$1" <<'PYTHON'
import sys

from ofa_mue.checkpoint_loading import checkpoint_model_config
from ofa_mue.errors import OFAMuEError

try:
    print(int(bool(checkpoint_model_config(sys.argv[1]).get("decompose_modalities", False))))
except OFAMuEError as error:
    sys.exit(f"error: {error}")
PYTHON
) || exit 1
  DECOMPOSITION=()
  [[ "$decomposed" == 1 ]] && return
  [[ "${DECOMPOSE:-0}" == 1 ]] || die "$1 was fine-tuned with a joint encoder (image and text attend to each" \
    "other, as in OFA's own checkpoints). MuE's encoder exits need it modality-decomposed, which is another" \
    "model: fine-tune it with MuE first (run_scripts/snli_ve/train_mue.sh, run_scripts/caption/train_stage1_mue.sh)," \
    "or set DECOMPOSE=1 to evaluate it decomposed without fine-tuning (every figure, the full model's included," \
    "is then the decomposed model's, not OFA's)."
  DECOMPOSITION=(--model-overrides "{'decompose_modalities': True}")
}
