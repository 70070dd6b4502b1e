#!/usr/bin/env bash
# The emoji configuration search of EXPERIMENTS.md: each configuration trains for the iterations
# that take about 10 minutes on the project's idle 2-core machine (so that other work on the
# machine slows a run down without changing its result), with the held-out scores logged every
# 100 iterations, then is scored by `discogan eval`.
# Usage: scripts/emoji-search.sh [NAME...] (default: all). SCALE=6 gives each one about an hour.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/discogan}
SCALE=${SCALE:-1}
OUT=${OUT:-runs/search}
COMMON=(-q
  --set train.eval_every=100 --set train.sample_every=500 --set train.checkpoint_every=0
  --set train.keep_checkpoints=1)

# Iterations per 10 idle minutes at the speed of 2026-11-30 (before the CPU kernels): seed nets at width 32 ~1.05 s/iteration, paper nets at
# width 64 ~1.15 s/iteration (batch 8).
SEED=$((600 * SCALE)); PAPER=$((520 * SCALE))
declare -A CONFIGS=(
  [seed32]="--iterations $SEED --set model.width=32"
  [seed32-id5]="--iterations $SEED --set model.width=32 --set objective.lambda_identity=5"
  [seed32-id5-l1]="--iterations $SEED --set model.width=32 --set objective.lambda_identity=5 --set objective.distance=\"l1\""
  # Upper bound, not an unpaired configuration: the same, trained on the true pairs (testA/testB
  # names match) with the pixelwise loss (λ_pw 10).
  [seed32-id5-l1-paired]="--iterations $SEED --set model.width=32 --set objective.lambda_identity=5 --set objective.distance=\"l1\" --paired"
  [seed32-id5-lsgan]="--iterations $SEED --set model.width=32 --set objective.lambda_identity=5 --set objective.gan_loss=\"lsgan\""
  [paper-b8]="--iterations $PAPER --preset paper --set train.batch_size=8 --set objective.gan_curriculum=$((PAPER / 5))"
  [paper-b8-id1]="--iterations $PAPER --preset paper --set train.batch_size=8 --set objective.gan_curriculum=$((PAPER / 5)) --set objective.lambda_identity=1"
)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(seed32-id5 seed32-id5-l1 seed32-id5-lsgan paper-b8 paper-b8-id1 seed32)
for name in "${names[@]}"; do
  [ -d "$OUT/$name" ] && { echo "skip $name: $OUT/$name exists"; continue; }
  # shellcheck disable=SC2086
  eval "$BIN" train --out "$OUT/$name" "${COMMON[@]}" ${CONFIGS[$name]} > "$OUT.$name.log" 2>&1 || { echo "$name failed"; continue; }
  "$BIN" eval "$OUT/$name" --a data/emoji/testA --b data/emoji/testB > "$OUT/$name/eval.txt"
  echo "== $name"; cat "$OUT/$name/eval.txt"
done
