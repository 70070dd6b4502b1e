#!/usr/bin/env python3
"""Builds the embedded emoji dataset (CycleGAN layout) from a folder made by fetch-emoji.sh.

usage: split-emoji.py SOURCE_DIR OUT_DIR [--all]

SOURCE_DIR holds google/, twitter/ and emoji.json (as written by fetch-emoji.sh).
OUT_DIR receives trainA/ (Google), trainB/ (Twitter), testA/, testB/: the same file name in A and
B is the same emoji, so the test set has ground-truth pairs. Only base emoji (no skin-tone
variants) are used, split by emoji: every 10th base emoji in the vendors' sort order goes to test.
Without --all, the categories "Flags", "People & Body" and "Component" are left out so that the
set stays under 8 MB in the repository; --all keeps every one of the 1,911 base emoji.
Standard library only.
"""
import json
import os
import shutil
import sys

LEFT_OUT = {"Flags", "People & Body", "Component"}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        sys.exit(__doc__)
    src, out = args
    keep_all = "--all" in sys.argv
    entries = json.load(open(os.path.join(src, "emoji.json")))
    base = [
        e for e in entries
        if e.get("has_img_google") and e.get("has_img_twitter")
        and os.path.exists(os.path.join(src, "google", e["image"]))
        and os.path.exists(os.path.join(src, "twitter", e["image"]))
        and (keep_all or e["category"] not in LEFT_OUT)
    ]
    base.sort(key=lambda e: e["sort_order"])
    for d in ("trainA", "trainB", "testA", "testB"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    counts = {"train": 0, "test": 0}
    for i, e in enumerate(base):
        split = "test" if i % 10 == 9 else "train"
        counts[split] += 1
        for vendor, domain in (("google", "A"), ("twitter", "B")):
            shutil.copyfile(os.path.join(src, vendor, e["image"]),
                            os.path.join(out, split + domain, e["image"]))
    print(f"{counts['train']} train and {counts['test']} test pairs in {out}")


if __name__ == "__main__":
    main()
