#!/usr/bin/env bash
# The emoji configuration search of EXPERIMENTS.md: each configuration trains for a fixed
# wall-clock budget (MINUTES, default 10) with the held-out scores logged every 100 iterations,
# then is scored by `discogan eval`. Usage: scripts/emoji-search.sh [NAME...] (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/discogan}
MINUTES=${MINUTES:-10}
OUT=${OUT:-runs/search}
COMMON=(--iterations 1000000 --max-minutes "$MINUTES" -q
  --set train.eval_every=100 --set train.sample_every=500 --set train.checkpoint_every=0
  --set train.keep_checkpoints=1)

declare -A CONFIGS=(
  [seed32]="--set model.width=32"
  [seed32-id5]="--set model.width=32 --set objective.lambda_identity=5"
  [seed32-id5-l1]="--set model.width=32 --set objective.lambda_identity=5 --set objective.distance=\"l1\""
  [seed32-id5-lsgan]="--set model.width=32 --set objective.lambda_identity=5 --set objective.gan_loss=\"lsgan\""
  [seed64-id5]="--set model.width=64 --set objective.lambda_identity=5"
  [paper-b8]="--preset paper --set train.batch_size=8 --set objective.gan_curriculum=1000"
)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(seed32-id5 seed32-id5-l1 seed32-id5-lsgan paper-b8 seed64-id5 seed32)
for name in "${names[@]}"; do
  [ -d "$OUT/$name" ] && { echo "skip $name: $OUT/$name exists"; continue; }
  # shellcheck disable=SC2086
  eval "$BIN" train --out "$OUT/$name" "${COMMON[@]}" ${CONFIGS[$name]} > "$OUT.$name.log" 2>&1 || { echo "$name failed"; continue; }
  "$BIN" eval "$OUT/$name" --a data/emoji/testA --b data/emoji/testB > "$OUT/$name/eval.txt"
  echo "== $name ($(grep -c '"d_loss"' "$OUT/$name/metrics.jsonl") log lines)"; cat "$OUT/$name/eval.txt"
done
