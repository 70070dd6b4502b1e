"""PyTorch's side of examples/conv_layers.rs: each 4x4 stride-2 convolution of the width-64 U-Net
(or, with `paper`, of the paper generator, without bias) at 64 px, batch 8: forward, and forward +
backward of the output's sum of squares, best of five after a warm-up.

usage: python bench/conv_layers.py [unet|paper]   (needs pip install torch==2.13.0)
"""
import sys, time, torch
import torch.nn.functional as F
torch.set_num_threads(2)

paper = (sys.argv[1] if len(sys.argv) > 1 else "unet") == "paper"
if paper:
    layers = [("down 1", 3, 64, 64, False), ("down 2", 64, 128, 32, False),
              ("down 3", 128, 256, 16, False), ("down 4", 256, 512, 8, False),
              ("up 1", 512, 256, 4, True), ("up 2", 256, 128, 8, True),
              ("up 3", 128, 64, 16, True), ("up 4", 64, 3, 32, True)]
else:
    layers = [("down 1", 3, 64, 64, False), ("down 2", 64, 128, 32, False),
              ("down 3", 128, 256, 16, False), ("down 4", 256, 512, 8, False),
              ("down 5", 512, 512, 4, False), ("down 6", 512, 512, 2, False),
              ("up 1", 512, 512, 1, True), ("up 2", 1024, 512, 2, True),
              ("up 3", 1024, 256, 4, True), ("up 4", 512, 128, 8, True),
              ("up 5", 256, 64, 16, True)]


def best_ms(f, runs=5):
    f(); best = 1e9
    for _ in range(runs):
        t = time.perf_counter(); f(); best = min(best, (time.perf_counter() - t) * 1000)
    return best


print("layer, torch forward, torch forward+backward (ms)")
for name, c_in, c_out, side, transposed in layers:
    x = torch.randn(8, c_in, side, side)
    w = torch.randn(*((c_in, c_out) if transposed else (c_out, c_in)), 4, 4)
    b = None if paper else torch.randn(c_out)
    conv = (lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1)) if transposed \
        else (lambda x, w, b: F.conv2d(x, w, b, 2, 1))
    with torch.no_grad():
        fwd = best_ms(lambda: conv(x, w, b))
    xa, wa = x.clone().requires_grad_(), w.clone().requires_grad_()
    ba = None if b is None else b.clone().requires_grad_()

    def fb():
        y = conv(xa, wa, ba)
        (y * y).sum().backward()
    print(f"{name}, {fwd:.2f}, {best_ms(fb):.2f}")
