#!/usr/bin/env python3
"""Prints the held-out curve of a run (the `heldout_*` entries that `train.eval_every` writes to
metrics.jsonl) as a Markdown table, with the minutes of training
(summed over the processes of a resumed run). With `train.ema_decay` the scores are the moving
average's, and the trained weights' L1 (`heldout_raw_*`) is added at the end of each row.
Usage: scripts/heldout-curve.py RUN_DIR [EVERY]"""
import json
import sys
from pathlib import Path

run = Path(sys.argv[1])
every = int(sys.argv[2]) if len(sys.argv) > 2 else 1
rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
# elapsed_s restarts with each process of a resumed run: make the minutes cumulative.
offset, previous = 0.0, 0.0
for r in rows:
    if r["elapsed_s"] < previous:
        offset += previous
    previous = r["elapsed_s"]
    r["elapsed_s"] += offset
rows = [r for r in rows if "heldout_a2b_l1" in r]
raw = any("heldout_raw_a2b_l1" in r for r in rows)
extra = " trained weights' L1 (a2b/b2a) |" if raw else ""
print("| iterations | minutes | a2b L1 | a2b top-1 | a2b top-5 | b2a L1 | b2a top-1 | b2a top-5 | recon L1 (a2b/b2a) |" + extra)
print("|---|---|---|---|---|---|---|---|---|" + ("---|" if raw else ""))
for i, r in enumerate(rows):
    if i % every and i != len(rows) - 1:
        continue
    pct = lambda k: f"{100 * r[k]:.1f} %"
    print(
        f"| {r['iteration'] + 1:,} | {r['elapsed_s'] / 60:.1f} | {r['heldout_a2b_l1']:.4f} | {pct('heldout_a2b_top1')} "
        f"| {pct('heldout_a2b_top5')} | {r['heldout_b2a_l1']:.4f} | {pct('heldout_b2a_top1')} | {pct('heldout_b2a_top5')} "
        f"| {r['heldout_a2b_recon_l1']:.3f} / {r['heldout_b2a_recon_l1']:.3f} |"
        + (f" {r['heldout_raw_a2b_l1']:.4f} / {r['heldout_raw_b2a_l1']:.4f} |" if raw else "")
    )
