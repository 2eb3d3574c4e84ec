# Shared by the task recipes in run_scripts/{snli_ve,caption}/: sourced, not run.
# Uses the active Python environment if ofa_mue imports there, else the repository's .venv.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if python3 -c 'import ofa_mue' 2>/dev/null; then PY=python3; else PY="$REPO_ROOT/.venv/bin/python"; fi
GPUS="${GPUS:-1}"
die() { echo "error: $*" >&2; exit 1; }
need_file() { [[ -f "$1" ]] || die "$2 not found: $1"; }
# Updates for EPOCHS passes over TRAIN_TSV at BATCH_SIZE rows per GPU.
total_updates() { echo $(( ( $(wc -l < "$1") + $2 * GPUS - 1 ) / ($2 * GPUS) * $3 )); }
# fairseq's default torch DDP cannot sync the layer-wise criteria (they call encoder and
# decoder separately); legacy DDP can.
DISTRIBUTED=(--distributed-world-size "$GPUS" --ddp-backend legacy_ddp)
# OFA's half precision: --fp16 (or the given flag, e.g. memory-efficient-fp16) with a loss-scale
# window of 512; nothing with FP16=0 (float32).
half_precision() { [[ "${FP16:-1}" == 0 ]] || echo "--${1:-fp16} --fp16-scale-window 512"; }
# fairseq-train as OFA's base fine-tuning recipes run it, from checkpoint $1 into save dir $2,
# on DATA_DIR, with the flags (and values) all of OFA's base recipes pass; the recipe adds its
# own after. Uses ARCH, BATCH_SIZE, UPDATE_FREQ, EPOCHS, IMAGE_SIZE, BPE_DIR. OFA's
# --warmup-ratio 0.06 becomes --warmup-updates: 6% of --total-num-update, computed from the data.
ofa_finetune() {
  local checkpoint=$1 save_dir=$2; shift 2
  local total=$(( $(total_updates "$DATA_DIR/train.tsv" "$BATCH_SIZE" "$EPOCHS") / UPDATE_FREQ ))
  "$PY" -m fairseq_cli.train "$DATA_DIR" ${BPE_DIR:+--bpe-dir "$BPE_DIR"} --user-dir "$REPO_ROOT/ofa_mue" \
    --restore-file "$checkpoint" --reset-optimizer --reset-dataloader --reset-meters --save-dir "$save_dir" \
    "${DISTRIBUTED[@]}" --arch "${ARCH:-ofa_base}" --batch-size "$BATCH_SIZE" --update-freq "$UPDATE_FREQ" \
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
