#!/usr/bin/env python3
"""Segments one case as it is and after each of a set of acquisition changes that real scans
differ by (thick slices, blur, noise, a bias field, per-modality intensity scale, a shift of
the head in the grid, the head tilted in the grid, the same voxels stored in another axis
order, a background that is not zero), and prints how far each segmentation moves from the unaltered one:
agreement Dice per region (WT, TC, ET), the whole-tumour volume, and the components over
0.1 cm3. Without a reference segmentation this measures stability, not correctness: a
model that reads real anatomy should not change its tumour, or grow islands, because the
same head was scanned a little differently. This is how the README's and the model card's
"the real case, degraded" figures are made. Offline helper; needs numpy, nibabel, scipy and
a built `bts`; deterministic (noise from a fixed seed).

Usage: python3 degrade_real_case.py CASE_DIR [BTS] [-- extra `bts segment` options]
(BTS: the binary, default target/release/bts; e.g. `-- --no-tta`)
"""
import os
import tempfile

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

from real_case import command_line, components_cm3, modality, segment

MODALITIES = ["flair", "t1", "t1ce", "t2"]


def thick(a, axis, t):
    """Acquires slices `t` voxels thick along `axis` (box average), then interpolates back
    to the 1 mm grid linearly, as an older scan resampled to BraTS space."""
    a = a.astype(np.float64)
    n = a.shape[axis]
    starts = range(0, n, t)
    slabs = [np.take(a, range(s, min(n, s + t)), axis=axis).mean(axis=axis) for s in starts]
    centres = np.array([(s + min(n, s + t) - 1) / 2 for s in starts])
    stack = np.stack(slabs, axis=axis)
    pos = np.clip(np.interp(np.arange(n), centres, np.arange(len(centres))), 0, len(centres) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(centres) - 1)
    w = (pos - lo).reshape([-1 if d == axis else 1 for d in range(a.ndim)])
    return np.take(stack, lo, axis=axis) * (1 - w) + np.take(stack, hi, axis=axis) * w


def bias(shape, strength):
    """A smooth multiplicative field: exp of a tilted plane plus a broad bump, +-strength."""
    k, j, i = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    f = 0.6 * i - 0.5 * j + 0.4 * k + np.exp(-((i - 0.3) ** 2 + (j + 0.2) ** 2 + k**2) / 0.3)
    f = (f - f.mean()) / np.abs(f).max()
    return np.exp(strength * f)


def shift(a, by):
    """Moves the array by `by` voxels per axis, filling with zeros."""
    out = np.zeros_like(a)
    src = tuple(slice(max(0, -b), a.shape[d] - max(0, b)) for d, b in enumerate(by))
    dst = tuple(slice(max(0, b), a.shape[d] - max(0, -b)) for d, b in enumerate(by))
    out[dst] = a[src]
    return out


def tilt(a, t, order):
    """Rotates the array by `t` = (degrees, (axis, axis)) about the grid's centre (`order`:
    1 for images, 0 for label maps and masks; the identity for `t` None)."""
    if t is None:
        return a
    return ndi.rotate(a, t[0], axes=t[1], reshape=False, order=order)


def variants(rng):
    """(name, function of (modality, image, brain mask) -> image, shift of the head, axis
    codes the files are stored in or None for the original order, Rician noise floor outside
    the brain as a share of the brain's median, 0 for a zero background, a tilt of the head
    as (degrees, (axis, axis)) or None)."""
    def noisy(level):
        def f(m, a, brain):
            sigma = level * np.median(a[brain])
            n1 = rng.standard_normal(a.shape)
            n2 = rng.standard_normal(a.shape)
            return np.sqrt((a + sigma * n1) ** 2 + (sigma * n2) ** 2)
        return f

    field = None

    def biased(m, a, brain):
        nonlocal field
        if field is None:
            field = bias(a.shape, 0.35)
        return a * field

    scale = {"flair": 0.1, "t1": 7.0, "t1ce": 0.4, "t2": 25.0}
    same = lambda m, a, b: a  # noqa: E731
    return [
        ("as acquired", same, (0, 0, 0), None, 0),
        ("5 mm axial slices", lambda m, a, b: thick(a, 2, 5), (0, 0, 0), None, 0),
        ("5 mm sagittal slices", lambda m, a, b: thick(a, 0, 5), (0, 0, 0), None, 0),
        ("blur 1 mm", lambda m, a, b: ndi.gaussian_filter(a.astype(np.float64), 1.0), (0, 0, 0), None, 0),
        ("Rician noise 5 %", noisy(0.05), (0, 0, 0), None, 0),
        ("bias field +-35 %", biased, (0, 0, 0), None, 0),
        ("intensity scale x0.1 to x25", lambda m, a, b: a * scale[m], (0, 0, 0), None, 0),
        ("head shifted 9, -7, 5 voxels", same, (9, -7, 5), None, 0),
        ("stored RAS", same, (0, 0, 0), ("R", "A", "S"), 0),
        ("stored sagittal (SPL)", same, (0, 0, 0), ("S", "P", "L"), 0),
        ("stored coronal (LSP)", same, (0, 0, 0), ("L", "S", "P"), 0),
        ("background not zero (noise floor 2 %)", same, (0, 0, 0), None, 0.02),
        # A head not aligned to the grid, as in scans not registered to an atlas: nodding
        # (about the left-right axis), rolling (about the front-back axis) and turning (about
        # the vertical axis), 15 degrees each.
        ("head tilted 15 deg, pitch", same, (0, 0, 0), None, 0, (15, (1, 2))),
        ("head tilted 15 deg, roll", same, (0, 0, 0), None, 0, (15, (0, 2))),
        ("head tilted 15 deg, yaw", same, (0, 0, 0), None, 0, (15, (0, 1))),
    ]


