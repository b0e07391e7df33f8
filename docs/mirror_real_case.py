#!/usr/bin/env python3
"""Segments one case in each of its eight mirror images (every image axis flipped or not),
flips each label map back, and prints per mirror image what the model drew: the tumour
volume by label, its components, and how much of a rough reader's map of the FLAIR
hyperintensity it covers (the map: the largest connected component of FLAIR above the
brain's median + 2 robust SD, i.e. 2 x 1.4826 MAD). This is how the README's and the model
card's "the real case in its eight mirror images" figures are made. Offline helper; needs
numpy, nibabel, scipy and a built `bts`.

Usage: python3 mirror_real_case.py CASE_DIR [BTS] [-- extra `bts segment` options]
(BTS: the binary, default target/release/bts; e.g. `-- --model MODEL_DIR`)
"""
import glob
import os
import tempfile

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

from real_case import command_line, components_cm3, modality, segment


def flip(a, axes):
    for ax in axes:
        a = np.flip(a, ax)
    return np.ascontiguousarray(a)


def reader_map(case):
    fl = np.asarray(nib.load(modality(case, "flair")).dataobj).astype(float)
    brain = fl > 0
    v = fl[brain]
    med = np.median(v)
    mad = np.median(np.abs(v - med))
    hyper = (fl > med + 2 * mad * 1.4826) & brain
    lab, n = ndi.label(hyper)
    sizes = ndi.sum(hyper, lab, range(1, n + 1))
    return lab == 1 + int(np.argmax(sizes))


def main(case, bts, extra):
    name = os.path.basename(case)
    reader = reader_map(case)
    print(f"reader's map: {reader.sum() / 1000:.1f} cm3 (1 mm voxels assumed)")
    print("flipped axes | WT cm3 | core | edema | enhancing | components over 0.1 cm3 | reader's map covered")
    with tempfile.TemporaryDirectory() as tmp:
        for code in range(8):
            axes = [ax for ax in range(3) if code >> ax & 1]
            d = os.path.join(tmp, f"m{code}", name)
            os.makedirs(d)
            for p in glob.glob(case + "/*.nii.gz"):
                im = nib.load(p)
                a = flip(np.asarray(im.dataobj), axes)
                nib.save(nib.Nifti1Image(a, im.affine, im.header), os.path.join(d, os.path.basename(p)))
            out = os.path.join(tmp, f"seg{code}.nii.gz")
            segment(bts, d, out, extra)
            s = flip(np.asarray(nib.load(out).dataobj).astype(int), axes)
            wt = s > 0
            big = components_cm3(wt)
            covered = (reader & wt).sum() / reader.sum()
            print(
                f"{','.join('ijk'[a] for a in axes) or 'none':>12} | {wt.sum() / 1000:6.1f} | "
                f"{(s == 1).sum() / 1000:4.1f} | {(s == 2).sum() / 1000:5.1f} | "
                f"{((s == 3) | (s == 4)).sum() / 1000:9.1f} | {big} | {100 * covered:.0f} %"
            )


if __name__ == "__main__":
    main(*command_line(__doc__))
