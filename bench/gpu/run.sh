#!/usr/bin/env bash
# bash bench/gpu/run.sh [--dry-run]  -- on the GPU machine, as one device-tool call (carry: [".gpu-wheels"]):
# installs the carried wheels offline, then runs every check of bench/gpu/check.py into $OUT (gpu_check.json,
# logs/). --dry-run (any machine, no GPU): plans every step, validates each step's recipe and overrides, checks the
# limits fit one 10-minute call and that every wheel of bench/gpu/wheels.txt is packed.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false
if [ "${1:-}" = "--dry-run" ]; then
    exec python bench/gpu/check.py --dry-run "${2:-}"
fi
OUT=${OUT:?run.sh writes under \$OUT (the device tool sets it)}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/nvidia-smi.csv" 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .gpu-wheels/*.whl > "$OUT/install.log" 2>&1 || { echo "install failed"; tail -20 "$OUT/install.log"; exit 1; }
# ponder itself from the working tree, without its dependencies (the image and the wheels hold them)
ln -sfn "$PWD" /tmp/site/ponder
export PYTHONPATH=/tmp/site
python3 -c "import ponder, trl, deepspeed; print('ponder', ponder.__version__, 'trl', trl.__version__)" \
    || { echo "imports failed"; exit 1; }
python3 bench/gpu/check.py "$OUT"
