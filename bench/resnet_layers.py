"""PyTorch's side of examples/resnet_layers.rs: the ResNet generator's pieces, forward + backward,
at 64 px and batch 8, best of five after a warm-up.

usage: python bench/resnet_layers.py [WIDTH]   (needs pip install torch==2.13.0)
"""
import sys, time, torch
import torch.nn.functional as F
torch.set_num_threads(2)
def tm(f, k=5):
    f(); best = 1e9
    for _ in range(k):
        t = time.perf_counter(); f(); best = min(best, (time.perf_counter() - t) * 1000)
    return best
w = int(sys.argv[1]) if len(sys.argv) > 1 else 32
n = 8
convs = [("stem 7x7", 3, 64, w, 7, 1, 0, 3, False, 1), ("down 3x3/2", w, 64, 2 * w, 3, 2, 1, 0, False, 1),
         ("down 3x3/2", 2 * w, 32, 4 * w, 3, 2, 1, 0, False, 1), ("residual 3x3", 4 * w, 16, 4 * w, 3, 1, 0, 1, False, 12),
         ("up x2 + 3x3", 4 * w, 16, 2 * w, 3, 1, 1, 0, True, 1), ("up x2 + 3x3", 2 * w, 32, w, 3, 1, 1, 0, True, 1),
         ("head 7x7", w, 64, 3, 7, 1, 0, 3, False, 1)]
print(f"width {w}, batch {n}, forward + backward (ms): conv alone, its padding or upsampling alone, x count per generator")
total = 0.0
for name, c_in, side, c_out, k, stride, zero, mirror, up, count in convs:
    x = torch.rand(n, c_in, side, side, requires_grad=True)
    weight = (torch.rand(c_out, c_in, k, k) * 0.05).requires_grad_()
    def prepare(x):
        if up: x = F.interpolate(x, scale_factor=2, mode="nearest")
        return F.pad(x, (mirror,) * 4, mode="reflect") if mirror else x
    inp = prepare(x).detach().requires_grad_()
    conv = tm(lambda: F.conv2d(inp, weight, None, stride, zero).sum().backward())
    around = tm(lambda: prepare(x).sum().backward()) if up or mirror else 0.0
    total += (conv + around) * count
    print(f"{name} {c_in}->{c_out} at {side}: {conv:.1f} + {around:.1f} (x {count})")
for c, side, count in [(w, 64, 2), (2 * w, 32, 2), (4 * w, 16, 13)]:
    x = torch.rand(n, c, side, side, requires_grad=True)
    ms = tm(lambda: F.relu(F.instance_norm(x)).sum().backward())
    total += ms * count
    print(f"instance norm + ReLU {c} at {side}: {ms:.1f} (x {count})")
print(f"sum for one generator: {total:.1f} ms")
