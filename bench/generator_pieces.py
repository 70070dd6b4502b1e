"""PyTorch's side of examples/generator_pieces.rs: one generator's and one discriminator's
forward (inference and training mode), forward + backward (of the output's mean) and Adam step,
best of four after a warm-up.

usage: python bench/generator_pieces.py [WIDTH] [unet|resnet|paper]   (needs pip install torch==2.13.0)
"""
import os, sys, time, torch
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
import discogan_torch as ref
torch.set_num_threads(2)


def tm(f, k=4):
    f(); best = 1e9
    for _ in range(k):
        t = time.perf_counter(); f(); best = min(best, (time.perf_counter() - t) * 1000)
    return best


width = int(sys.argv[1]) if len(sys.argv) > 1 else 64
arch = sys.argv[2] if len(sys.argv) > 2 else "unet"
if arch == "unet":
    g, d, lo = ref.GeneratorUNet(width=width), ref.PatchDiscriminator(width=width), -1.0
elif arch == "resnet":
    g, d, lo = ref.GeneratorResNet(width=width), ref.PatchDiscriminator(width=width), -1.0
elif arch == "paper":
    g, d, lo = ref.PaperGenerator(width=width), ref.PaperDiscriminator(width=width), 0.0
    ref.init_weights(g); ref.init_weights(d)
else:
    raise SystemExit(f"unknown architecture {arch}: unet, resnet or paper")
x = torch.rand(8, 3, 64, 64) * (1.0 - lo) + lo


def out(net, y):
    # The paper discriminator also returns its features; the timed output is its score.
    return y[0] if isinstance(y, tuple) else y


for name, net in (("generator", g), ("discriminator", d)):
    with torch.no_grad():
        net.eval(); fp = tm(lambda: out(net, net(x))); net.train()
    fa = tm(lambda: out(net, net(x)))
    fbt = tm(lambda: out(net, net(x)).mean().backward())
    opt = ref.adam(net.parameters())
    out(net, net(x)).mean().backward()
    ad = tm(lambda: opt.step())
    params = sum(p.numel() for p in net.parameters())
    print(f"{name}: params {params}, forward inference {fp:.1f} ms, forward training {fa:.1f} ms, "
          f"forward+backward {fbt:.1f} ms, adam {ad:.1f} ms")
