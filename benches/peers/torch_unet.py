#!/usr/bin/env python3
"""The peer for the U-Net timings: PyTorch (CPU, 2 threads) on the same network and shapes.

    pip install torch numpy safetensors
    python3 benches/peers/torch_unet.py [--sides 64 128] [--repeat 5]

Uses ../shared/reference/unet3d_reference.py (or $UNET3D_REFERENCE). Prints one JSON line per
shape and mode: the median over --repeat runs after a warm-up of (a) eval-mode inference under
no_grad and (b) a training step: forward in train mode, mean-squared loss to a zero target,
backward, Adam update — the same work as `bts forward ...
[--train-step]`.
"""
import argparse
import importlib.util
import json
import os
import statistics
import time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--sides", type=int, nargs="+", default=[64, 128])
ap.add_argument("--repeat", type=int, default=5)
a = ap.parse_args()
here = os.path.dirname(os.path.abspath(__file__))
ref = os.environ.get("UNET3D_REFERENCE", os.path.join(here, "../../../shared/reference/unet3d_reference.py"))
spec = importlib.util.spec_from_file_location("ref", ref)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
torch.set_num_threads(2)
torch.manual_seed(0)


def median_time(fn, n):
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


for side in a.sides:
    net = mod.UNet3D()
    x = torch.randn(1, 4, side, side, side)
    net.eval()

    def infer():
        with torch.no_grad():
            net(x)

    print(json.dumps({"side": side, "mode": "inference", "median_s": round(median_time(infer, a.repeat), 4), "torch": torch.__version__}))
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)

    def step():
        opt.zero_grad()
        loss = net.logits(x).pow(2).mean()
        loss.backward()
        opt.step()

    print(json.dumps({"side": side, "mode": "train_step", "median_s": round(median_time(step, a.repeat), 4)}))