def reoriented(img, codes):
    """The same voxels and world positions, stored with the voxel axes pointing `codes`."""
    have = nib.io_orientation(img.affine)
    return img.as_reoriented(nib.orientations.ornt_transform(have, nib.orientations.axcodes2ornt(codes)))


def main(case, bts, extra):
    name = os.path.basename(case)
    rng = np.random.default_rng(20261206)
    ref = None
    print("change | WT cm3 | Dice to unaltered WT / TC / ET | components over 0.1 cm3")
    with tempfile.TemporaryDirectory() as tmp:
        for v, (label, f, by, store, floor, *turn) in enumerate(variants(rng)):
            turn = turn[0] if turn else None
            d = os.path.join(tmp, f"v{v}", name)
            os.makedirs(d)
            imgs = {m: nib.load(modality(case, m)) for m in MODALITIES}
            brain = tilt((np.asarray(imgs["t1"].dataobj) > 0).astype(np.uint8), turn, 0) > 0
            for m, im in imgs.items():
                path = os.path.join(d, os.path.basename(modality(case, m)))
                if v == 0:
                    nib.save(im, path)  # the reference: the files as they are
                    continue
                a = tilt(np.asarray(im.dataobj).astype(np.float64), turn, 1)
                b = f(m, a, brain)
                b = np.where(brain, np.maximum(np.rint(b), 1), 0)
                if floor:
                    sigma = floor * np.median(a[brain])
                    n1, n2 = rng.standard_normal(a.shape), rng.standard_normal(a.shape)
                    noise = np.sqrt((sigma * n1) ** 2 + (sigma * n2) ** 2)
                    b = np.where(brain, b, np.maximum(np.rint(noise), 1))
                b = shift(b, by).astype(np.int32)
                hdr = im.header.copy()
                hdr.set_data_dtype(np.int32)
                hdr["scl_slope"], hdr["scl_inter"] = 1, 0
                out = nib.Nifti1Image(b, im.affine, hdr)
                nib.save(reoriented(out, store) if store else out, path)
            out = os.path.join(tmp, f"seg{v}.nii.gz")
            segment(bts, d, out, extra)
            seg = nib.load(out)
            if store:  # back to the case's own order to compare voxel by voxel
                seg = reoriented(seg, nib.aff2axcodes(imgs["t1"].affine))
            s = shift(np.asarray(seg.dataobj).astype(int), tuple(-x for x in by))
            if turn is not None:  # turned back: one nearest-neighbour resampling of the map
                s = tilt(s, (-turn[0], turn[1]), 0)
            regions = {
                "WT": s > 0,
                "TC": (s == 1) | (s == 3) | (s == 4),
                "ET": (s == 3) | (s == 4),
            }
            if ref is None:
                ref = regions
            dice = []
            for r, x in regions.items():
                y = ref[r]
                total = x.sum() + y.sum()
                dice.append(1.0 if total == 0 else 2 * (x & y).sum() / total)
            wt = regions["WT"]
            big = components_cm3(wt)
            print(
                f"{label} | {wt.sum() / 1000:.1f} | "
                f"{dice[0]:.3f} / {dice[1]:.3f} / {dice[2]:.3f} | {big}",
                flush=True,
            )


if __name__ == "__main__":
    main(*command_line(__doc__))
