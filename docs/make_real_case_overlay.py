#!/usr/bin/env python3
"""Draws a model's segmentation of one case over FLAIR (top row) and T1ce (bottom row),
eight axial slices: edema green, core (NCR/NETC) blue, enhancing tumour red. This is how
models/default/real_case.png is made. Offline helper; needs numpy, nibabel, matplotlib.

Usage: python3 make_real_case_overlay.py CASE_DIR SEG.nii.gz OUT.png [K K ...]
(SEG from `bts segment --case CASE_DIR --out SEG.nii.gz`, BraTS 2021 or 2023 labels;
K: axial slice indices, default 40 60 70 80 90 100 110 125)
"""
import glob
import sys

import matplotlib
import nibabel as nib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# label value -> RGB (2021: 1 NCR, 2 ED, 4 ET; 2023: 1 NCR, 2 ED, 3 ET)
COLOURS = {1: (0.2, 0.3, 1.0), 2: (0.2, 0.9, 0.2), 3: (1.0, 0.15, 0.15), 4: (1.0, 0.15, 0.15)}


def load(d, m):
    f = [p for p in glob.glob(d + "/*.nii.gz") if p.endswith("_" + m + ".nii.gz")][0]
    return np.asarray(nib.load(f).dataobj).astype(float)


def main(case, seg_file, out, ks):
    seg = np.asarray(nib.load(seg_file).dataobj).astype(int)
    fig, ax = plt.subplots(2, len(ks), figsize=(1.7 * len(ks), 3.6))
    for r, m in enumerate(["flair", "t1ce"]):
        v = load(case, m)
        if v.shape != seg.shape:
            sys.exit(f"{seg_file}: shape {seg.shape}, the case's {m} is {v.shape}")
        hi = np.percentile(v[v > 0], 99.5)
        for c, k in enumerate(ks):
            g = np.clip(v[:, :, k].T / hi, 0, 1)
            rgb = np.stack([g, g, g], axis=-1)
            s = seg[:, :, k].T
            for label, colour in COLOURS.items():
                on = s == label
                rgb[on] = 0.45 * rgb[on] + 0.55 * np.array(colour)
            a = ax[r, c]
            a.imshow(rgb, origin="lower")
            a.set_xticks([])
            a.set_yticks([])
            a.set_title(f"k={k}", fontsize=6)
        ax[r, 0].set_ylabel("FLAIR" if m == "flair" else "T1ce", fontsize=7)
    plt.tight_layout()
    plt.savefig(out, dpi=60)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    ks = [int(k) for k in sys.argv[4:]] or [40, 60, 70, 80, 90, 100, 110, 125]
    main(sys.argv[1], sys.argv[2], sys.argv[3], ks)
