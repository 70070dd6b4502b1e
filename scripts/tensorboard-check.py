#!/usr/bin/env python3
"""What TensorBoard itself makes of a run's events (`pip install tensorboard`).

    python3 scripts/tensorboard-check.py RUN_DIR

1. TensorBoard's own reader (EventAccumulator) loads RUN_DIR/tensorboard/ and must find every
   number of metrics.jsonl once at its iteration, every sample grid byte for byte at the
   iterations done, and config.toml as text.
2. `tensorboard --logdir PARENT` is started on a free port and its HTTP API must list the run
   with its scalar, image and text tags: what the browser UI shows.

Prints one line per check and exits 1 at the first that fails.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def tag(key):
    """The TensorBoard tag of a metrics key (src/watch/mod.rs, scalar_tag)."""
    if key in ("iteration", "elapsed_s"):
        return None
    for group in ("heldout_raw", "heldout", "loss"):
        if key.startswith(group + "_"):
            return f"{group}/{key[len(group) + 1:]}"
    return f"train/{key}"


def check_reader(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    expected = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        line = json.loads(line)
        for key, value in line.items():
            t = tag(key)
            if t is not None and isinstance(value, (int, float)):
                expected.setdefault(t, []).append((line["iteration"], value))
    tags = acc.Tags()
    if sorted(tags["scalars"]) != sorted(expected):
        fail(f"scalar tags {sorted(tags['scalars'])} != {sorted(expected)}")
    for t, points in expected.items():
        got = [(e.step, e.value) for e in acc.Scalars(t)]
        if [s for s, _ in got] != [s for s, _ in points]:
            fail(f"{t}: steps {[s for s, _ in got]} != {[s for s, _ in points]}")
        for (step, v), (_, w) in zip(got, points):
            if abs(v - w) > 1e-6 * max(1.0, abs(w)):
                fail(f"{t} at {step}: {v} != {w}")
    print(f"ok: {len(expected)} scalar tags, every step once, equal to metrics.jsonl")

    grids = sorted((run / "samples").glob("iter-*.png"))
    images = acc.Images("samples")
    if [i.step for i in images] != [int(g.stem[5:]) for g in grids]:
        fail(f"image steps {[i.step for i in images]} != grids {[g.name for g in grids]}")
    for i, g in zip(images, grids):
        if i.encoded_image_string != g.read_bytes():
            fail(f"the image at {i.step} is not {g}")
    print(f"ok: {len(images)} images, byte for byte the sample grids")

    config = (run / "config.toml").read_text()
    texts = acc.Tensors("config")
    want = "".join(f"    {l}\n" for l in config.splitlines())
    # Each process writes the configuration it ran with; the last one is config.toml.
    if not texts or texts[-1].tensor_proto.string_val[0].decode() != want:
        fail("the last config text is not config.toml")
    print(f"ok: the configuration as text, from each of {len(texts)} process(es)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_server(run):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(run.parent), "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    name = f"{run.name}/tensorboard"
    try:
        deadline = time.time() + 90
        while True:
            try:
                get = lambda path: json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5))
                scalars = get("/data/plugin/scalars/tags")
                if name in scalars:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                fail(f"tensorboard did not list {name} within 90 s")
            time.sleep(1)
        images = get("/data/plugin/images/tags")
        text = get("/data/plugin/text/tags")
        if "loss/d" not in scalars[name] or "samples" not in images.get(name, {}) or "config" not in text.get(name, []):
            fail(f"tensorboard's tags: {scalars.get(name)}, {images.get(name)}, {text.get(name)}")
        print(f"ok: tensorboard --logdir {run.parent} lists {name}: {len(scalars[name])} scalars, the samples, the config")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main():
    if len(sys.argv) != 2:
        fail(__doc__)
    run = Path(sys.argv[1]).resolve()
    check_reader(run)
    check_server(run)


if __name__ == "__main__":
    main()
