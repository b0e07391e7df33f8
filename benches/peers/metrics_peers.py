#!/usr/bin/env python3
"""The peers for benches/metrics.rs: MONAI and medpy on the same files, same machine.

    pip install monai medpy nibabel
    python3 benches/peers/metrics_peers.py target/bench-data/metrics

Prints the median of N runs (after a warm-up) for: Dice (MONAI DiceMetric on one-hot
tensors; medpy dc), HD95 (MONAI HausdorffDistanceMetric(percentile=95) with spacing; medpy
hd95 with voxelspacing), all on the whole-tumour masks; and MONAI's three-region evaluation
(Dice + HD95 + ASSD for WT, TC, ET).
"""
import statistics
import sys
import time

import nibabel as nib
import numpy as np
import torch
from medpy.metric import binary as mb
from monai.metrics import DiceMetric, HausdorffDistanceMetric, SurfaceDistanceMetric

torch.set_num_threads(2)
d = sys.argv[1]
truth_img = nib.load(f"{d}/truth.nii.gz")
truth = np.asarray(truth_img.dataobj)
pred = np.asarray(nib.load(f"{d}/pred.nii.gz").dataobj)
spacing = tuple(float(s) for s in truth_img.header.get_zooms()[:3])
wt_t, wt_p = truth > 0, pred > 0


def median_time(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def tensor(mask):
    return torch.as_tensor(mask)[None, None].float()


tp, tt = tensor(wt_p), tensor(wt_t)
dice = DiceMetric(include_background=True)
hd = HausdorffDistanceMetric(include_background=True, percentile=95)
sd = SurfaceDistanceMetric(include_background=True, symmetric=True)
print(f"monai dice_wt        {median_time(lambda: dice(tp, tt), 10) * 1e3:9.1f} ms")
print(f"medpy dc_wt          {median_time(lambda: mb.dc(wt_p, wt_t), 10) * 1e3:9.1f} ms")
print(f"monai hd95_wt        {median_time(lambda: hd(tp, tt, spacing=spacing), 5) * 1e3:9.1f} ms")
print(f"medpy hd95_wt        {median_time(lambda: mb.hd95(wt_p, wt_t, voxelspacing=spacing), 5) * 1e3:9.1f} ms")

regions = {"WT": (1, 2, 4), "TC": (1, 4), "ET": (4,)}


def monai_case():
    for labels in regions.values():
        p, t = tensor(np.isin(pred, labels)), tensor(np.isin(truth, labels))
        dice(p, t)
        hd(p, t, spacing=spacing)
        sd(p, t, spacing=spacing)


print(f"monai brats_case     {median_time(monai_case, 3) * 1e3:9.1f} ms")
