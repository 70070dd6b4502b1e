"""The PyTorch reference trained for a wall-clock budget: what a user would run instead of discogan.

usage: python train_torch.py --data DIR --minutes M --out OUT [--arch unet|resnet] [--width 64]
                             [--size 64] [--batch 8] [--residual-blocks N] [--dropout 0.5]
                             [--lambda-cyc 10] [--distance mse|l1] [--lambda-identity 0]
                             [--seed 0] [--threads 2]

Needs torch, safetensors and pillow. Trains the unet preset's objective of discogan_torch.py
(`weighted_losses` / `weighted_generator_loss`: BCE-with-logits GAN loss on PatchGAN logits, MSE
cycle loss x lambda, both directions averaged; one discriminator step then one generator step per
iteration; Adam(2e-4, 0.5, 0.999)) with its U-Net or ResNet generators; --distance l1 and
--lambda-identity N are discogan's `objective.distance` and `objective.lambda_identity` (the
cycle distance, and N x the mean over the directions of distance(G_AB(b), b) and
distance(G_BA(a), a)), so that a discogan configuration can be trained here too. On the same data pipeline
as discogan's defaults: DIR/trainA and DIR/trainB unaligned, each domain walked in a new random
order every epoch; resized to --size with a bicubic (Catmull-Rom) filter when not already that
size (each RGBA channel on its own, as discogan's `image` crate: no premultiplied alpha), then
composited over white, in [-1, 1]; no flip, no crop. (The random orders are Python's, not
discogan's: the same distribution, other draws.)

After --minutes of training (counted from the first iteration, as `discogan train --max-minutes`)
it writes, into OUT:
  weights.safetensors  the four networks under G_AB., G_BA., D_A., D_B. (state-dict names), the
                       file `discogan import` reads: bench/quality.sh scores it with `discogan
                       eval`, the same scorer as discogan's own runs;
  a2b/, b2a/           the generators' translations of DIR/testA and DIR/testB (eval mode), PNG;
  train.json           iterations, seconds, the last losses, the settings.
"""
import argparse
import json
import random
import time
from pathlib import Path

import torch
import torch.nn as nn
from PIL import Image
from safetensors.torch import save_file

import discogan_torch as ref

EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


def load_folder(folder, size):
    """Every image of `folder` (sorted by name) as a [3, size, size] tensor in [-1, 1]."""
    names = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in EXTENSIONS)
    if not names:
        raise SystemExit(f"{folder}: no images")
    tensors = []
    for path in names:
        img = Image.open(path).convert("RGBA")
        if img.size != (size, size):
            # Band by band: Pillow premultiplies alpha when it resizes RGBA as a whole.
            img = Image.merge("RGBA", [b.resize((size, size), Image.BICUBIC) for b in img.split()])
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(white, img).convert("RGB")
        t = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).float() / 255.0
        tensors.append(t.view(size, size, 3).permute(2, 0, 1) * 2.0 - 1.0)
    return names, torch.stack(tensors)


def generator(a):
    if a.arch == "resnet":
        blocks = a.residual_blocks if a.residual_blocks is not None else (6 if a.size <= 128 else 9)
        return ref.GeneratorResNet(width=a.width, residual_blocks=blocks)
    return ref.GeneratorUNet(width=a.width, dropout=a.dropout)


def generator_loss(nets, real_a, real_b, imgs, a):
    """discogan_torch.weighted_generator_loss with discogan's distance and identity keys (equal
    to it at --distance mse --lambda-identity 0)."""
    if a.distance == "mse" and a.lambda_identity == 0:
        return ref.weighted_generator_loss(nets, real_a, real_b, imgs, lambda_cyc=a.lambda_cyc)
    g_ab, g_ba, d_a, d_b = nets
    fake_a, fake_b, recov_a, recov_b = imgs
    gan = nn.BCEWithLogitsLoss()
    dist = nn.L1Loss() if a.distance == "l1" else nn.MSELoss()
    pb, pa = d_b(fake_b), d_a(fake_a)
    loss_gan = (gan(pb, torch.ones_like(pb)) + gan(pa, torch.ones_like(pa))) / 2
    loss_cycle = (dist(recov_a, real_a) + dist(recov_b, real_b)) / 2
    g_loss = loss_gan + a.lambda_cyc * loss_cycle
    parts = {"loss_gan": loss_gan, "loss_cycle": loss_cycle}
    if a.lambda_identity > 0:
        loss_identity = (dist(g_ab(real_b), real_b) + dist(g_ba(real_a), real_a)) / 2
        g_loss = g_loss + a.lambda_identity * loss_identity
        parts["loss_identity"] = loss_identity
    return g_loss, parts


