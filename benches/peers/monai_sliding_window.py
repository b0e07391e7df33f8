#!/usr/bin/env python3
"""The peer for full-case segmentation: MONAI's sliding_window_inference with the seed's
U-Net (shared/reference/unet3d_reference.py) on a 1×4×155×240×240 volume, ROI 128³,
overlap 0.5, Gaussian blending, batch 1, no TTA, CPU with 2 threads.

    pip install torch monai numpy
    python3 benches/peers/monai_sliding_window.py [--repeat 2] [--shape 155 240 240]

Prints one JSON line: the median seconds over --repeat runs (after a warm-up window) and the
peak RSS. Compare with `segment` on a 240×240×155 case and a seed-network model (README).
"""
import argparse
import importlib.util
import json
import os
import resource
import statistics
import time

import torch
from monai.inferers import sliding_window_inference

ap = argparse.ArgumentParser()
ap.add_argument("--repeat", type=int, default=2)
ap.add_argument("--shape", type=int, nargs=3, default=[155, 240, 240])
ap.add_argument("--roi", type=int, default=128)
a = ap.parse_args()
here = os.path.dirname(os.path.abspath(__file__))
ref = os.environ.get("UNET3D_REFERENCE", os.path.join(here, "../../../shared/reference/unet3d_reference.py"))
spec = importlib.util.spec_from_file_location("ref", ref)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
torch.set_num_threads(2)
torch.manual_seed(0)
net = mod.UNet3D().eval()
x = torch.randn(1, 4, *a.shape)


def run():
    with torch.no_grad():
        return sliding_window_inference(
            x, (a.roi,) * 3, 1, net, overlap=0.5, mode="gaussian"
        )


with torch.no_grad():
    net(torch.randn(1, 4, a.roi, a.roi, a.roi))
times = []
for _ in range(a.repeat):
    t = time.perf_counter()
    run()
    times.append(time.perf_counter() - t)
print(json.dumps({
    "peer": "monai.sliding_window_inference",
    "shape": a.shape, "roi": a.roi, "overlap": 0.5,
    "median_s": statistics.median(times),
    "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
}))
