#!/usr/bin/env bash
# For a GPU machine: builds discogan with the CUDA backend and times it against PyTorch on the
# same GPU, both presets (about 8 minutes with a warm cargo registry; the CUDA build is the
# longest part). Needs the CUDA driver, and PyTorch for the reference (PYTHON, default python3).
#
# usage: bench/gpu.sh [--batch 64] [--rounds 3]
# Not yet run: no GPU machine has been available since it was written (2026-11-30) (see BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
batch=64 rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) batch=$2 ;; --rounds) rounds=$2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
for preset in unet paper; do
  bench/compare.sh --device cuda --preset "$preset" --batch "$batch" --rounds "$rounds" --iters 20 --warmup 5
done
