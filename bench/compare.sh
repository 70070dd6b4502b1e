#!/usr/bin/env bash
# Times discogan and the PyTorch reference side by side on this machine, alternating runs, and
# prints the speed ratio (PyTorch ms / discogan ms: above 1 means discogan is faster).
#
# usage: bench/compare.sh [--preset unet|resnet|paper] [--batch 8] [--size 64] [--width 64]
#                         [--iters 10] [--warmup 3] [--rounds 3] [--threads 2]
#                         [--device cpu|cuda|wgpu]
# The PyTorch side needs `pip install torch==2.13.0` (PYTHON picks the interpreter, default
# python3). The discogan side is built here with --release (and --features cuda or wgpu for
# --device cuda / wgpu; with wgpu, PyTorch runs on TORCH_DEVICE, default cuda);
# BINS="path/a path/b" times those discogan binaries instead (e.g. two builds to compare), each
# in every round, and prints a ratio for each. `--preset resnet` is the unet preset with
# model.architecture=resnet (PyTorch: bench_torch.py --arch resnet).
# Both sides do the same work: bench_torch.py's `--step discogan` (TORCH_STEP=reference times
# the reference's loss functions as they are). The summary also gives each side's achieved
# GFLOP/s (PyTorch's operations counted by its own flop counter, which should equal discogan's
# count from the networks' shapes), discogan's fraction of the CPU's fp32 peak, and the
# translation throughput ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

preset=unet batch=8 size=64 width=64 iters=10 warmup=3 rounds=3 threads=2 device=cpu
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset=$2 ;; --batch) batch=$2 ;; --size) size=$2 ;; --width) width=$2 ;;
    --iters) iters=$2 ;; --warmup) warmup=$2 ;; --rounds) rounds=$2 ;; --threads) threads=$2 ;;
    --device) device=$2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
python=${PYTHON:-python3}
"$python" -c "import torch" 2>/dev/null || { echo "PyTorch missing: pip install torch==2.13.0" >&2; exit 2; }

features=() ours_device=flex torch_device=$device
if [ "$device" = cuda ]; then features=(--features cuda); ours_device=cuda:0; fi
if [ "$device" = wgpu ]; then features=(--features wgpu); ours_device=wgpu; torch_device=${TORCH_DEVICE:-cuda}; fi
if [ -z "${BINS:-}" ]; then
  cargo build --release --quiet "${features[@]}"
  BINS=target/release/discogan
fi

ours_preset=(--preset "$preset")
[ "$preset" = resnet ] && ours_preset=(--preset unet --set model.architecture=resnet)
out=$(mktemp)
for r in $(seq "$rounds"); do
  for bin in $BINS; do
    RAYON_NUM_THREADS=$threads "$bin" bench "${ours_preset[@]}" --batch "$batch" --size "$size" \
      --width "$width" --iters "$iters" --warmup "$warmup" --device "$ours_device" \
      | sed "s|^{|{\"bin\":\"$bin\",|" | tee -a "$out"
  done
  (cd reference && "$python" bench_torch.py --arch "$preset" --batch "$batch" --size "$size" \
    --width "$width" --iters "$iters" --warmup "$warmup" --threads "$threads" --device "$torch_device" \
    --step "${TORCH_STEP:-discogan}" --count-flops) | tee -a "$out"
done

"$python" - "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
torch = [r for r in runs if r["impl"].startswith("torch")]


def med(rs, k):
    """The median of field k over rs, None where no run has it (a binary older than the field)."""
    values = [r[k] for r in rs if r.get(k) is not None]
    return statistics.median(values) if values else None


def ratio(x, y, digits=3):
    return round(x / y, digits) if x is not None and y else None


torch_gflop = med(torch, "flop_per_iter")
torch_gflop = round(torch_gflop / 1e9, 3) if torch_gflop is not None else None
for bin in dict.fromkeys(r["bin"] for r in runs if "bin" in r):
    ours = [r for r in runs if r.get("bin") == bin]
    our_gflop = med(ours, "gflop_per_iter")
    if our_gflop is not None and torch_gflop is not None and abs(our_gflop - torch_gflop) > 1e-3 * torch_gflop:
        print(f"warning: {bin} counts {our_gflop} GFLOP an iteration, PyTorch {torch_gflop}: "
              "not the same work", file=sys.stderr)
    print(json.dumps({
        "bin": bin,
        "discogan_ms": med(ours, "ms_per_iter_median"), "torch_ms": med(torch, "ms_per_iter_median"),
        "speed_ratio": ratio(med(torch, "ms_per_iter_median"), med(ours, "ms_per_iter_median")),
        "discogan_peak_rss_mb": med(ours, "peak_rss_mb"), "torch_peak_rss_mb": med(torch, "peak_rss_mb"),
        "memory_ratio": ratio(med(ours, "peak_rss_mb"), med(torch, "peak_rss_mb")),
        "translate_ratio": ratio(med(ours, "translate_images_per_s"), med(torch, "translate_images_per_s")),
        "discogan_gflop_per_iter": our_gflop, "torch_gflop_per_iter": torch_gflop,
        "discogan_gflops": med(ours, "gflops"), "torch_gflops": med(torch, "gflops"),
        "peak_gflops": med(ours, "peak_gflops"), "discogan_peak_fraction": med(ours, "peak_fraction"),
        "torch_peak_fraction": ratio(med(torch, "gflops"), med(ours, "peak_gflops")),
        "torch_step": torch[0].get("step", "reference"), "rounds": len(ours),
        "cpu": ours[0].get("cpu", "unknown"),
    }))
PY
rm -f "$out"
