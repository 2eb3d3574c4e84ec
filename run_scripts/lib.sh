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
