#!/usr/bin/env python3
"""The peer for the fast preset's training iteration: PyTorch (CPU, 2 threads) on the same
network — widths 8-16-32-64-128, two 3×3×3 convolutions per block each followed by
InstanceNorm3d(affine) and LeakyReLU(0.01), 2×2×2 max pooling, 2×2×2 transposed
convolutions, [upsampled, skip] concatenation, 1×1×1 head — a batch of two 4×48³ patches,
softmax Dice + focal loss, backward, AdamW step. Compare with
`cargo bench --bench pipeline -- train_iteration_fast_b2_48`.

    pip install torch
    python3 benches/peers/torch_train_fast.py [--side 48] [--batch 2] [--repeat 10]

With --seed-net it trains the seed's network instead (../shared/reference/unet3d_reference.py:
widths 16-32-64-128-256, ReLU, dropout, no normalisation) with the same loss and optimiser —
the peer of `cargo bench --bench pipeline -- train_iteration_seed_b1_64`:

    python3 benches/peers/torch_train_fast.py --seed-net --side 64 --batch 1
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--side", type=int, default=48)
ap.add_argument("--batch", type=int, default=2)
ap.add_argument("--repeat", type=int, default=10)
ap.add_argument("--filters", type=int, nargs=5, default=[8, 16, 32, 64, 128])
ap.add_argument("--seed-net", action="store_true")
a = ap.parse_args()
torch.set_num_threads(2)
torch.manual_seed(0)


def block(cin, cout):
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1), nn.InstanceNorm3d(cout, affine=True), nn.LeakyReLU(0.01),
        nn.Conv3d(cout, cout, 3, padding=1), nn.InstanceNorm3d(cout, affine=True), nn.LeakyReLU(0.01),
    )


class Net(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.enc = nn.ModuleList([block(4, f[0]), block(f[0], f[1]), block(f[1], f[2]), block(f[2], f[3])])
        self.bottleneck = block(f[3], f[4])
        self.up = nn.ModuleList([nn.ConvTranspose3d(f[i + 1], f[i], 2, 2) for i in (3, 2, 1, 0)])
        self.dec = nn.ModuleList([block(2 * f[i], f[i]) for i in (3, 2, 1, 0)])
        self.head = nn.Conv3d(f[0], 4, 1)

    def forward(self, x):
        skips = []
        for e in self.enc:
            x = e(x)
            skips.append(x)
            x = F.max_pool3d(x, 2)
        x = self.bottleneck(x)
        for u, d, s in zip(self.up, self.dec, reversed(skips)):
            x = d(torch.cat([u(x), s], 1))
        return self.head(x)


if a.seed_net:
    import importlib.util
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    ref = os.environ.get("UNET3D_REFERENCE", os.path.join(here, "../../../shared/reference/unet3d_reference.py"))
    spec = importlib.util.spec_from_file_location("ref", ref)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    net = mod.UNet3D()
    net.train()
    net.forward = net.logits  # the loss takes raw class scores
else:
    net = Net(a.filters)
opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-5)
x = torch.randn(a.batch, 4, a.side, a.side, a.side)
y = torch.randint(0, 4, (a.batch, a.side, a.side, a.side))


def step():
    opt.zero_grad()
    logits = net(x)
    p = torch.softmax(logits, 1)
    t = F.one_hot(y, 4).permute(0, 4, 1, 2, 3).float()
    dims = (0, 2, 3, 4)
    dice = 1 - ((2 * (p * t).sum(dims) + 1e-5) / (p.sum(dims) + t.sum(dims) + 1e-5)).mean()
    logp = torch.log_softmax(logits, 1)
    focal = -(((1 - p) ** 2) * t * logp).sum(1).mean()
    (dice + focal).backward()
    opt.step()


step()
times = []
for _ in range(a.repeat):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
print(json.dumps({
    "peer": "torch seed-network training iteration" if a.seed_net else "torch fast-preset training iteration",
    "batch": a.batch, "side": a.side, "filters": a.filters,
    "median_s": statistics.median(times),
    "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
}))
