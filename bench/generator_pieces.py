"""PyTorch's side of examples/generator_pieces.rs: one U-Net generator's forward (inference and
training mode), forward + backward and Adam step, best of four after a warm-up.

usage: python bench/generator_pieces.py [WIDTH]   (needs pip install torch==2.13.0)
"""
import os, sys, time, torch
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
import discogan_torch as ref
torch.set_num_threads(2)
def tm(f, k=4):
    f(); best=1e9
    for _ in range(k):
        t=time.perf_counter(); f(); best=min(best,(time.perf_counter()-t)*1000)
    return best
g = ref.GeneratorUNet(width=int(sys.argv[1]) if len(sys.argv) > 1 else 64)
print("params", sum(p.numel() for p in g.parameters()))
x = torch.rand(8,3,64,64)*2-1
with torch.no_grad():
    g.eval(); fp = tm(lambda: g(x)); g.train()
fa = tm(lambda: g(x))
def fb():
    g(x).mean().backward()
fbt = tm(fb)
opt = ref.adam(g.parameters()) if hasattr(ref,'adam') else torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5,0.999))
g(x).mean().backward()
ad = tm(lambda: opt.step())
print(f"forward inference {fp:.1f} ms, forward training {fa:.1f} ms, forward+backward {fbt:.1f} ms, adam {ad:.1f} ms")
