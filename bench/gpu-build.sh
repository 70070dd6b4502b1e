#!/usr/bin/env bash
# On the CPU machine: builds what bench/gpu.sh runs on a GPU machine that has no Rust toolchain
# (the `cuda` feature cannot be built here, so the GPU is reached through wgpu: Vulkan on the
# NVIDIA driver). Writes bench/carry/ (ignored by git; at most 64 MiB travel): the discogan
# binary and the PyTorch parity test binary, both with `--features wgpu`, stripped and gzipped
# (2026-12-03: 99 and 95 MiB stripped, 27 and 26 MiB gzipped). Profile
# `wgpu-check` (dependencies at opt-level 1: the GPU computes; 21 minutes on 2 cores cold, a
# few minutes when CI's profile is already built).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=wgpu-check
cargo build --locked --profile "$profile" --features wgpu --bin discogan
parity=$(cargo test --locked --profile "$profile" --features wgpu --test parity --no-run \
  --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "parity" and m.get("executable"):
        print(m["executable"])')
rm -rf bench/carry
mkdir -p bench/carry
for pair in "target/$profile/discogan:discogan" "$parity:parity"; do
  src=${pair%%:*} name=${pair##*:}
  strip -o "bench/carry/$name" "$src"
  gzip -9 "bench/carry/$name"
done
du -b bench/carry/* | awk '{printf "%s %.1f MiB\n", $2, $1 / 1048576}'
