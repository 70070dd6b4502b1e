#!/usr/bin/env python3
"""The translations of bench/quality.sh's runs side by side, as one PNG per direction.

    python3 scripts/quality-grid.py DIR DATA [--count 10] [--seed 0]

Columns: held-out images of DATA/testA (A->B; DATA/testB for B->A), evenly spaced by name.
Rows: the input, then each run of DIR with the given seed (its folder's `a2b/` or `b2a/`, which
quality.sh writes with `discogan translate`), then the ground truth (the file of the same
name in the other test folder). Needs pillow. Writes DIR/grid-a2b.png and DIR/grid-b2a.png.
"""
import argparse
from pathlib import Path

from PIL import Image, ImageDraw

SIDE = 64
LABEL = 150


def tile(path):
    """The image at `path` as RGB over white, SIDE x SIDE (blank when missing)."""
    if not path.is_file():
        return Image.new("RGB", (SIDE, SIDE), (255, 255, 255))
    img = Image.open(path).convert("RGBA")
    white = Image.new("RGBA", img.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, img).convert("RGB").resize((SIDE, SIDE), Image.BICUBIC)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir")
    p.add_argument("data")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    out, data = Path(a.dir), Path(a.data)
    runs = sorted(d for d in out.iterdir() if d.is_dir() and d.name.endswith(f"-seed{a.seed}")
                  and (d / "a2b").is_dir())
    if not runs:
        raise SystemExit(f"{out}: no run of seed {a.seed} with translations (a2b/)")
    for direction, source, target in [("a2b", "testA", "testB"), ("b2a", "testB", "testA")]:
        names = sorted(f.name for f in (data / source).iterdir() if f.suffix.lower() == ".png")
        names = [names[i * len(names) // a.count] for i in range(min(a.count, len(names)))]
        rows = [("input", data / source)] + [(r.name[: -len(f"-seed{a.seed}")], r / direction) for r in runs]
        rows.append(("ground truth", data / target))
        grid = Image.new("RGB", (LABEL + SIDE * len(names), SIDE * len(rows)), (255, 255, 255))
        draw = ImageDraw.Draw(grid)
        for y, (label, folder) in enumerate(rows):
            draw.text((4, y * SIDE + SIDE // 2 - 6), label, fill=(0, 0, 0))
            for x, name in enumerate(names):
                grid.paste(tile(folder / name), (LABEL + x * SIDE, y * SIDE))
        path = out / f"grid-{direction}.png"
        grid.save(path)
        print(path)


if __name__ == "__main__":
    main()
