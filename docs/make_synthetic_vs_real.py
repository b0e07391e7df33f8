#!/usr/bin/env python3
"""Draws docs/synthetic_vs_real.png: one real BraTS case and synthetic cases side by side,
all four modalities, axial slices through each tumour (the real case's slice is chosen by
eye, it has no segmentation). Offline helper for the README; needs numpy, nibabel,
matplotlib.

Usage: python3 make_synthetic_vs_real.py REAL_CASE_DIR SYNTH_CASE_DIR [SYNTH_CASE_DIR ...]
(synthetic cases from `bts synth --out DIR ...`)
"""
import glob
import sys

import matplotlib
import nibabel as nib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MODS = ["flair", "t1", "t1ce", "t2"]


def load(d, m):
    f = [p for p in glob.glob(d + "/*.nii.gz") if p.endswith("_" + m + ".nii.gz")][0]
    return np.asarray(nib.load(f).dataobj).astype(float)


def main(real, synth):
    rows = [real] + synth
    fig, ax = plt.subplots(len(rows), 4, figsize=(8, 2.1 * len(rows)))
    for r, d in enumerate(rows):
        seg = glob.glob(d + "/*seg*.nii.gz")
        if seg:
            s = np.asarray(nib.load(seg[0]).dataobj)
            k = int(np.argwhere(s > 0)[:, 2].mean()) if s.any() else 77
        else:
            k = 80
        for c, m in enumerate(MODS):
            v = load(d, m)
            hi = np.percentile(v[v > 0], 99.5)
            ax[r, c].imshow(v[:, :, k].T, origin="lower", cmap="gray", vmin=0, vmax=hi)
            ax[r, c].set_xticks([])
            ax[r, c].set_yticks([])
            if r == 0:
                ax[r, c].set_title(m.upper() if m != "t1ce" else "T1ce", fontsize=9)
        name = d.rstrip("/").split("/")[-1]
        ax[r, 0].set_ylabel(("real " if r == 0 else "") + name, fontsize=7)
    plt.tight_layout()
    plt.savefig("synthetic_vs_real.png", dpi=55)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
