#!/usr/bin/env bash
# Translation quality per CPU-hour: discogan configurations and the PyTorch reference
# (reference/train_torch.py), each trained for the same wall-clock minutes on this machine, one
# after the other, and all scored by `discogan eval` on the dataset's test folders.
#
# usage: bench/quality.sh DATA MINUTES [--seeds 3] [--first-seed 0] [--width 64] [--batch 8] [--threads 2]
#                         [--torch unet|resnet|none]... [--torch-args 'ARGS']
#                         [--ours NAME 'KEY=VALUE ...']... [--out DIR]
#
# DATA holds trainA/, trainB/, testA/, testB/ (test files named alike are ground-truth pairs:
# `discogan eval` scores L1 and top-1 retrieval against them). Each `--ours NAME 'SETTINGS'`
# is a discogan configuration: the unet preset, then `--set` for each KEY=VALUE of SETTINGS
# (space-separated); without any, `unet` (the preset) and `resnet` (model.architecture=resnet)
# are run. Each `--torch ARCH` trains the PyTorch reference with that generator (default:
# unet); `--torch-args` passes ARGS to each of its runs (e.g. '--distance l1 --lambda-identity 5',
# discogan's keys of the same names) and names its rows and folders after them; `--ours none ''`
# runs none of discogan's. Every configuration runs once per seed (train.seed / --seed F..F+N-1,
# F from --first-seed: further seeds added to an earlier run's folder).
#
# The PyTorch side needs torch, safetensors and pillow (PYTHON picks the interpreter, default
# python3). Its weights are imported with `discogan import` and scored by the same `discogan
# eval` as discogan's runs (their translations agree with PyTorch's within the parity tests'
# 1e-4). Runs go to DIR (default runs/quality-MINUTES), one folder each, with `discogan
# translate`'s output of both test folders in RUN/a2b and RUN/b2a (`scripts/quality-grid.py
# DIR` puts them side by side); a table of every run and the means per configuration is
# printed at the end and written to DIR/table.md.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 2 ] || { sed -n '6,8p' "$0" >&2; exit 2; }
data=$(realpath "$1") minutes=$2
shift 2
seeds=3 first_seed=0 width=64 batch=8 threads=2 out="runs/quality-$minutes"
torch_archs=() torch_args="" ours_names=() ours_settings=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    --first-seed) first_seed=$2; shift 2 ;;
    --width) width=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --torch) torch_archs+=("$2"); shift 2 ;;
    --torch-args) torch_args=$2; shift 2 ;;
    --ours) ours_names+=("$2"); ours_settings+=("$3"); shift 3 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ ${#torch_archs[@]} -gt 0 ] || torch_archs=(unet)
if [ ${#ours_names[@]} -eq 0 ]; then
  ours_names=(unet resnet) ours_settings=("" "model.architecture=resnet")
fi
for dir in trainA trainB testA testB; do
  [ -d "$data/$dir" ] || { echo "$data/$dir: missing" >&2; exit 2; }
done
# Resolved now: the PyTorch side runs from reference/.
python=$(command -v "${PYTHON:-python3}") || { echo "no ${PYTHON:-python3}" >&2; exit 2; }
if [ "${torch_archs[*]}" != none ]; then
  "$python" -c "import torch, safetensors, PIL" 2>/dev/null \
    || { echo "the PyTorch side needs: pip install torch safetensors pillow" >&2; exit 2; }
fi
# The models' side: the training images' (the first one's; the emoji are 64 px).
size=$("$python" - "$data/trainA" <<'PY'
import pathlib, sys
from PIL import Image
images = sorted(p for p in pathlib.Path(sys.argv[1]).iterdir()
                if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp", ".bmp"})
if not images:
    sys.exit(f"{sys.argv[1]}: no images")
print(Image.open(images[0]).size[0])
PY
)
cargo build --release --quiet
bin=target/release/discogan
mkdir -p "$out"
out=$(realpath "$out")
common=(--set "model.width=$width" --set "train.batch_size=$batch" --set "model.image_size=$size")

# RUN scored by discogan eval and its translations of both test folders written.
score() {
  "$bin" eval "$1" --a "$data/testA" --b "$data/testB" --json "$1/eval.json" > /dev/null
  "$bin" translate "$1" --a2b "$data/testA" --out "$1/a2b" > /dev/null
  "$bin" translate "$1" --b2a "$data/testB" --out "$1/b2a" > /dev/null
}

# discogan eval's report of RUN as one table row: NAME SEED ITERATIONS and the scores.
row() {
  "$python" - "$@" <<'PY'
import json, sys
name, seed, iterations, report = sys.argv[1:5]
r = {d["direction"]: d for d in json.load(open(report))}
if any(r[d]["model"] is None for d in ("a2b", "b2a")):
    sys.exit(f"{report}: no ground-truth pairs (testA and testB need files of the same name)")
m = lambda d, k: r[d]["model"][k]
i = lambda d, k: r[d]["identity"][k]
print(f"| {name} | {seed} | {iterations} | {m('a2b','l1'):.4f} | {m('b2a','l1'):.4f} | "
      f"{100*m('a2b','top1'):.1f} % | {100*m('b2a','top1'):.1f} % | "
      f"{i('a2b','l1'):.4f} / {100*i('a2b','top1'):.1f} % | {i('b2a','l1'):.4f} / {100*i('b2a','top1'):.1f} % |")
PY
}

# rows.md accumulates over invocations (--first-seed adds seeds to a folder); a configuration
# run again with the same seed replaces its row.
rows="$out/rows.md"
touch "$rows"
record() {
  local line
  line=$(row "$@") || exit 1
  grep -vF "| $1 | $2 |" "$rows" > "$rows.new" || true
  mv "$rows.new" "$rows"
  echo "$line" | tee -a "$rows"
}
for seed in $(seq "$first_seed" $((first_seed + seeds - 1))); do
  for k in "${!ours_names[@]}"; do
    name=${ours_names[$k]} run="$out/$name-seed$seed"
    [ "$name" = none ] && continue
    read -ra settings <<< "${ours_settings[$k]}"
    sets=()
    for kv in ${settings[@]+"${settings[@]}"}; do sets+=(--set "$kv"); done
    rm -rf "$run"
    RAYON_NUM_THREADS=$threads "$bin" train --quiet --out "$run" --data "$data" \
      --iterations 100000000 --max-minutes "$minutes" "${common[@]}" --set "train.seed=$seed" \
      ${sets[@]+"${sets[@]}"} > "$run.log" 2>&1 || { cat "$run.log"; exit 1; }
    score "$run"
    iterations=$("$python" -c "import json,sys; print(json.load(open(sys.argv[1]))['iteration'])" \
      "$(ls -d "$run"/checkpoints/iter-* | tail -1)/state.json")
    record "discogan $name" "$seed" "$iterations" "$run/eval.json"
  done
  for arch in "${torch_archs[@]}"; do
    [ "$arch" = none ] && continue
    read -ra extra <<< "$torch_args"
    # Named after its extra arguments: `--distance l1 --lambda-identity 5` -> torch-unet-l1-5.
    suffix=$(printf '%s' "$torch_args" | sed -E 's/--[a-z-]+ //g; s/ +/-/g')
    name="torch-$arch${suffix:+-$suffix}" run="$out/$name-seed$seed"
    rm -rf "$run" "$run.torch"
    (cd reference && "$python" train_torch.py --data "$data" --minutes "$minutes" \
      --out "$run.torch" --arch "$arch" --width "$width" --size "$size" --batch "$batch" \
      --seed "$seed" --threads "$threads" ${extra[@]+"${extra[@]}"}) > "$run.log" 2>&1 \
      || { cat "$run.log"; exit 1; }
    arch_sets=(--set "model.architecture=$arch")
    [ "$arch" = unet ] && arch_sets=()
    "$bin" import --weights "$run.torch/weights.safetensors" --out "$run" --set "data.root=$data" \
      "${common[@]}" ${arch_sets[@]+"${arch_sets[@]}"} > /dev/null
    score "$run"
    iterations=$("$python" -c "import json,sys; print(json.load(open(sys.argv[1]))['iterations'])" \
      "$run.torch/train.json")
    record "PyTorch $arch${torch_args:+ $torch_args}" "$seed" "$iterations" "$run/eval.json"
  done
done

"$python" - "$rows" "$minutes" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)" \
  > "$out/table.md" <<'PY'
import collections, statistics, sys
rows = [l.strip().strip("|").split("|") for l in open(sys.argv[1]) if l.startswith("|")]
print(f"{sys.argv[2]} minutes a run, {sys.argv[3]}\n")
head = "| run | seed | iterations | a2b L1 | b2a L1 | a2b top-1 | b2a top-1 | identity a2b | identity b2a |"
print(head)
print("|" + "---|" * 9)
for r in rows:
    print("|" + "|".join(r) + "|")
print("\nMeans over seeds:\n")
print("| run | seeds | a2b L1 | b2a L1 | a2b top-1 | b2a top-1 |")
print("|---|---|---|---|---|---|")
groups = collections.OrderedDict()
for r in rows:
    groups.setdefault(r[0].strip(), []).append(r)
num = lambda s: float(s.replace("%", "").strip())
for name, rs in groups.items():
    mean = lambda i: statistics.mean(num(r[i]) for r in rs)
    print(f"| {name} | {len(rs)} | {mean(3):.4f} | {mean(4):.4f} | {mean(5):.1f} % | {mean(6):.1f} % |")
PY
cat "$out/table.md"
