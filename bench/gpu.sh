#!/usr/bin/env bash
# On a GPU machine (no Rust toolchain, no network; NVIDIA driver, PyTorch): runs the carried
# wgpu build of bench/gpu-build.sh, in under 8 minutes, and writes everything to OUT (default
# bench/gpu-out/):
#   1. what the machine exposes (nvidia-smi, Vulkan devices): wgpu needs the NVIDIA Vulkan ICD;
#   2. the PyTorch parity tests on the GPU (parity.txt);
#   3. `discogan bench` on wgpu against `reference/bench_torch.py --device cuda`, side by side,
#      both presets, batch 64 (bench.jsonl: the same JSON shape as bench/compare.sh);
#   4. a short real training run on the embedded emoji with its sample grid (run/).
# A step that fails is reported and the next one runs.
# usage: [OUT=dir] bench/gpu.sh [--batch 64] [--rounds 2]
set -uo pipefail
cd "$(dirname "$0")/.."
batch=64 rounds=2
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) batch=$2 ;; --rounds) rounds=$2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
out=${OUT:-bench/gpu-out}
mkdir -p "$out"
[ -f bench/carry/discogan.gz ] && [ -f bench/carry/parity.gz ] \
  || { echo "no carried build: run bench/gpu-build.sh first" >&2; exit 2; }
bins=$(mktemp -d)
for name in discogan parity; do
  gzip -dc "bench/carry/$name.gz" > "$bins/$name" && chmod +x "$bins/$name"
done
bin=$bins/discogan
# The parity binary reads the fixtures of this checkout, not of the machine it was built on.
export DISCOGAN_REPO=$PWD
step() { echo "== $1 ($(date -u +%T))" | tee -a "$out/summary.txt"; }
# Every step has a time limit and the whole script a deadline (6.5 minutes of commands, each killed 15 s after its limit if a SIGTERM does not end it), so that it
# ends within the 8 minutes a device machine is lent for, whatever hangs.
deadline=$((SECONDS + 390))
limit() { local left=$((deadline - SECONDS)); echo $(( left < $1 ? (left > 1 ? left : 1) : $1 )); }

step "machine"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1
  ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
  command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>&1 | grep -E "deviceName|driverName|apiVersion"
} | tee "$out/machine.txt" | tee -a "$out/summary.txt"

step "parity tests on wgpu"
DISCOGAN_DEVICE=wgpu timeout -k 15 "$(limit 120)" "$bins/parity" --test-threads 1 > "$out/parity.txt" 2>&1
echo "exit $?; $(grep -E '^test result' "$out/parity.txt")" | tee -a "$out/summary.txt"

step "bench: discogan (wgpu) and PyTorch (cuda), batch $batch"
for r in $(seq "$rounds"); do
  for preset in unet paper; do
    timeout -k 15 "$(limit 60)" "$bin" bench --device wgpu --preset "$preset" --batch "$batch" --iters 20 --warmup 5 \
      | sed "s|^{|{\"round\":$r,|" >> "$out/bench.jsonl" 2>> "$out/bench.err" \
      || echo "discogan bench $preset: exit $?" | tee -a "$out/summary.txt"
    (cd reference && timeout -k 15 "$(limit 60)" python3 bench_torch.py --arch "$preset" --batch "$batch" \
      --iters 20 --warmup 5 --device cuda) | sed "s|^{|{\"round\":$r,|" >> "$out/bench.jsonl" \
      2>> "$out/bench.err" || echo "torch bench $preset: exit $?" | tee -a "$out/summary.txt"
  done
done
python3 - "$out/bench.jsonl" <<'PY' | tee -a "$out/summary.txt"
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for preset in ("unet", "paper"):
    ours = [r["ms_per_iter_median"] for r in runs if r.get("impl", "").startswith("discogan") and r.get("arch", r.get("preset")) == preset]
    torch = [r["ms_per_iter_median"] for r in runs if r.get("impl", "").startswith("torch") and r.get("arch", r.get("preset")) == preset]
    if ours and torch:
        o, t = statistics.median(ours), statistics.median(torch)
        print(json.dumps({"preset": preset, "discogan_ms": o, "torch_ms": t, "speed_ratio": round(t / o, 3)}))
    else:
        print(json.dumps({"preset": preset, "discogan_runs": len(ours), "torch_runs": len(torch)}))
PY

step "a short training run on wgpu"
rm -rf "$out/run"
timeout -k 15 "$(limit 150)" "$bin" train --device wgpu --preset paper --iterations 200 --out "$out/run" \
  --set train.sample_every=100 -q > "$out/train.txt" 2>&1
echo "exit $?; $(tail -3 "$out/train.txt" | tr '\n' ' ')" | tee -a "$out/summary.txt"
step "done"
