"""Counts the floating-point operations of the reference networks and of one training iteration
with PyTorch's own counter, for tests/fixtures/flops.json (what `discogan bench`'s count from
the networks' shapes is tested against).

usage: python count_flops.py [--out ../tests/fixtures/flops.json]

torch.utils.flop_counter counts convolutions and matrix products as executed, forward and
backward (a layer's input gradient only where autograd computes one). Per case: the forward
pass of one generator and one discriminator over one image, and one iteration of
bench_torch.py's `--step discogan` (the work `discogan bench` does) over the batch.
"""
import argparse
import json

import torch
from torch.utils.flop_counter import FlopCounterMode

import bench_torch
import discogan_torch as ref

# (arch, size, width, batch): every architecture at 64 px (the reference U-Net and paper nets
# are written for 64 px), and the ResNet and the PatchGAN at a size that is not a power of two.
CASES = [("unet", 64, 4, 2), ("unet", 64, 8, 3), ("resnet", 64, 4, 2), ("resnet", 40, 4, 2),
         ("paper", 64, 4, 2), ("paper", 64, 8, 3)]


def counted(fn):
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="../tests/fixtures/flops.json")
    a = p.parse_args()
    torch.manual_seed(0)
    cases = []
    for arch, size, width, batch in CASES:
        nets, lo = bench_torch.networks(arch, width, size, torch.device("cpu"))
        x = torch.rand(1, 3, size, size) * (1 - lo) + lo
        with torch.no_grad():
            generator = counted(lambda: nets[0](x))
            discriminator = counted(lambda: nets[2](x))
        real_a = torch.rand(batch, 3, size, size) * (1 - lo) + lo
        real_b = torch.rand(batch, 3, size, size) * (1 - lo) + lo
        opt_g = ref.adam(ref.chain(nets[0], nets[1]))
        opt_d = ref.adam(ref.chain(nets[2], nets[3]))
        step = bench_torch.make_step(arch, "discogan", nets, opt_d, opt_g, real_a, real_b)
        iteration = counted(step)
        cases.append({"arch": arch, "size": size, "width": width, "batch": batch,
                      "generator_forward": generator, "discriminator_forward": discriminator,
                      "iteration": iteration})
        print(cases[-1])
    with open(a.out, "w") as f:
        json.dump({"torch": torch.__version__, "counter": "torch.utils.flop_counter.FlopCounterMode",
                   "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
