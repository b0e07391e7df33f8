#!/usr/bin/env python3
"""The peer for the U-Net timings: PyTorch (CPU, 2 threads) on the same network and shapes.

    pip install torch numpy safetensors
    python3 benches/peers/torch_unet.py [--sides 64 128] [--repeat 5] [--path default best]

Two configurations (`--path`, both by default):
- `default`: the network as written, NCDHW tensors, PyTorch's default CPU kernels;
- `best`: PyTorch's best CPU path for this network — the model and input in
  `channels_last_3d` memory format and every `Conv3d` forced through oneDNN
  (`torch.mkldnn_convolution`, which has a backward), the fastest configuration we found
  for 3D convolutions on an AVX-512 CPU.

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
ap.add_argument("--path", nargs="+", choices=["default", "best"], default=["default", "best"])
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


CL = torch.channels_last_3d


def onednn_conv3d(self, x):
    """Conv3d.forward through oneDNN on channels-last tensors."""
    w = self.weight.contiguous(memory_format=CL)
    return torch.mkldnn_convolution(x.contiguous(memory_format=CL), w, self.bias,
                                    list(self.padding), list(self.stride), list(self.dilation), self.groups)


def peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


for path in a.path:
    if path == "best":
        torch.nn.Conv3d.forward = onednn_conv3d
    for side in a.sides:
        net = mod.UNet3D()
        x = torch.randn(1, 4, side, side, side)
        if path == "best":
            net = net.to(memory_format=CL)
            x = x.contiguous(memory_format=CL)
        net.eval()

        def infer():
            with torch.no_grad():
                net(x)

        print(json.dumps({"path": path, "side": side, "mode": "inference",
                          "median_s": round(median_time(infer, a.repeat), 4), "torch": torch.__version__}))
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)

        def step():
            opt.zero_grad()
            loss = net.logits(x).pow(2).mean()
            loss.backward()
            opt.step()

        print(json.dumps({"path": path, "side": side, "mode": "train_step",
                          "median_s": round(median_time(step, a.repeat), 4),
                          "peak_rss_mb_so_far": round(peak_rss_mb())}))