def save_translations(g, names, images, out_dir, batch):
    out_dir.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        for i in range(0, len(names), batch):
            y = g(images[i:i + batch])
            for name, t in zip(names[i:i + batch], y):
                u8 = ((t.clamp(-1, 1) + 1) / 2 * 255).round().to(torch.uint8).permute(1, 2, 0)
                Image.fromarray(u8.numpy()).save(out_dir / (name.stem + ".png"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--minutes", type=float, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--arch", choices=["unet", "resnet"], default="unet")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--residual-blocks", type=int, default=None)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--lambda-cyc", type=float, default=10.0)
    p.add_argument("--distance", choices=["mse", "l1"], default="mse")
    p.add_argument("--lambda-identity", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    data, out = Path(a.data), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    _, train_a = load_folder(data / "trainA", a.size)
    _, train_b = load_folder(data / "trainB", a.size)
    nets = [generator(a), generator(a), ref.PatchDiscriminator(width=a.width),
            ref.PatchDiscriminator(width=a.width)]
    for net in nets:
        net.train()
    opt_g = ref.adam(ref.chain(nets[0], nets[1]))
    opt_d = ref.adam(ref.chain(nets[2], nets[3]))

    class Epochs:
        """A domain's images in a new random order every epoch, a batch at a time."""

        def __init__(self, images):
            self.images, self.order = images, []

        def batch(self):
            picked = []
            while len(picked) < a.batch:
                if not self.order:
                    self.order = list(range(len(self.images)))
                    rng.shuffle(self.order)
                picked.append(self.order.pop())
            return self.images[picked]

    epochs_a, epochs_b = Epochs(train_a), Epochs(train_b)

    iterations, losses = 0, {}

    def read(d_loss, g_loss, parts):
        return {"loss_d": d_loss.item(), "loss_g": g_loss.item(), **{k: v.item() for k, v in parts.items()}}

    start = time.perf_counter()
    while time.perf_counter() - start < a.minutes * 60:
        real_a, real_b = epochs_a.batch(), epochs_b.batch()
        opt_d.zero_grad()
        d_loss, imgs = ref.weighted_losses(nets, real_a, real_b, lambda_cyc=a.lambda_cyc)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss, parts = generator_loss(nets, real_a, real_b, imgs, a)
        g_loss.backward()
        opt_g.step()
        iterations += 1
        if iterations % 100 == 0:
            print(json.dumps({"iteration": iterations, "elapsed_s": round(time.perf_counter() - start, 1),
                              **read(d_loss, g_loss, parts)}), flush=True)
    seconds = time.perf_counter() - start
    if iterations:
        losses = read(d_loss, g_loss, parts)

    tensors = {}
    for prefix, net in zip(["G_AB.", "G_BA.", "D_A.", "D_B."], nets):
        tensors.update({prefix + k: v.detach().contiguous() for k, v in net.state_dict().items()})
    save_file(tensors, str(out / "weights.safetensors"))
    for net in nets:
        net.eval()
    for source, g, name in [("testA", nets[0], "a2b"), ("testB", nets[1], "b2a")]:
        if (data / source).is_dir():
            names, images = load_folder(data / source, a.size)
            save_translations(g, names, images, out / name, a.batch)
    summary = {"impl": f"torch-{torch.__version__}", "iterations": iterations, "seconds": round(seconds, 1),
               "losses": losses, **{k: v for k, v in vars(a).items()}}
    (out / "train.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({"iterations": iterations, "seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main()
